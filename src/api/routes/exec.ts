import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { spawnExec } from '../../containers/exec.js';
import { conflict, invalidArgument, notFound } from '../../errors.js';
import { frame, hijack, send } from '../hijack.js';
import { intParam, readJson, sendJson, sendStatus } from '../http.js';
import type { Router } from '../router.js';
import type { ApiContext } from '../server.js';

interface ExecBody {
  Cmd?: string[];
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Privileged?: boolean;
  DetachKeys?: string;
}

/** An exec instance: made by `POST /containers/{id}/exec`, run by `/exec/{id}/start`, kept for inspect. */
interface ExecInstance {
  id: string;
  containerId: string;
  body: ExecBody;
  running: boolean;
  started: boolean;
  resize?: (rows: number, columns: number) => void;
  exitCode: number | null;
  pid: number;
}

/** How long an exec's record outlives its process: clients inspect it right after the stream ends. */
const keptMs = 5 * 60_000;

export function execRoutes(router: Router, { engine }: ApiContext): void {
  const instances = new Map<string, ExecInstance>();
  const find = (id: string) => {
    const instance = instances.get(id);
    if (!instance) throw notFound(`No such exec instance: ${id}`);
    return instance;
  };

  router.add('POST', '/containers/{id}/exec', async ({ req, res, params }) => {
    const body = await readJson<ExecBody>({ req });
    if (!Array.isArray(body.Cmd) || body.Cmd.length === 0) throw invalidArgument('No exec command specified');
    const record = engine.containers.reconcileOne(engine.containers.resolve(params.id!));
    if (record.state !== 'running') throw conflict(`Container ${record.id} is not running`);
    if (engine.containers.isPaused(record)) throw conflict(`Container ${record.id} is paused, unpause the container before exec`);
    const id = randomBytes(32).toString('hex');
    instances.set(id, { id, containerId: record.id, body, running: false, started: false, exitCode: null, pid: 0 });
    sendJson(res, 201, { Id: id });
  });

  router.add('POST', '/exec/{id}/start', async (call) => {
    const instance = find(call.params.id!);
    const start = await readJson<{ Detach?: boolean; Tty?: boolean }>(call);
    if (instance.started) throw conflict(`Exec ${instance.id} has already been started`);
    instance.started = true;
    const { body } = instance;
    const tty = start.Tty ?? body.Tty ?? false;
    const stdin = !start.Detach && (body.AttachStdin ?? false);
    const process = spawnExec(
      engine.containers,
      instance.containerId,
      body.Cmd!,
      { tty, ...(body.Env && { env: body.Env }), ...(body.WorkingDir && { workdir: body.WorkingDir }), ...(body.User && { user: body.User }) },
      // With a TTY stdin stays an open pipe even unattached: script(1) would pass its end on to the pty.
      [stdin || tty ? 'pipe' : 'ignore', start.Detach ? 'ignore' : 'pipe', start.Detach ? 'ignore' : 'pipe'],
    );
    instance.running = true;
    instance.pid = process.child.pid ?? 0;
    instance.resize = process.resize;
    const finished = process.exited.then((code) => {
      instance.exitCode = code;
      instance.running = false;
      setTimeout(() => instances.delete(instance.id), keptMs).unref();
    });
    if (start.Detach) {
      sendStatus(call.res, 200);
      return;
    }
    const connection = hijack(call);
    const { child } = process;
    if (stdin && child.stdin) {
      child.stdin.on('error', () => undefined);
      connection.input.pipe(child.stdin);
    }
    // One writer at a time: frames from stdout and stderr never interleave mid-frame.
    let writing = Promise.resolve(true);
    const relay = (stream: Readable | null, name: 'stdout' | 'stderr', wanted: boolean) =>
      new Promise<void>((resolve) => {
        if (!stream) return resolve();
        stream.on('data', (chunk: Buffer) => {
          if (!wanted) return;
          stream.pause();
          writing = writing.then(() => send(connection.output, tty ? chunk : frame(name, chunk))).finally(() => stream.resume());
        });
        stream.on('end', () => resolve());
      });
    const closed = new Promise<void>((resolve) => connection.output.once('close', () => resolve()));
    await Promise.race([Promise.all([relay(child.stdout, 'stdout', body.AttachStdout ?? true), relay(child.stderr, 'stderr', body.AttachStderr ?? true), finished]), closed]);
    await writing;
    connection.input.unpipe();
    connection.output.end();
  });

  router.add('GET', '/exec/{id}/json', ({ res, params }) => {
    const instance = find(params.id!);
    const [path = '', ...args] = instance.body.Cmd ?? [];
    sendJson(res, 200, {
      ID: instance.id,
      ContainerID: instance.containerId,
      Running: instance.running,
      ExitCode: instance.exitCode,
      Pid: instance.pid,
      OpenStdin: instance.body.AttachStdin ?? false,
      OpenStdout: instance.body.AttachStdout ?? false,
      OpenStderr: instance.body.AttachStderr ?? false,
      CanRemove: false,
      DetachKeys: '',
      ProcessConfig: { tty: instance.body.Tty ?? false, entrypoint: path, arguments: args, privileged: instance.body.Privileged ?? false, user: instance.body.User ?? '' },
    });
  });

  router.add('POST', '/exec/{id}/resize', ({ res, params, query }) => {
    const instance = find(params.id!);
    const rows = intParam(query, 'h');
    const columns = intParam(query, 'w');
    if (rows === undefined || columns === undefined) throw invalidArgument('h and w are required');
    instance.resize?.(rows, columns);
    sendStatus(res, 200);
  });
}
