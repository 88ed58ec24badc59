/**
 * Containers for real: overlay snapshots over the image's layer dirs, runc, conmon as the monitor. Needs root,
 * overlayfs and runc (installed by scripts/setup); skips otherwise.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { processAlive } from '../../src/util/process.js';
import { busyboxTar, cliPath, hasCommand, strata, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc');
const roots: string[] = [];

after(() => {
  for (const root of roots) {
    // Stop whatever a failed test left running, then drop the store.
    spawnSync(process.execPath, [cliPath, '--root', root, 'rm', '-f', ...listAll(root)], { stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
  }
});

function listAll(root: string): string[] {
  const result = strata(root, ['ps', '-aq', '--no-trunc']);
  return result.stdout.split('\n').filter(Boolean);
}

function storeWithBusybox(): string {
  const root = tempDir('strata-ctr-');
  roots.push(root);
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  return root;
}

const skip = { skip: canRun ? false : 'needs root and runc' };

test('run prints the output, returns the exit code, and --rm leaves nothing behind', skip, () => {
  const root = storeWithBusybox();
  const ok = strata(root, ['run', '--rm', 'busybox', 'echo', 'hello from the container']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'hello from the container\n');
  const failing = strata(root, ['run', '--rm', 'busybox', 'sh', '-c', 'echo oops >&2; exit 3']);
  assert.equal(failing.status, 3);
  assert.equal(failing.stderr, 'oops\n');
  assert.equal(strataOk(root, ['ps', '-aq']), '');
  assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')).filter((name) => name !== 'l'), []);
  assert.doesNotMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(root));
});

test('a missing command exits 127 and an image that does not exist exits 125', skip, () => {
  const root = storeWithBusybox();
  const missing = strata(root, ['run', '--rm', 'busybox', 'no-such-command']);
  assert.equal(missing.status, 127);
  assert.match(missing.stderr, /no-such-command/);
  const noImage = strata(root, ['run', '--rm', 'nosuchimage']);
  assert.equal(noImage.status, 125);
  assert.match(noImage.stderr, /No such image/);
});

test('env, workdir, user, hostname and entrypoint follow Docker', skip, () => {
  const root = storeWithBusybox();
  const out = strataOk(root, ['run', '--rm', '-e', 'GREETING=hi there', '-w', '/tmp', '-u', 'nobody', '--hostname', 'box', 'busybox', 'sh', '-c', 'echo "$GREETING|$(pwd)|$(id -u):$(id -g)|$(hostname)|$HOME"']);
  assert.equal(out, 'hi there|/tmp|65534:65534|box|/nonexistent\n');
  assert.equal(strataOk(root, ['run', '--rm', '--entrypoint', 'echo', 'busybox', 'a', 'b']), 'a b\n');
});

test('copy-up leaves the image layer untouched and two containers of one image are isolated', skip, () => {
  const root = storeWithBusybox();
  const layerDir = JSON.parse(strataOk(root, ['inspect', 'busybox']))[0].Strata.LayerDirs[0];
  const passwdBefore = fs.readFileSync(path.join(layerDir, 'etc/passwd'), 'utf8');
  strataOk(root, ['run', '--name', 'one', 'busybox', 'sh', '-c', 'echo changed > /etc/passwd; echo one > /tmp/mine']);
  strataOk(root, ['run', '--name', 'two', 'busybox', 'sh', '-c', 'cat /etc/passwd > /tmp/seen; ls /tmp']);
  assert.equal(fs.readFileSync(path.join(layerDir, 'etc/passwd'), 'utf8'), passwdBefore);
  assert.equal(strataOk(root, ['logs', 'two']), 'seen\n');
  assert.equal(strataOk(root, ['diff', 'one']), 'C /etc\nC /etc/passwd\nC /tmp\nA /tmp/mine\n');
});

test('the seed walkthrough: change files, commit -m -c, history shows the new layer, the new image runs its new command', skip, () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '--name', 'app-container', 'busybox', 'sh', '-c', 'mkdir -p /app && echo "hello from the app" > /app/app.txt && rm /bin/cat']);
  const id = strataOk(root, ['commit', '-m', 'Add app', '-c', 'CMD ["sh", "-c", "echo $(busybox cat /app/app.txt)"]', 'app-container', 'sample-app']).trim();
  assert.match(id, /^sha256:[a-f0-9]{64}$/);
  const history = strataOk(root, ['history', 'sample-app']).split('\n');
  assert.match(history[1]!, new RegExp(`^${id.slice(7, 19)}\\s+.*sh -c mkdir -p /app.*\\s+\\d+B\\s+Add app$`));
  assert.match(history[2]!, new RegExp(`^${JSON.parse(strataOk(root, ['inspect', 'busybox']))[0].Id.slice(7, 19)}\\s`));
  assert.equal(strataOk(root, ['run', '--rm', 'sample-app']), 'hello from the app\n');
  // The deleted file stays deleted in the committed image.
  assert.equal(strata(root, ['run', '--rm', 'sample-app', 'cat', '/etc/passwd']).status, 127);
  // Removing the container removes its layer and nothing else.
  strataOk(root, ['rm', 'app-container']);
  assert.equal(strataOk(root, ['run', '--rm', 'sample-app']), 'hello from the app\n');
  assert.match(strataOk(root, ['system', 'check']), / 0 problems/);
});

test('run -d outlives the CLI; ps -s shows sizes; stop, start, restart, kill and wait move through the states', skip, async () => {
  const root = storeWithBusybox();
  const id = strataOk(root, ['run', '-d', '--name', 'sleeper', 'busybox', 'sh', '-c', 'head -c 12 /dev/zero > /tmp/twelve; trap "exit 0" TERM; while true; do sleep 0.1; done']).trim();
  assert.match(id, /^[a-f0-9]{64}$/);
  const lines = strataOk(root, ['ps', '-s']).split('\n');
  assert.match(lines[0]!, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\s+SIZE$/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const row = strataOk(root, ['ps', '-s', '--format', 'json']).trim();
  const size = JSON.parse(row).Size as string;
  const imageSize = JSON.parse(strataOk(root, ['inspect', 'busybox']))[0].Size;
  assert.match(size, /^12B \(virtual [\d.]+MB\)$/);
  assert.equal(size, `12B (virtual ${(Math.round((imageSize + 12) / 10_000) / 100).toString()}MB)`);
  assert.match(JSON.parse(row).Status, /^Up /);
  strataOk(root, ['stop', 'sleeper']);
  assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Status}}']), /^Exited \(0\)/);
  strataOk(root, ['start', 'sleeper']);
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.Status}}']), /^sleeper Up/);
  strataOk(root, ['restart', '-t', '1', 'sleeper']);
  strataOk(root, ['kill', 'sleeper']);
  assert.equal(strataOk(root, ['wait', 'sleeper']), '137\n');
  const refused = strata(root, ['kill', 'sleeper']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /is not running/);
  strataOk(root, ['rm', 'sleeper']);
  assert.equal(strata(root, ['logs', 'sleeper']).status, 1);
});

test('rm refuses a running container without -f; a killed monitor is reconciled to exited with nothing left behind', skip, async () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '-d', '--name', 'victim', 'busybox', 'sleep', '1000']);
  const refused = strata(root, ['rm', 'victim']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /cannot remove a running container/);
  const inspected = JSON.parse(strataOk(root, ['inspect', 'victim']))[0];
  // A detached container's parent is its monitor, conmon (runc create has exited).
  const monitor = Number(fs.readFileSync(`/proc/${inspected.State.Pid}/status`, 'utf8').match(/PPid:\s+(\d+)/)![1]);
  assert.equal(fs.readFileSync(`/proc/${monitor}/comm`, 'utf8').trim(), 'conmon');
  process.kill(monitor, 'SIGKILL');
  assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^victim Exited \(137\)/);
  assert.doesNotMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(path.join(root, 'snapshots')));
  // Its parent gone, the killed process is reaped by whoever inherits it: a zombie meanwhile counts as dead.
  for (let i = 0; i < 100 && processAlive(inspected.State.Pid); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(processAlive(inspected.State.Pid), false, 'the container process was killed');
  strataOk(root, ['rm', 'victim']);
});

test('rmi refuses an image a container uses; container prune removes stopped ones', skip, () => {
  const root = storeWithBusybox();
  strataOk(root, ['create', '--name', 'c1', 'busybox', 'true']);
  const refused = strata(root, ['rmi', 'busybox']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /being used by stopped container/);
  assert.match(strataOk(root, ['container', 'prune', '-f']), /Deleted Containers:\n[a-f0-9]{64}\n/);
  strataOk(root, ['rmi', 'busybox']);
});

test('cp in and out, and export, resolve paths inside the container only', skip, () => {
  const root = storeWithBusybox();
  strataOk(root, ['create', '--name', 'files', 'busybox', 'true']);
  const host = tempDir();
  fs.writeFileSync(path.join(host, 'note.txt'), 'from the host\n');
  strataOk(root, ['cp', path.join(host, 'note.txt'), 'files:/tmp/']);
  strataOk(root, ['cp', 'files:/tmp/note.txt', path.join(host, 'back.txt')]);
  assert.equal(fs.readFileSync(path.join(host, 'back.txt'), 'utf8'), 'from the host\n');
  // A symlink in the container pointing at / must not let cp write on the host.
  strataOk(root, ['run', '--name', 'linker', 'busybox', 'ln', '-s', '/', '/escape']);
  const outside = path.join(host, 'outside.txt');
  fs.writeFileSync(path.join(host, 'payload'), 'x');
  strata(root, ['cp', path.join(host, 'payload'), `linker:/escape${outside}`]);
  assert.equal(fs.existsSync(outside), false);
  strataOk(root, ['cp', path.join(host, 'payload'), 'linker:/escape/tmp/']);
  assert.equal(fs.existsSync(path.join('/tmp', 'payload')), false);
  const exported = path.join(host, 'fs.tar');
  strataOk(root, ['export', '-o', exported, 'files']);
  const listing = spawnSync('tar', ['-tf', exported], { encoding: 'utf8' }).stdout;
  assert.match(listing, /^tmp\/note\.txt$/m);
  assert.match(listing, /^bin\/busybox$/m);
});

test('exec runs in a running container with its env, -e/-w/-u overrides, stdin with -i, and Docker exit codes', skip, () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '-d', '--name', 'target', '-e', 'FROM_RUN=yes', 'busybox', 'sleep', '1000']);
  assert.equal(strataOk(root, ['exec', 'target', 'sh', '-c', 'echo $FROM_RUN']), 'yes\n');
  assert.equal(strataOk(root, ['exec', '-u', 'nobody', '-e', 'A=1', '-w', '/tmp', 'target', 'sh', '-c', 'echo $A $(pwd) $(id -u)']), '1 /tmp 65534\n');
  assert.equal(strataOk(root, ['exec', '-i', 'target', 'cat'], { input: 'piped in\n' }), 'piped in\n');
  assert.equal(strata(root, ['exec', 'target', 'sh', '-c', 'exit 7']).status, 7);
  assert.equal(strata(root, ['exec', 'target', 'no-such-command']).status, 127);
  strataOk(root, ['rm', '-f', 'target']);
  const stopped = strata(root, ['exec', 'target', 'true']);
  assert.equal(stopped.status, 1);
});

test('the native storage driver runs containers from a full copy of the layers', skip, () => {
  const root = storeWithBusybox();
  const out = strataOk(root, ['--storage-driver', 'native', 'run', '--name', 'copied', 'busybox', 'sh', '-c', 'echo x > /etc/passwd; cat /etc/passwd']);
  assert.equal(out, 'x\n');
  assert.equal(JSON.parse(strataOk(root, ['inspect', 'copied']))[0].Driver, 'native');
  // The image's layer is untouched, and the driver is remembered without the flag.
  const layerDir = JSON.parse(strataOk(root, ['inspect', 'busybox']))[0].Strata.LayerDirs[0];
  assert.match(fs.readFileSync(path.join(layerDir, 'etc/passwd'), 'utf8'), /^root:/);
  strataOk(root, ['start', 'copied']);
  strataOk(root, ['rm', 'copied']);
  assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots-native')), []);
});

test('diff and commit on the native driver find the same changes as on overlay', skip, () => {
  const root = storeWithBusybox();
  const script = 'mkdir -p /app/sub && echo hi > /app/sub/f && echo x >> /etc/passwd && rm /etc/group && rm -r /tmp && mkdir /tmp';
  const results = ['overlay', 'native'].map((driver) => {
    strataOk(root, ['--storage-driver', driver, 'run', '--name', `changes-${driver}`, 'busybox', 'sh', '-c', script]);
    const diff = strataOk(root, ['diff', `changes-${driver}`]);
    strataOk(root, ['commit', `changes-${driver}`, `committed-${driver}`]);
    const files = strataOk(root, ['run', '--rm', `committed-${driver}`, 'sh', '-c', 'cat /app/sub/f; tail -n1 /etc/passwd; ls /etc/group 2>&1; ls -a /tmp | wc -l']);
    return { diff, files };
  });
  assert.equal(results[1]!.diff, results[0]!.diff);
  assert.equal(results[0]!.diff, 'C /etc\nC /etc/passwd\nD /etc/group\nA /app\nA /app/sub\nA /app/sub/f\nC /tmp\n'.split('\n').filter(Boolean).sort((a, b) => Buffer.compare(Buffer.from(a.slice(2)), Buffer.from(b.slice(2)))).map((line) => `${line}\n`).join(''));
  assert.equal(results[1]!.files, results[0]!.files);
  assert.match(results[1]!.files, /^hi\nx\nls: \/etc\/group: No such file or directory\n/);
  const build = strata(root, ['--storage-driver', 'native', 'build', '-q', '-'], { input: 'FROM busybox\nRUN echo built > /built && rm /etc/group\n' });
  assert.equal(build.status, 0, build.stderr);
  assert.equal(strataOk(root, ['run', '--rm', build.stdout.trim(), 'sh', '-c', 'cat /built; ls /etc']), 'built\npasswd\n');
});

test('a foreground run whose CLI is killed is reconciled: the container is stopped, unmounted and shown as exited', skip, async () => {
  const root = storeWithBusybox();
  const { spawn } = await import('node:child_process');
  const cli = spawn(process.execPath, [cliPath, '--root', root, 'run', '--name', 'fg', 'busybox', 'sleep', '1000'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !/Up/.test(strata(root, ['ps', '--format', '{{.Status}}']).stdout); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  const pid = JSON.parse(strataOk(root, ['inspect', 'fg']))[0].State.Pid;
  cli.kill('SIGKILL');
  await new Promise((resolve) => cli.once('exit', resolve));
  assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^fg Exited \(137\)/);
  assert.equal(fs.existsSync(`/proc/${pid}`) && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), false);
  assert.doesNotMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(path.join(root, 'snapshots')));
  assert.match(strataOk(root, ['system', 'check']), / 0 problems/);
});

test('-p publishes a container port on the host through the container own network; rm releases it', { skip: canRun && hasCommand('slirp4netns') ? false : 'needs root, runc and slirp4netns' }, async () => {
  const root = storeWithBusybox();
  const port = 20000 + Math.floor(Math.random() * 20000);
  strataOk(root, ['run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, 'busybox', 'busybox', 'sh', '-c', 'while true; do echo hello | busybox nc -l -p 80; done']);
  assert.match(strataOk(root, ['ps', '--format', '{{.Ports}}']), new RegExp(`^127\\.0\\.0\\.1:${port}->80/tcp$`, 'm'));
  const { connect, createServer } = await import('node:net');
  let reply = '';
  for (let attempt = 0; attempt < 20 && reply === ''; attempt++) {
    reply = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(''));
      socket.setTimeout(2000, () => socket.destroy());
    });
    if (reply === '') await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(reply, 'hello\n');
  assert.match(strataOk(root, ['exec', 'web', 'cat', '/etc/resolv.conf']), /^nameserver 10\.0\.2\.3$/m);
  // The bind-mounted /etc files live in the init layer: they are no change of the container's.
  assert.equal(strataOk(root, ['diff', 'web']), '');
  strataOk(root, ['rm', '-f', 'web']);
  const free = await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  assert.equal(free, true, 'the host port is free again');
});

test('run -dit keeps a shell running on a terminal, logged; run -dt gives the process a tty', skip, async () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '-dit', '--name', 'shell', 'busybox', 'sh']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.Status}}']), /^shell Up /m);
  assert.equal(strataOk(root, ['exec', 'shell', 'echo', 'still here']), 'still here\n');
  strataOk(root, ['stop', '-t', '1', 'shell']);
  strataOk(root, ['run', '-dt', '--name', 'tty', 'busybox', 'sh', '-c', '[ -t 1 ] && echo on a terminal']);
  assert.equal(strataOk(root, ['wait', 'tty']), '0\n');
  // A terminal turns \n into \r\n, as in Docker's logs of a -t container.
  assert.equal(strataOk(root, ['logs', 'tty']), 'on a terminal\r\n');
  strataOk(root, ['rm', 'shell', 'tty']);
});

test('rename gives a container a new name in any state; pause and unpause freeze and thaw it', skip, () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '-d', '--name', 'first', 'busybox', 'sleep', '60']);
  strataOk(root, ['create', '--name', 'taken', 'busybox', 'true']);
  assert.equal(strataOk(root, ['rename', 'first', 'second']), '');
  assert.equal(strataOk(root, ['inspect', '--format', '{{.Name}} {{.State.Status}}', 'second']), '/second running\n');
  assert.equal(strata(root, ['inspect', 'first']).status, 1);
  for (const [args, message] of [
    [['rename', 'second', 'taken'], /^Error: Error when allocating new name: Conflict\. The container name "\/taken" is already in use by container "[0-9a-f]{64}"/],
    [['rename', 'second', 'second'], /^Error: Renaming a container with the same name as its current name$/m],
    [['rename', 'second', 'no good'], /Invalid container name \(no good\)/],
    [['rename', 'nosuch', 'x1'], /No such container: nosuch/],
  ] as const) {
    const refused = strata(root, [...args]);
    assert.equal(refused.status, 1, args.join(' '));
    assert.match(refused.stderr, message);
  }
  assert.equal(strataOk(root, ['pause', 'second']), 'second\n');
  assert.equal(strataOk(root, ['inspect', '--format', '{{.State.Status}} {{.State.Paused}}', 'second']), 'paused true\n');
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.State}} {{.Status}}']), /^second paused Up .* \(Paused\)$/m);
  assert.match(strata(root, ['pause', 'second']).stderr, /is already paused/);
  assert.equal(strataOk(root, ['unpause', 'second']), 'second\n');
  assert.equal(strataOk(root, ['exec', 'second', 'echo', 'thawed']), 'thawed\n');
  strataOk(root, ['rm', '-f', 'second', 'taken']);
});

test('commit takes the container\'s config as Docker does: its command, env, workdir, user, labels and published ports', skip, () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '--name', 'made', '-e', 'FOO=bar', '-w', '/tmp', '--label', 'lab=1', '-u', '0', 'busybox', 'sh', '-c', 'echo hi > /f']);
  strataOk(root, ['commit', 'made', 'committed']);
  const config = JSON.parse(strataOk(root, ['inspect', '--format', '{{json .Config}}', 'committed']));
  assert.deepEqual(config.Cmd, ['sh', '-c', 'echo hi > /f']);
  assert.ok(config.Env.includes('FOO=bar'), config.Env);
  assert.deepEqual([config.WorkingDir, config.User, config.Labels], ['/tmp', '0', { lab: '1' }]);
  // -c still has the last word.
  strataOk(root, ['commit', '-c', 'CMD ["cat", "/f"]', 'made', 'changed']);
  assert.equal(strataOk(root, ['run', '--rm', 'changed']), 'hi\n');
  strataOk(root, ['rm', 'made']);
});
