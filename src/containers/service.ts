import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ImageStore } from '../images/store.js';
import { conflict, ExitStatusError, failedPrecondition, invalidArgument, notFound } from '../errors.js';
import { isDatabaseFull, type MetadataDb } from '../metadata/database.js';
import { EventLog } from '../metadata/events.js';
import type { Snapshotter } from '../snapshots/types.js';
import { newContainerId, randomName, validName } from './names.js';
import { releaseNetwork } from './network.js';
import type { PublishedPort } from './ports.js';
import { type ContainerInspect, inspectContainer } from './inspect.js';
import { type LogEntry, readLog } from './logs.js';
import { processAlive } from '../util/process.js';
import { buildStepLabel, type ContainerRecord, ContainerRecords } from './records.js';
import { Runtime, startFailureExitCode } from './runtime.js';
import { type AttachedContainer, attachToConmon, resizeTerminal } from './attach.js';
import { type HealthState, readHealth, resetHealth } from './health.js';
import { restartDelayMs, shouldRestart } from './restart.js';
import { ConmonCreateError, conmonCreate, conmonPidFile } from './conmon.js';
import { type ContainerSettings, parseSettings } from './settings.js';

export interface CreateOptions {
  image: string;
  name?: string;
  settings: Omit<ContainerSettings, 'hostname'> & { hostname?: string };
}


/**
 * Containers: a metadata row, a snapshot (the read-write layer), a bundle dir with config.json and the log, and
 * while running, a monitor process that owns `runc run`. Every command first reconciles rows whose monitor
 * died, so a killed CLI or monitor never leaves a container shown as running, a mount, or runtime state behind.
 */
export class Containers {
  readonly dir: string;
  readonly records: ContainerRecords;
  readonly events: EventLog;

  constructor(
    readonly root: string,
    db: MetadataDb,
    readonly images: ImageStore,
    /** Snapshotters by name; new containers get `defaultSnapshotter`, existing ones keep the one they were made with. */
    private readonly snapshotters: Record<string, Snapshotter>,
    readonly defaultSnapshotter: string,
    /** The script conmon runs when a container ends (with the store root and the container's ID): `finish` in a process of its own. */
    private readonly exitEntry: string,
  ) {
    this.records = new ContainerRecords(db);
    this.events = new EventLog(db);
    this.dir = path.join(root, 'containers');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  snapshotterFor(record: Pick<ContainerRecord, 'snapshotter'>): Snapshotter {
    const snapshotter = this.snapshotters[record.snapshotter];
    if (!snapshotter) throw failedPrecondition(`unknown storage driver "${record.snapshotter}"`);
    return snapshotter;
  }

  bundle(id: string): string {
    return path.join(this.dir, id);
  }

  /**
   * The container's log: conmon's (k8s-file format) for a container that ran detached, else the json-file log a
   * foreground run (or a container of an earlier Strata, whose monitor was a Node process) wrote.
   */
  logPath(id: string): string {
    const conmonLog = path.join(this.bundle(id), 'ctr.log');
    return fs.existsSync(conmonLog) ? conmonLog : path.join(this.bundle(id), 'container.log');
  }

  private exitFile(id: string): string {
    return path.join(this.root, 'runtime', 'exits', id);
  }

  runtime(record: ContainerRecord): Runtime {
    return new Runtime(this.root, parseSettings(record.settings).runtime);
  }

  /** Docker's lookup order: full ID, exact name, unique ID prefix. */
  resolve(nameOrId: string): ContainerRecord {
    const name = nameOrId.replace(/^\//, '');
    const found = this.records.get(name) ?? this.records.byName(name);
    if (found) return found;
    if (/^[a-f0-9]+$/.test(name)) {
      const matches = this.records.byIdPrefix(name);
      if (matches.length > 1) throw invalidArgument(`multiple containers found with provided prefix: ${name}`);
      if (matches[0]) return matches[0];
    }
    throw notFound(`No such container: ${nameOrId}`);
  }

  list(): ContainerRecord[] {
    return this.records.all();
  }

  create(options: CreateOptions): ContainerRecord {
    const image = this.images.resolve(options.image);
    const name = options.name ?? this.uniqueName();
    if (!validName.test(name)) throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const existing = this.records.byName(name);
    if (existing) {
      throw conflict(`Conflict. The container name "/${name}" is already in use by container "${existing.id}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    const id = newContainerId();
    const settings: ContainerSettings = { ...options.settings, hostname: options.settings.hostname ?? id.slice(0, 12) };
    fs.mkdirSync(this.bundle(id), { mode: 0o700 });
    const snapshotter = this.snapshotterFor({ snapshotter: this.defaultSnapshotter });
    snapshotter.prepare(id);
    const record: ContainerRecord = {
      id,
      name,
      imageId: image.id,
      imageName: options.image,
      created: Date.now(),
      settings: JSON.stringify(settings),
      state: 'created',
      pid: null,
      monitorPid: null,
      exitCode: null,
      startedAt: null,
      finishedAt: null,
      snapshotter: snapshotter.name,
      error: null,
    };
    try {
      this.records.transaction(() => this.records.insert(record));
    } catch (error) {
      this.discardFiles(record);
      throw error;
    }
    this.event(record, 'create');
    return record;
  }

  private uniqueName(): string {
    for (;;) {
      const name = randomName();
      if (!this.records.byName(name)) return name;
    }
  }

  /**
   * Starts a created or exited container under conmon, detached: its root mounted, its network up, config.json
   * written, `runc create` by conmon, then `runc start`. Returns once the container's process runs; a container
   * that could not start throws with the runtime's message and Docker's exit code, and is left exited.
   */
  async start(nameOrId: string, options: { onCreated?: (record: ContainerRecord) => Promise<void>; restarting?: boolean } = {}): Promise<ContainerRecord> {
    const record = this.resolve(nameOrId);
    if (record.state === 'running') return record;
    if (!options.restarting) {
      // A start by the user: the restart policy applies again, its count from zero.
      fs.rmSync(this.stoppedMarker(record.id), { force: true });
      fs.rmSync(this.restartCountFile(record.id), { force: true });
    }
    const runtime = this.runtime(record);
    runtime.check();
    const settings = parseSettings(record.settings);
    const { prepareBundle } = await import('./monitor.js');
    const { network } = await prepareBundle(this, record, settings.tty);
    runtime.delete(record.id); // stale state of an earlier run
    fs.mkdirSync(path.dirname(this.exitFile(record.id)), { recursive: true });
    fs.rmSync(this.exitFile(record.id), { force: true });
    let pid: number;
    try {
      ({ pid } = await conmonCreate({
        id: record.id,
        name: record.name,
        bundle: this.bundle(record.id),
        runtime,
        logPath: path.join(this.bundle(record.id), 'ctr.log'),
        exitDir: path.dirname(this.exitFile(record.id)),
        socketDir: path.join(this.root, 'runtime', 'sockets'),
        terminal: settings.tty,
        stdin: settings.interactive,
        stdinOnce: settings.stdinOnce ?? false,
        exitCommand: this.exitCommand(record.id, settings.restart !== undefined, this.newRunToken(record.id)),
      }));
    } catch (error) {
      network?.release();
      this.snapshotterFor(record).unmount(record.id);
      if (!(error instanceof ConmonCreateError)) throw error;
      const exitCode = startFailureExitCode(error.message);
      this.records.transaction(() => this.records.update(record.id, { state: 'exited', exitCode, finishedAt: Date.now(), error: error.message }));
      throw new ExitStatusError(exitCode, `failed to create task for container: ${error.message}`, { cause: error });
    }
    const monitorPid = Number(fs.readFileSync(conmonPidFile(this.bundle(record.id)), 'utf8'));
    this.records.transaction(() => this.records.update(record.id, { state: 'running', pid, monitorPid, startedAt: Date.now(), finishedAt: null, exitCode: null, error: null }));
    try {
      await options.onCreated?.(record);
      resetHealth(this, record);
      runtime.start(record.id);
      this.event(record, 'start');
    } catch (error) {
      runtime.kill(record.id, 'KILL', true);
      await this.waitExit(record.id, 10_000);
      throw error;
    }
    return this.records.get(record.id) ?? record;
  }

  /**
   * A token for this run of the container, kept in its bundle and given to conmon's exit command: an exit command
   * of an earlier run that comes late (the run was recorded ended, and the container restarted) finds another
   * token and leaves the new run alone.
   */
  private newRunToken(id: string): string {
    const token = randomBytes(8).toString('hex');
    fs.writeFileSync(path.join(this.bundle(id), 'run-token'), token);
    return token;
  }

  /** Whether `token` is the container's current run (conmon's exit command asks before it finishes a run). */
  isCurrentRun(id: string, token: string): boolean {
    try {
      return fs.readFileSync(path.join(this.bundle(id), 'run-token'), 'utf8') === token;
    } catch {
      return false;
    }
  }

  /**
   * What conmon runs when the container ends: `finish` in a Node process of its own. Without a restart policy
   * to apply, a shell runs it only when the exit file is still there: a process that watched the container (the
   * API service, a `wait`) has usually finished it already, and a Node start is 100 ms of CPU saved.
   */
  private exitCommand(id: string, restartPolicy: boolean, runToken: string): string[] {
    const node = [process.execPath, this.exitEntry, this.root, id, runToken];
    if (restartPolicy) return node;
    return ['/bin/sh', '-c', 'test -e "$1" || exit 0; shift; exec "$@"', 'conmon-exit', this.exitFile(id), ...node];
  }

  /** Sends the stop signal, waits up to `timeout` seconds, then SIGKILL, as `docker stop` does. */
  async stop(nameOrId: string, timeout?: number): Promise<ContainerRecord> {
    const record = this.reconcileOne(this.resolve(nameOrId));
    if (record.state !== 'running') return record;
    const settings = parseSettings(record.settings);
    const runtime = this.runtime(record);
    this.markStoppedByUser(record.id);
    runtime.kill(record.id, settings.stopSignal);
    // An --rm container may be gone by the time its exit is seen: what is returned is its last record.
    if (await this.waitExit(record.id, (timeout ?? settings.stopTimeout) * 1000)) return this.records.get(record.id) ?? record;
    runtime.kill(record.id, 'KILL', true);
    await this.waitExit(record.id, 10_000);
    const current = this.records.get(record.id);
    return current ? this.reconcileOne(current) : record;
  }

  kill(nameOrId: string, signal = 'KILL'): ContainerRecord {
    const record = this.reconcileOne(this.resolve(nameOrId));
    if (record.state !== 'running') throw conflict(`Cannot kill container: ${nameOrId}: Container ${record.id} is not running`);
    const name = signal.replace(/^SIG/i, '').toUpperCase();
    this.markStoppedByUser(record.id);
    this.runtime(record).kill(record.id, name);
    this.event(record, 'kill', { signal: name });
    return record;
  }

  /** `pause`/`unpause`: the container's processes frozen or thawed; a marker in the bundle tells `ps` and inspect. */
  pause(nameOrId: string, paused: boolean): ContainerRecord {
    const record = this.reconcileOne(this.resolve(nameOrId));
    if (record.state !== 'running') throw conflict(`Container ${record.id} is not running`);
    if (this.isPaused(record) === paused) throw conflict(`Container ${record.id} is ${paused ? 'already paused' : 'not paused'}`);
    this.runtime(record).freeze(record.id, paused);
    if (paused) fs.writeFileSync(this.pausedMarker(record.id), '');
    else fs.rmSync(this.pausedMarker(record.id), { force: true });
    this.event(record, paused ? 'pause' : 'unpause');
    return record;
  }

  /** `rename`: a new name, free and valid, for a container in any state (its ID, bundle and processes stay). */
  rename(nameOrId: string, newName: string): ContainerRecord {
    const record = this.resolve(nameOrId);
    const name = newName.replace(/^\//, '');
    if (!validName.test(name)) throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (name === record.name) throw invalidArgument('Renaming a container with the same name as its current name');
    this.records.transaction(() => {
      const existing = this.records.byName(name);
      if (existing) {
        throw conflict(`Error when allocating new name: Conflict. The container name "/${name}" is already in use by container "${existing.id}". You have to remove (or rename) that container to be able to reuse that name.`);
      }
      this.records.update(record.id, { name });
    });
    const renamed = { ...record, name };
    this.event(renamed, 'rename', { oldName: `/${record.name}` });
    return renamed;
  }

  isPaused(record: ContainerRecord): boolean {
    return record.state === 'running' && fs.existsSync(this.pausedMarker(record.id));
  }

  private pausedMarker(id: string): string {
    return path.join(this.bundle(id), 'paused');
  }

  /** A stop or kill by the user: the restart policy leaves the container stopped (Docker's HasBeenManuallyStopped). */
  private markStoppedByUser(id: string): void {
    try {
      fs.writeFileSync(this.stoppedMarker(id), '');
    } catch {
      // A bundle already gone: nothing to restart.
    }
  }

  private stoppedMarker(id: string): string {
    return path.join(this.bundle(id), 'stopped-by-user');
  }

  private restartCountFile(id: string): string {
    return path.join(this.bundle(id), 'restart-count');
  }

  /** How many times the restart policy has started the container since the user last did (inspect's RestartCount). */
  restartCount(id: string): number {
    try {
      return Number(fs.readFileSync(this.restartCountFile(id), 'utf8')) || 0;
    } catch {
      return 0;
    }
  }

  /** The container's State.Health, when it has a healthcheck and has been started. */
  health(record: ContainerRecord): HealthState | undefined {
    return parseSettings(record.settings).health ? readHealth(this, record.id) : undefined;
  }

  /**
   * Starts an exited container again when its restart policy says so (conmon's exit command calls this once
   * the exit is recorded, as Podman's cleanup does): after Docker's back-off, unless it was stopped by the user,
   * removed or started by someone else meanwhile. Returns whether it restarted.
   */
  async applyRestartPolicy(id: string): Promise<boolean> {
    const record = this.records.get(id);
    if (record?.state !== 'exited') return false;
    const { restart } = parseSettings(record.settings);
    const count = this.restartCount(id);
    if (!shouldRestart(restart, record.exitCode ?? 0, count, fs.existsSync(this.stoppedMarker(id)))) return false;
    const ranLong = (record.finishedAt ?? 0) - (record.startedAt ?? 0) >= 10_000;
    await sleep(ranLong ? restartDelayMs(0) : restartDelayMs(count));
    if (this.records.get(id)?.state !== 'exited' || fs.existsSync(this.stoppedMarker(id))) return false;
    fs.writeFileSync(this.restartCountFile(id), String(count + 1));
    await this.start(id, { restarting: true });
    return true;
  }

  private exitWatch: { watcher: fs.FSWatcher; waiters: Set<() => void> } | undefined;

  /** Stops watching for exits (the engine closes). */
  close(): void {
    this.exitWatch?.watcher.close();
    this.exitWatch = undefined;
  }

  /**
   * Resolves when conmon writes an exit file (a container ended), or after `ms` at the latest: waits wake at
   * once instead of at their next poll.
   */
  exitOrTimeout(ms: number): Promise<void> {
    if (!this.exitWatch) {
      const dir = path.dirname(this.exitFile('x'));
      fs.mkdirSync(dir, { recursive: true });
      const waiters = new Set<() => void>();
      const watcher = fs.watch(dir, () => {
        for (const wake of [...waiters]) wake();
      });
      watcher.unref();
      // The exits dir gone (a store removed under a waiting process): waits fall back to polling.
      watcher.on('error', () => {
        watcher.close();
        if (this.exitWatch?.watcher === watcher) this.exitWatch = undefined;
        for (const wake of [...waiters]) wake();
      });
      this.exitWatch = { watcher, waiters };
    }
    const { waiters } = this.exitWatch;
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      waiters.add(wake);
    });
  }

  /** Resolves true once the container has exited, false on timeout. */
  async waitExit(id: string, timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      const record = this.records.get(id);
      if (record?.state !== 'running') return true;
      if (this.reconcileOne(record).state !== 'running') return true;
      if (Date.now() >= deadline) return false;
      await this.exitOrTimeout(delay);
    }
  }

  /** `docker wait`: blocks until the container stops, returns its exit code. */
  async wait(nameOrId: string): Promise<number> {
    const record = this.resolve(nameOrId);
    await this.waitExit(record.id);
    return this.records.get(record.id)?.exitCode ?? 0;
  }

  async remove(nameOrId: string, options: { force?: boolean } = {}): Promise<ContainerRecord> {
    let record = this.reconcileOne(this.resolve(nameOrId));
    if (record.state === 'running') {
      if (!options.force) {
        throw conflict(`You cannot remove a running container ${record.id}. Stop the container before attempting removal or force remove`);
      }
      this.markStoppedByUser(record.id);
      this.runtime(record).kill(record.id, 'KILL', true);
      await this.waitExit(record.id, 10_000);
      const current = this.records.get(record.id);
      // An --rm container is gone already: its exit removed it.
      if (!current) return record;
      record = this.reconcileOne(current);
    }
    this.forget(record);
    return record;
  }

  /**
   * Deletes a stopped container: its row, then its runtime state and files. A full disk can refuse even a
   * delete (SQLite needs room for its journal): then the container's own files go first, which gives the space
   * back, and the row after; a row left without files is removed by `rm` again.
   */
  forget(record: ContainerRecord): void {
    try {
      this.records.transaction(() => this.records.delete(record.id));
    } catch (error) {
      if (!isDatabaseFull(error)) throw error;
      this.runtime(record).delete(record.id);
      this.discardFiles(record);
      this.records.transaction(() => this.records.delete(record.id));
      return;
    }
    this.runtime(record).delete(record.id);
    this.discardFiles(record);
    this.event(record, 'destroy');
  }

  /** Records a container event with Docker's attributes: the image as named, the name, the labels. */
  event(record: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    const { labels } = parseSettings(record.settings);
    this.events.record('container', action, record.id, { ...labels, image: record.imageName, name: record.name, ...extra });
  }

  /** RUN containers of builds whose process is gone (killed): reconciled, so none still runs or holds a mount. */
  abandonedBuildSteps(): ContainerRecord[] {
    return this.records
      .withLabel(buildStepLabel)
      .filter((record) => !processAlive(Number(parseSettings(record.settings).labels[buildStepLabel])))
      .map((record) => this.reconcileOne(record));
  }

  /** `container prune`: every container not running, with its read-write layer; the bytes those layers held. */
  async prune(): Promise<{ removed: string[]; reclaimed: number }> {
    const removed: string[] = [];
    let reclaimed = 0;
    for (const record of this.list()) {
      if (record.state === 'running') continue;
      reclaimed += this.snapshotterFor(record).usage(record.id).size;
      await this.remove(record.id);
      removed.push(record.id);
    }
    return { removed, reclaimed };
  }

  inspect(nameOrId: string): ContainerInspect {
    const record = this.resolve(nameOrId);
    return inspectContainer(record, this.logPath(record.id), { ...(this.health(record) && { health: this.health(record)! }), restartCount: this.restartCount(record.id), paused: this.isPaused(record) });
  }

  /** The ports the monitor published for a running container (network.json in its bundle). */
  publishedPorts(record: ContainerRecord): PublishedPort[] {
    if (record.state !== 'running') return [];
    try {
      return (JSON.parse(fs.readFileSync(path.join(this.bundle(record.id), 'network.json'), 'utf8')) as { ports: PublishedPort[] }).ports;
    } catch {
      return [];
    }
  }

  /** Connects to a running container's conmon: its output as it comes, its stdin, its terminal's size. */
  attach(nameOrId: string): AttachedContainer {
    const record = this.reconcileOne(this.resolve(nameOrId));
    if (record.state !== 'running') throw conflict('You cannot attach to a stopped container, start it first');
    if (!fs.existsSync(conmonPidFile(this.bundle(record.id)))) {
      throw failedPrecondition(`container ${record.id} runs in the foreground of the strata command that started it: it cannot be attached`);
    }
    return attachToConmon(path.join(this.root, 'runtime', 'sockets'), this.bundle(record.id), record.id);
  }

  /** The size of a running container's terminal (one started with -t). */
  resize(nameOrId: string, rows: number, columns: number): void {
    const record = this.reconcileOne(this.resolve(nameOrId));
    if (record.state !== 'running') throw conflict(`Container ${record.id} is not running`);
    resizeTerminal(this.bundle(record.id), rows, columns);
  }

  /** Bytes of the container's read-write layer (`ps -s`'s first number). */
  sizeOf(record: ContainerRecord): number {
    return this.snapshotterFor(record).usage(record.id).size;
  }

  /**
   * The container's output as its log keeps it: the last `tail` lines written between `since` and `until` (ms
   * since the epoch), then with `follow` new lines as they are written, until the container has stopped and
   * nothing more came, or `until` has passed.
   */
  async *logs(nameOrId: string, options: { tail?: number; follow?: boolean; since?: number; until?: number } = {}): AsyncGenerator<LogEntry> {
    const record = this.resolve(nameOrId);
    const file = this.logPath(record.id);
    const tail = options.tail ?? Number.POSITIVE_INFINITY;
    const { since = Number.NEGATIVE_INFINITY, until = Number.POSITIVE_INFINITY } = options;
    const inWindow = (entry: LogEntry) => {
      const time = Date.parse(entry.time);
      return time >= since && time <= until;
    };
    let { entries, next } = readLog(file);
    entries = entries.filter(inWindow);
    yield* tail === Number.POSITIVE_INFINITY ? entries : entries.slice(Math.max(0, entries.length - tail));
    if (!options.follow) return;
    while (Date.now() <= until) {
      const running = this.records.get(record.id)?.state === 'running';
      ({ entries, next } = readLog(file, next));
      yield* entries.filter(inWindow);
      if (!running && entries.length === 0) return;
      await sleep(100);
    }
  }

  /** Removes what a container left on disk: its snapshot (read-write layer) and its bundle. */
  discardFiles(record: Pick<ContainerRecord, 'id' | 'snapshotter'>): void {
    releaseNetwork(record.id, this.bundle(record.id));
    this.snapshotterFor(record).remove(record.id);
    fs.rmSync(this.bundle(record.id), { recursive: true, force: true });
    fs.rmSync(this.exitFile(record.id), { force: true });
  }

  /** Brings every row whose monitor is gone back to the truth: exited, unmounted, no runtime state. */
  reconcile(): void {
    for (const record of this.records.all()) if (record.state === 'running') this.reconcileOne(record);
  }

  /**
   * A running row whose container has ended is finished here: when conmon has written the exit status (its exit
   * command, a Node process of its own, may still be starting: whoever comes first records the exit), or when
   * its monitor is gone.
   */
  reconcileOne(record: ContainerRecord): ContainerRecord {
    if (record.state !== 'running') return record;
    if (processAlive(record.monitorPid) && !fs.existsSync(this.exitFile(record.id))) return record;
    return this.finish(record);
  }

  /**
   * A container whose monitor is gone: recorded exited with the status conmon wrote, or, when there is none
   * (the monitor was killed), killed so it does not run on unwatched and shown as 137; its runtime state, network
   * and mount released, and removed with `--rm`. conmon's exit command runs this; so does every reconcile.
   */
  finish(record: ContainerRecord): ContainerRecord {
    const runtime = this.runtime(record);
    const written = readExitStatus(this.exitFile(record.id));
    if (written === undefined) runtime.kill(record.id, 'KILL', true);
    runtime.delete(record.id);
    releaseNetwork(record.id, this.bundle(record.id));
    fs.rmSync(path.join(this.bundle(record.id), 'network.json'), { force: true });
    fs.rmSync(this.pausedMarker(record.id), { force: true });
    this.snapshotterFor(record).unmount(record.id);
    const update = { state: 'exited' as const, pid: null, monitorPid: null, exitCode: written ?? record.exitCode ?? 137, finishedAt: Date.now() };
    if (parseSettings(record.settings).autoRemove) {
      // Recorded exited first, in one transaction with the check: of two processes finishing it, one removes it.
      const claimed = this.records.transaction(() => {
        if (this.records.get(record.id)?.state !== 'running') return false;
        this.records.update(record.id, update);
        return true;
      });
      if (claimed) {
        this.event(record, 'die', { exitCode: String(update.exitCode) });
        this.forget(record);
      }
      return { ...record, ...update };
    }
    // Another process (conmon's exit command, a reconciling command) may have finished it meanwhile: the first one records it.
    const finished = this.records.transaction(() => {
      const current = this.records.get(record.id);
      if (current?.state !== 'running') return current;
      this.records.update(record.id, update);
      this.event(record, 'die', { exitCode: String(update.exitCode) });
      return { ...current, ...update };
    });
    // Recorded: conmon's exit command, finding the file gone, does not start Node to record it again.
    fs.rmSync(this.exitFile(record.id), { force: true });
    return finished ?? { ...record, ...update };
  }
}

/** The exit status conmon wrote for a container, if it did. */
function readExitStatus(file: string): number | undefined {
  try {
    const status = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isNaN(status) ? undefined : status;
  } catch {
    return undefined;
  }
}
