/**
 * Interop with Docker and Podman themselves, when they are there: a Docker daemon answering `docker info`, and
 * podman (run with runc, as this kernel's hybrid cgroups need). CI does not install them; these tests then skip.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { busyboxTar, cliPath, hasCommand, strataOk, tempDir } from '../helpers.js';

const dockerRunning = hasCommand('docker') && spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
const havePodman = hasCommand('podman');

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** A three-layer image with whiteouts, made by the peer's own builder from a Strata-saved base. */
function peerBuiltImage(tool: 'docker' | 'podman', tag: string): { archive: string; id: string } {
  const work = tempDir('strata-engines-');
  const root = tempDir('strata-engines-root-');
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), `${tag}-base`]);
  strataOk(root, ['save', '-o', path.join(work, 'base.tar'), `${tag}-base`]);
  const podmanArgs = tool === 'podman' ? ['--runtime', 'runc'] : [];
  run(tool, [...podmanArgs, 'load', '-i', path.join(work, 'base.tar')]);
  fs.writeFileSync(
    path.join(work, 'Dockerfile'),
    `FROM ${tag}-base\nRUN rm /bin/cat && mkdir -p /opt/x && echo hi > /opt/x/a\nRUN rm -rf /opt/x && mkdir /opt/x && echo new > /opt/x/b\nCMD ["sh"]\n`,
  );
  const env = { ...process.env, DOCKER_BUILDKIT: '0' };
  const build = spawnSync(tool, [...podmanArgs, 'build', '-q', '-t', `${tag}:v1`, work], { encoding: 'utf8', env });
  if (build.status !== 0) throw new Error(build.stderr);
  const archive = path.join(work, 'peer.tar');
  run(tool, [...podmanArgs, 'save', '-o', archive, `${tag}:v1`]);
  const id = run(tool, [...podmanArgs, 'inspect', '--format', '{{.Id}}', `${tag}:v1`]).trim();
  return { archive, id: id.startsWith('sha256:') ? id : `sha256:${id}` };
}

for (const tool of ['docker', 'podman'] as const) {
  test(`${tool} save loads in Strata and Strata's save loads in ${tool}, with the same image ID`, (t) => {
    if (tool === 'docker' ? !dockerRunning : !havePodman) return t.skip(`${tool} is not available`);
    const tag = `strata-interop-${tool}`;
    const { archive, id } = peerBuiltImage(tool, tag);
    const root = tempDir('strata-engines-root-');
    strataOk(root, ['load', '-i', archive]);
    const inspected = JSON.parse(strataOk(root, ['inspect', id]))[0];
    assert.equal(inspected.Id, id);
    assert.equal(inspected.RootFS.Layers.length, 3);
    // The deleted /bin/cat is an overlay whiteout in the first RUN's layer dir.
    assert.ok(fs.lstatSync(path.join(inspected.Strata.LayerDirs[1], 'bin', 'cat')).isCharacterDevice());
    const history = strataOk(root, ['history', '--format', '{{.CreatedBy}}', id]);
    assert.match(history, /rm \/bin\/cat/);

    const back = path.join(tempDir('strata-engines-'), 'back.tar');
    strataOk(root, ['save', '-o', back, id]);
    const podmanArgs = tool === 'podman' ? ['--runtime', 'runc'] : [];
    run(tool, [...podmanArgs, 'rmi', '-f', `${tag}:v1`, `${tag}-base`]);
    const loaded = run(tool, [...podmanArgs, 'load', '-i', back]);
    assert.match(loaded, new RegExp(id.slice(7, 19)));
    run(tool, [...podmanArgs, 'rmi', '-f', id.slice(7)]);
  });
}

/** Strata's registry in its own process (the peers' CLIs run synchronously), on a free loopback port. */
async function strataRegistry(t: { after(fn: () => void): void }): Promise<string> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, [cliPath, '--root', tempDir('strata-engines-root-'), 'registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', tempDir('strata-engines-registry-')], { stdio: 'ignore' });
  t.after(() => child.kill());
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)) return `127.0.0.1:${port}`;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('strata registry serve did not start');
}

for (const tool of ['docker', 'podman'] as const) {
  test(`${tool} pushes to and pulls from Strata's registry; Strata pulls what ${tool} pushed: same image IDs`, async (t) => {
    if (tool === 'docker' ? !dockerRunning : !havePodman) return t.skip(`${tool} is not available`);
    const host = await strataRegistry(t);
    const podmanArgs = tool === 'podman' ? ['--runtime', 'runc'] : [];
    const tls = tool === 'podman' ? ['--tls-verify=false'] : [];
    const source = tempDir('strata-engines-root-');
    strataOk(source, ['import', '-c', 'CMD ["sh"]', busyboxTar(), `${host}/strata/base:v1`]);
    strataOk(source, ['push', '-q', `${host}/strata/base:v1`]);
    const id = JSON.parse(strataOk(source, ['inspect', `${host}/strata/base:v1`]))[0].Id as string;

    run(tool, [...podmanArgs, 'pull', '-q', ...tls, `${host}/strata/base:v1`]);
    assert.equal(run(tool, [...podmanArgs, 'inspect', '--format', '{{.Id}}', `${host}/strata/base:v1`]).trim().replace(/^(sha256:)?/, 'sha256:'), id);
    run(tool, [...podmanArgs, 'tag', `${host}/strata/base:v1`, `${host}/${tool}/pushed:v2`]);
    run(tool, [...podmanArgs, 'push', ...tls, `${host}/${tool}/pushed:v2`]);

    const root = tempDir('strata-engines-root-');
    strataOk(root, ['pull', '-q', `${host}/${tool}/pushed:v2`]);
    assert.equal(JSON.parse(strataOk(root, ['inspect', `${host}/${tool}/pushed:v2`]))[0].Id, id);
    run(tool, [...podmanArgs, 'rmi', '-f', `${host}/strata/base:v1`, `${host}/${tool}/pushed:v2`]);
  });
}
