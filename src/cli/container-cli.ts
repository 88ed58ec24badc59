import type { Command } from 'commander';
import type { Engine } from '../engine.js';
import { collect } from './options.js';

/** Wraps a command's action: opens the engine, runs it, reports errors (main.ts's `run`). */
export type RunAction = <A extends unknown[]>(action: (engine: Engine, ...args: A) => Promise<void> | void, options?: { failureExitCode?: number }) => (...args: A) => Promise<void>;

const container = () => import('./commands/container.js');

/**
 * The container commands' flags: `run`, `create` and the rest at the top level (`top`), or under `container`
 * (ls for ps, no run/create).
 */
export function defineContainerCli(parent: Command, run: RunAction, top = true): void {
  if (top) defineRunAndCreate(parent, run);
  defineContainerCommands(parent, top, run);
}

function defineRunAndCreate(program: Command, run: RunAction): void {
  runFlags(program.command('run').description('Create and run a new container from an image'))
    .option('-d, --detach', 'run container in background and print container ID')
    .option('--rm', 'automatically remove the container when it exits')
    .action(run(async (engine, imageName: string, command: string[], opts) => (await container()).runCommand(engine, imageName, command, opts), { failureExitCode: 125 }));
  runFlags(program.command('create').description('Create a new container'))
    .option('--rm', 'automatically remove the container when it exits')
    .action(run(async (engine, imageName: string, command: string[], opts) => (await container()).createCommand(engine, imageName, command, opts)));
}

const runFlags = (c: Command) =>
  c
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <KEY=VALUE>', 'set environment variables', collect)
    .option('--env-file <file>', 'read in a file of environment variables', collect)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'username or UID (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <command>', 'overwrite the default ENTRYPOINT of the image')
    .option('-v, --volume <spec>', 'bind mount a volume (HOST:CONTAINER[:ro] or NAME:CONTAINER)', collect)
    .option('-h, --hostname <name>', 'container host name')
    .option('--network <mode>', 'network mode: host (default), none, or bridge (own namespace through slirp4netns; the default with -p)')
    .option('-p, --publish <spec>', "publish a container's port to the host ([IP:]HOST:CONTAINER[/udp], CONTAINER)", collect)
    .option('-m, --memory <bytes>', 'memory limit (e.g. 512m)')
    .option('--cpus <number>', 'number of CPUs')
    .option('--read-only', "mount the container's root filesystem as read only")
    .option('--runtime <name>', 'OCI runtime to use (runc, crun)')
    .option('-l, --label <KEY=VALUE>', 'set metadata on the container', collect)
    .option('--stop-signal <signal>', 'signal to stop the container')
    .option('--stop-timeout <seconds>', 'timeout (in seconds) to stop a container')
    .option('--restart <policy>', 'restart policy when the container exits: no, on-failure[:max-retries], always, unless-stopped', 'no')
    .option('--health-cmd <command>', 'command to run to check health')
    .option('--health-interval <duration>', 'time between running the check (ms|s|m|h) (default 30s)')
    .option('--health-timeout <duration>', 'maximum time to allow one check to run (ms|s|m|h) (default 30s)')
    .option('--health-start-period <duration>', 'start period for the container to initialize before counting retries (ms|s|m|h) (default 0s)')
    .option('--health-retries <n>', 'consecutive failures needed to report unhealthy')
    .option('--no-healthcheck', 'disable any container-specified HEALTHCHECK')
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions();

const defineContainerCommands = (parent: Command, top: boolean, run: RunAction) => {
  const names = (c: Command) => c.argument('<container...>');
  names(parent.command('start').description('Start one or more stopped containers'))
    .option('-a, --attach', "attach STDOUT/STDERR and forward signals")
    .option('-i, --interactive', "attach container's STDIN")
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
    .action(run(async (engine, ids: string[], opts) => (await container()).startCommand(engine, ids, opts)));
  parent
    .command('attach')
    .description("Attach local standard input, output, and error streams to a running container")
    .argument('<container>')
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container', 'ctrl-p,ctrl-q')
    .option('--no-stdin', 'do not attach STDIN')
    .action(run(async (engine, id: string, opts) => (await container()).attachCommand(engine, id, opts)));
  names(parent.command('stop').description('Stop one or more running containers'))
    .option('-t, --time <seconds>', 'seconds to wait before killing the container')
    .action(run(async (engine, ids: string[], opts) => (await container()).stopCommand(engine, ids, opts)));
  names(parent.command('restart').description('Restart one or more containers'))
    .option('-t, --time <seconds>', 'seconds to wait before killing the container')
    .action(run(async (engine, ids: string[], opts) => (await container()).restartCommand(engine, ids, opts)));
  names(parent.command('kill').description('Kill one or more running containers'))
    .option('-s, --signal <signal>', 'signal to send to the container', 'KILL')
    .action(run(async (engine, ids: string[], opts) => (await container()).killCommand(engine, ids, opts)));
  names(parent.command('pause').description('Pause all processes within one or more containers')).action(run(async (engine, ids: string[]) => (await container()).pauseCommand(engine, ids, true)));
  names(parent.command('unpause').description('Unpause all processes within one or more containers')).action(run(async (engine, ids: string[]) => (await container()).pauseCommand(engine, ids, false)));
  parent
    .command('rename')
    .description('Rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action(run(async (engine, id: string, newName: string) => (await container()).renameCommand(engine, id, newName)));
  names(parent.command('wait').description('Block until one or more containers stop, then print their exit codes')).action(run(async (engine, ids: string[]) => (await container()).waitCommand(engine, ids)));
  names(parent.command('rm').description('Remove one or more containers'))
    .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
    .option('-v, --volumes', 'remove anonymous volumes associated with the container')
    .action(run(async (engine, ids: string[], opts) => (await container()).rmCommand(engine, ids, opts)));
  parent
    .command('logs')
    .description('Fetch the logs of a container')
    .argument('<container>')
    .option('-f, --follow', 'follow log output')
    .option('-n, --tail <lines>', 'number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .option('--since <time>', 'show logs since a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)')
    .option('--until <time>', 'show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)')
    .action(run(async (engine, id: string, opts) => (await container()).logsCommand(engine, id, opts)));
  parent
    .command(top ? 'ps' : 'ls')
    .description('List containers')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container IDs')
    .option('-s, --size', 'display total file sizes')
    .option('-l, --latest', 'show the latest created container')
    .option('--no-trunc', "don't truncate output")
    .option('--format <format>', 'format output: table, json, or a Go template')
    .action(run(async (engine, opts) => (await container()).psCommand(engine, opts)));
  parent
    .command('exec')
    .description('Execute a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-d, --detach', 'run the command in the background')
    .option('-e, --env <KEY=VALUE>', 'set environment variables', collect)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'username or UID (format: <name|uid>[:<group|gid>])')
    .passThroughOptions()
    .action(run(async (engine, id: string, command: string[], opts) => (await container()).execCommand(engine, id, command, opts)));
  parent
    .command('commit')
    .description("Create a new image from a container's changes")
    .argument('<container>')
    .argument('[reference]', 'REPOSITORY[:TAG]')
    .option('-m, --message <message>', 'commit message')
    .option('-a, --author <author>', 'author (e.g. "John Hannibal Smith <hannibal@a-team.com>")')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the created image', collect)
    .option('-p, --pause', 'pause the container during commit (accepted for compatibility)')
    .action(run(async (engine, id: string, reference: string | undefined, opts) => (await container()).commitCommand(engine, id, reference, opts)));
  parent
    .command('diff')
    .description("Inspect changes to files or directories on a container's filesystem")
    .argument('<container>')
    .action(run(async (engine, id: string) => (await container()).diffCommand(engine, id)));
  parent
    .command('export')
    .description("Export a container's filesystem as a tar archive")
    .argument('<container>')
    .option('-o, --output <file>', 'write to a file, instead of STDOUT')
    .action(run(async (engine, id: string, opts) => (await container()).exportCommand(engine, id, opts)));
  parent
    .command('cp')
    .description('Copy files/folders between a container and the local filesystem')
    .argument('<source>', 'CONTAINER:SRC_PATH or SRC_PATH')
    .argument('<destination>', 'CONTAINER:DEST_PATH, DEST_PATH or - for a tar on STDOUT')
    .action(run(async (engine, source: string, destination: string) => (await container()).cpCommand(engine, source, destination)));
};
