import { Command, CommanderError, Option } from 'commander';
import type { Engine } from '../engine.js';
import { invalidArgument } from '../errors.js';
import type { ImageEngine } from '../image-engine.js';
import { defineContainerCli, type RunAction } from './container-cli.js';
import { collect } from './options.js';
import { type GlobalOptions, withEngine, withImageEngine } from './run.js';

/** What the command line starts but does not hold: the Engine API service (src/api/, a peer edge). */
export interface Edges {
  serveApi(engine: Engine, options: { uri?: string; timeout?: number; tls?: { verify: boolean; ca?: string; cert?: string; key?: string } }): Promise<void>;
}

let edges: Edges | undefined;

/**
 * The `strata` command line: flags are parsed here, command modules are imported only when their command runs,
 * so start-up stays close to Node's own.
 */
const program = new Command('strata')
  .description('Strata: container images made of content-addressed layers')
  .version('0.1.0', '-v, --version')
  .option('--root <dir>', 'storage root (default: $STRATA_ROOT, /var/lib/strata for root, else $XDG_DATA_HOME/strata)')
  .option('-s, --storage-driver <driver>', 'storage driver for new containers: overlay or native (default: overlay when the kernel has it; $STRATA_STORAGE_DRIVER)')
  .option('-D, --debug', 'print stack traces of internal errors')
  .enablePositionalOptions()
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: true });

const parseBool = (raw: string) => {
  const value = raw.replace(/^=/, ''); // Docker's -H=false arrives as "=false"
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new CommanderError(125, 'strata.invalidBool', `invalid boolean value "${value}"`);
};

const run: RunAction = <A extends unknown[]>(action: (engine: Engine, ...args: A) => Promise<void> | void, options: { failureExitCode?: number } = {}) => {
  return async (...args: A) => {
    await withEngine(program.opts<GlobalOptions>(), (engine) => action(engine, ...args), options);
  };
}

/** `run` for commands that touch images only: the container modules never load. */
function runImages<A extends unknown[]>(action: (engine: ImageEngine, ...args: A) => Promise<void> | void) {
  return async (...args: A) => {
    await withImageEngine(program.opts<GlobalOptions>(), (engine) => action(engine, ...args));
  };
}

const image = () => import('./commands/image.js');
const container = () => import('./commands/container.js');
const distribution = () => import('./commands/distribution.js');
const system = () => import('./commands/system.js');

type Definer = (command: Command) => Command;

const defineImages: Definer = (c) =>
  c
    .description('List images')
    .argument('[reference]', 'REPOSITORY[:TAG] to list')
    .option('-a, --all', 'show all images (default hides intermediate images)')
    .option('--digests', 'show digests')
    .option('-f, --filter <filter>', 'filter output (reference=, dangling=, label=, before=, since=)', collect)
    .option('--format <format>', 'format output: table, json, or a Go template')
    .option('--no-trunc', "don't truncate output")
    .option('-q, --quiet', 'only show image IDs')
    .action(runImages(async (engine, reference: string | undefined, opts) => (await image()).imagesCommand(engine, reference, opts)));

const defineHistory: Definer = (c) =>
  c
    .description('Show the history of an image')
    .argument('<image>')
    .addOption(new Option('-H, --human [bool]', 'print sizes and dates in human readable format').default(true).argParser(parseBool))
    .option('--no-trunc', "don't truncate output")
    .option('-q, --quiet', 'only show image IDs')
    .option('--format <format>', 'format output: table, json, or a Go template')
    .option('--tree', 'draw the image as a stack of layers, marking layers shared with other images')
    .action(runImages(async (engine, name: string, opts) => (await image()).historyCommand(engine, name, opts)));

const defineInspect =
  (type?: 'image' | 'container'): Definer =>
  (c) =>
    c
      .description(`Display detailed information on one or more ${type ? `${type}s` : 'images or containers'}`)
      .argument('<name...>')
      .option('-f, --format <format>', 'format output using a Go template, or json')
      .option('--type <type>', 'return JSON for the specified type: image or container', type)
      .action(run(async (engine, names: string[], opts) => (await image()).inspectCommand(engine, names, opts)));

const defineTag: Definer = (c) =>
  c
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>', 'SOURCE_IMAGE[:TAG]')
    .argument('<target>', 'TARGET_IMAGE[:TAG]')
    .action(runImages(async (engine, source: string, target: string) => (await image()).tagCommand(engine, source, target)));

const defineRmi: Definer = (c) =>
  c
    .description('Remove one or more images')
    .argument('<image...>')
    .option('-f, --force', 'force removal of the image')
    .option('--no-prune', 'do not delete untagged parents')
    .action(runImages(async (engine, names: string[], opts) => (await image()).rmiCommand(engine, names, opts)));

const defineImport: Definer = (c) =>
  c
    .description('Import the contents from a tarball to create a filesystem image')
    .argument('<file>', 'tarball (plain, gzip, zstd, xz or bzip2), or - for stdin')
    .argument('[reference]', 'REPOSITORY[:TAG]')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the created image', collect)
    .option('-m, --message <message>', 'set commit message for imported image')
    .action(runImages(async (engine, file: string, reference: string | undefined, opts) => (await image()).importCommand(engine, file, reference, opts)));

const defineLoad: Definer = (c) =>
  c
    .description('Load an image from a tar archive (docker save, OCI layout) or an OCI layout directory')
    .option('-i, --input <file>', 'read from tar archive file or OCI layout directory, instead of STDIN')
    .option('-q, --quiet', 'suppress the load output')
    .action(runImages(async (engine, opts) => (await image()).loadCommand(engine, opts)));

const defineSave: Definer = (c) =>
  c
    .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
    .argument('<image...>')
    .option('-o, --output <file>', 'write to a file, instead of STDOUT')
    .option('--format <format>', 'docker (docker save layout), oci (OCI layout tar) or oci-dir', 'docker')
    .action(runImages(async (engine, names: string[], opts) => (await image()).saveCommand(engine, names, opts)));

const definePrune: Definer = (c) =>
  c
    .description('Remove unused images')
    .option('-a, --all', 'remove all unused images, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(runImages(async (engine, opts) => (await image()).pruneCommand(engine, opts)));

const defineDf: Definer = (c) =>
  c
    .description('Show disk usage')
    .option('-v, --verbose', 'show detailed information on space usage')
    .option('--format <format>', 'format output: table or json')
    .action(run(async (engine, opts) => (await system()).dfCommand(engine, opts)));

const defineCheck: Definer = (c) =>
  c
    .description('Check the store: blobs match their digests, every image has its layers; list leftovers of interrupted writes')
    .option('-r, --repair', 'remove leftovers of interrupted writes')
    .option('--quick', 'skip re-hashing blobs')
    .action(run(async (engine, opts) => (await system()).checkCommand(engine, opts)));

defineContainerCli(program, run);
const containerGroup = program.command('container').description('Manage containers');
defineContainerCli(containerGroup, run, false);
defineInspect('container')(containerGroup.command('inspect'));
containerGroup
  .command('prune')
  .description('Remove all stopped containers')
  .option('-f, --force', 'do not prompt for confirmation')
  .action(run(async (engine, opts) => (await container()).pruneCommand(engine, opts)));

const insecureFlag = (c: Command) => c.option('--insecure-registry <host>', 'skip TLS verification with this registry, or use plain HTTP when it has no TLS (also $STRATA_INSECURE_REGISTRIES, insecure-registries in the config file); localhost always may', collect);
const definePull: Definer = (c) =>
  insecureFlag(
    c
      .description('Download an image from a registry')
      .argument('<name>', 'NAME[:TAG|@DIGEST]')
      .option('-a, --all-tags', 'download all tagged images in the repository')
      .option('--platform <os/arch[/variant]>', "take this platform's image from a multi-platform image (default: this machine's)")
      .option('-q, --quiet', 'suppress verbose output'),
  ).action(
    runImages(async (engine, name: string, opts) => (await distribution()).pullCommand(engine, name, opts)),
  );
const definePush: Definer = (c) =>
  insecureFlag(
    c
      .description('Upload an image to a registry')
      .argument('<name>', 'NAME[:TAG]')
      .option('-a, --all-tags', 'push all tags of the repository')
      .option('-q, --quiet', 'suppress verbose output'),
  ).action(
    runImages(async (engine, name: string, opts) => (await distribution()).pushCommand(engine, name, opts)),
  );
definePull(program.command('pull'));
definePush(program.command('push'));
insecureFlag(
  program
    .command('login')
    .description('Log in to a registry')
    .argument('[server]')
    .option('-u, --username <username>', 'username')
    .option('-p, --password <password>', 'password')
    .option('--password-stdin', 'take the password from stdin'),
).action(async (server: string | undefined, opts) => {
  const { reportError } = await import('./run.js');
  await (await distribution()).loginCommand(server, opts).catch((error: unknown) => reportError(error));
});
program
  .command('logout')
  .description('Log out from a registry')
  .argument('[server]')
  .action(async (server: string | undefined) => (await distribution()).logoutCommand(server));

// The embedded registry has its own storage root, apart from the image store: a team can share it.
const registryGroup = program.command('registry').description('Run an OCI distribution registry');
const withRegistryErrors =
  <A extends unknown[]>(action: (...args: A) => Promise<void>) =>
  async (...args: A) => {
    const { reportError } = await import('./run.js');
    await action(...args).catch((error: unknown) => reportError(error, program.opts<GlobalOptions>().debug));
  };
registryGroup
  .command('serve')
  .description('Serve images over the OCI distribution protocol (v1.1)')
  .option('--addr <address>', 'listen address, HOST:PORT', '127.0.0.1:5000')
  .option('--root <dir>', 'storage directory', '/var/lib/strata-registry')
  .option('--htpasswd <file>', 'require basic auth against an htpasswd file (bcrypt entries)')
  .option('--tls-cert <file>', 'serve HTTPS with this certificate')
  .option('--tls-key <file>', 'and this key')
  .action(withRegistryErrors(async (opts) => (await import('./commands/registry.js')).registryServeCommand(opts)));
registryGroup
  .command('gc')
  .description('Delete blobs no manifest references')
  .option('--root <dir>', 'storage directory', '/var/lib/strata-registry')
  .option('--dry-run', 'only list what would be deleted')
  .action(withRegistryErrors(async (opts) => (await import('./commands/registry.js')).registryGcCommand(opts)));

defineImages(program.command('images'));
defineHistory(program.command('history'));
defineInspect()(program.command('inspect'));
defineTag(program.command('tag'));
defineRmi(program.command('rmi'));
defineImport(program.command('import'));
defineLoad(program.command('load'));
defineSave(program.command('save'));

const imageGroup = program.command('image').description('Manage images');
defineImages(imageGroup.command('ls').alias('list'));
defineHistory(imageGroup.command('history'));
defineInspect('image')(imageGroup.command('inspect'));
defineTag(imageGroup.command('tag'));
defineRmi(imageGroup.command('rm').alias('remove'));
defineImport(imageGroup.command('import'));
defineLoad(imageGroup.command('load'));
defineSave(imageGroup.command('save'));
definePull(imageGroup.command('pull'));
definePush(imageGroup.command('push'));
definePrune(imageGroup.command('prune'));

const build = () => import('./commands/build.js');
const defineBuild: Definer = (c) =>
  c
    .description('Build an image from a Dockerfile')
    .argument('<context>', 'a directory, a tarball, or - (a tar or a lone Dockerfile on stdin)')
    .option('-t, --tag <name>', 'name and optionally a tag (NAME[:TAG])', collect)
    .option('-f, --file <file>', "name of the Dockerfile (default: 'CONTEXT/Dockerfile'; - for stdin)")
    .option('--build-arg <KEY=VALUE>', 'set build-time variables', collect)
    .option('--target <stage>', 'set the target build stage to build')
    .option('--no-cache', 'do not use cache when building the image')
    .option('--label <KEY=VALUE>', 'set metadata for an image', collect)
    .option('-q, --quiet', 'suppress the build output and print image ID on success')
    .option('--iidfile <file>', 'write the image ID to the file')
    .option('--progress <mode>', 'type of progress output: auto, plain, tty (the transcript is plain lines in every mode)')
    .option('--network <mode>', 'networking mode for RUN instructions: host (default) or none')
    .option('--secret <spec>', 'secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (id=ID alone: the variable ID)', collect)
    .option('--build-context <name=value>', 'additional build context: NAME=DIR or NAME=docker-image://REF, for FROM, COPY --from and RUN --mount from=', collect)
    .option('--cache-from <spec>', 'a build cache to use: type=registry,ref=REF, type=local,src=DIR, or an IMAGE whose history the steps are matched against', collect)
    .option('--cache-to <spec>', "where to export this build's cache: type=registry,ref=REF or type=local,dest=DIR, with mode=min|max (max: every stage's steps and the cache mounts) and ignore-error=true", collect)
    .option('--explain', 'say, after each step that misses the cache, why it missed')
    .option('--platform <platform>', 'set the target platform (os/arch[/variant]): TARGETPLATFORM and the platform of the base images')
    .option('-o, --output <spec>', "write the target's filesystem: type=local,dest=DIR or type=tar,dest=FILE|- (also DIR, or - for a tar on stdout)")
    .option('--ssh <spec>', 'SSH agent socket for RUN --mount=type=ssh: default ($SSH_AUTH_SOCK) or ID=SOCKET', collect)
    .option('--check', "run BuildKit's build checks on the Dockerfile instead of building (exit 1 when any warning is found)")
    .option('--print-instructions', 'parse the Dockerfile and print its instructions as JSON, without building')
    .action(runImages(async (engine, contextPath: string, opts) => (await build()).buildCommand(engine, contextPath, opts)));
defineBuild(program.command('build'));
defineBuild(imageGroup.command('build'));
const builderGroup = program.command('builder').description('Manage builds');
defineBuild(builderGroup.command('build'));
builderGroup
  .command('prune')
  .description('Remove build cache')
  .option('-a, --all', 'remove all build cache (the same here: every cached step)')
  .option('--filter <filter>', 'provide filter values (until=DURATION: only what no build used for that long)', collect)
  .option('--keep-storage <size>', 'amount of disk space to keep for cache (the least recently used goes first)')
  .option('-f, --force', 'do not prompt for confirmation')
  .action(runImages(async (engine, opts) => (await build()).builderPruneCommand(engine, opts)));

const systemGroup = program.command('system').description('Manage Strata');
defineDf(systemGroup.command('df'));
defineCheck(systemGroup.command('check'));
systemGroup
  .command('service')
  .description('Serve the Docker Engine API: docker, docker-compose, dockerode and the Docker SDKs drive Strata through it')
  .argument('[uri]', 'unix:///path or tcp://host:port (default: unix:///run/strata/strata.sock for root, else $XDG_RUNTIME_DIR/strata/strata.sock)')
  .option('-t, --time <seconds>', 'seconds without a request before the service exits; 0: until stopped', '5')
  .option('--tlsverify', 'require client certificates signed by --tlscacert (needed to listen beyond loopback)')
  .option('--tlscacert <file>', 'CA certificate that client certificates must chain to')
  .option('--tlscert <file>', "the service's TLS certificate")
  .option('--tlskey <file>', "the service's TLS key")
  .action(
    run(async (engine, uri: string | undefined, opts: { time: string; tlsverify?: boolean; tlscacert?: string; tlscert?: string; tlskey?: string }) => {
      const timeout = Number(opts.time);
      if (!Number.isInteger(timeout) || timeout < 0) throw invalidArgument(`invalid -t value "${opts.time}": expected seconds`);
      const tls = opts.tlscert || opts.tlskey || opts.tlsverify ? { verify: opts.tlsverify ?? false, ...(opts.tlscacert && { ca: opts.tlscacert }), ...(opts.tlscert && { cert: opts.tlscert }), ...(opts.tlskey && { key: opts.tlskey }) } : undefined;
      await edges!.serveApi(engine, { ...(uri !== undefined && { uri }), timeout, ...(tls && { tls }) });
    }),
  );

// A reader that went away (`strata images | head -1`): end as a Go CLI does, killed by SIGPIPE (128 + 13).
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(141);
});

// Docker exits 125 when the command line itself is wrong.
program.exitOverride();
for (const command of [...program.commands, ...imageGroup.commands, ...systemGroup.commands, ...containerGroup.commands, ...registryGroup.commands, ...builderGroup.commands]) command.exitOverride();
/** Runs one `strata` command line; `wired` gives the edges the command line starts. */
export async function main(argv: string[], wired: Edges): Promise<void> {
  edges = wired;
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 125;
    } else {
      throw error;
    }
  }
}
