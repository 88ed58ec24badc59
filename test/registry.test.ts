/**
 * The embedded registry over real HTTP on loopback: the OCI distribution protocol flows with node's fetch, each
 * error case, and garbage collection. skopeo, auth and TLS are in registry-interop.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { collectGarbage } from '../src/distribution/registry/index.js';
import { digestOf } from '../src/util/digest.js';
import { type Registry, startRegistry } from './registry-fixture.js';

const octet = { 'Content-Type': 'application/octet-stream' };
const ociManifest = 'application/vnd.oci.image.manifest.v1+json';
const ociIndex = 'application/vnd.oci.image.index.v1+json';

async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as { errors: { code: string; message: string }[] };
  assert.ok(body.errors[0]!.message.length > 0, 'errors carry a message');
  return body.errors[0]!.code;
}

async function expectError(response: Response | Promise<Response>, status: number, code: string): Promise<void> {
  const res = await response;
  assert.equal(res.status, status, `${res.url}: expected ${status} ${code}`);
  assert.equal(await errorCode(res), code);
}

async function pushBlob(reg: Registry, name: string, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  const res = await fetch(`${reg.url}/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: octet, body: new Uint8Array(data) });
  assert.equal(res.status, 201);
  return digest;
}

/** An image manifest over a config and one layer, pushed; returns its bytes and digest. */
async function pushImage(reg: Registry, name: string, tag: string, extra: Record<string, unknown> = {}) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag }));
  const layer = Buffer.from(`layer of ${tag}`);
  const descriptor = (mediaType: string, data: Buffer) => ({ mediaType, digest: digestOf(data), size: data.length });
  await pushBlob(reg, name, config);
  await pushBlob(reg, name, layer);
  const manifest = { schemaVersion: 2, mediaType: ociManifest, config: descriptor('application/vnd.oci.image.config.v1+json', config), layers: [descriptor('application/vnd.oci.image.layer.v1.tar', layer)], ...extra };
  // Odd spacing on purpose: the registry must store and serve the pushed bytes exactly.
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 3)}\n`);
  const res = await fetch(`${reg.url}/v2/${name}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': ociManifest }, body: bytes });
  assert.equal(res.status, 201, await res.clone().text());
  return { bytes, digest: digestOf(bytes), config: digestOf(config), layer: digestOf(layer), response: res };
}

test('ping answers 200 with the API version header', async (t) => {
  const reg = await startRegistry(t);
  const res = await fetch(`${reg.url}/v2/`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  assert.deepEqual(await res.json(), {});
});

test('monolithic push (single POST, and POST then PUT), HEAD and GET; blobs are per repository', async (t) => {
  const reg = await startRegistry(t);
  const data = Buffer.from('hello blob');
  const digest = await pushBlob(reg, 'library/hello', data);
  const head = await fetch(`${reg.url}/v2/library/hello/blobs/${digest}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(data.length));
  assert.equal(head.headers.get('docker-content-digest'), digest);
  const get = await fetch(`${reg.url}/v2/library/hello/blobs/${digest}`);
  assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
  await expectError(fetch(`${reg.url}/v2/other/blobs/${digest}`), 404, 'BLOB_UNKNOWN');

  const second = Buffer.from('second blob');
  const post = await fetch(`${reg.url}/v2/library/hello/blobs/uploads/`, { method: 'POST' });
  assert.equal(post.status, 202);
  const location = post.headers.get('location')!;
  assert.match(location, /^\/v2\/library\/hello\/blobs\/uploads\/[0-9a-f-]{36}$/);
  const put = await fetch(`${reg.url}${location}?digest=${digestOf(second)}`, { method: 'PUT', headers: octet, body: second });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get('location'), `/v2/library/hello/blobs/${digestOf(second)}`);
  assert.deepEqual(Buffer.from(await (await fetch(`${reg.url}${put.headers.get('location')}`)).arrayBuffer()), second);
});

test('chunked upload: in-order PATCHes, 416 out of order, status, final chunk in PUT', async (t) => {
  const reg = await startRegistry(t);
  const data = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
  const post = await fetch(`${reg.url}/v2/chunky/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } });
  let location = post.headers.get('location')!;
  assert.equal(post.headers.get('range'), '0-0');
  const patch = (start: number, end: number) =>
    fetch(`${reg.url}${location}`, { method: 'PATCH', headers: { ...octet, 'Content-Range': `${start}-${end}` }, body: data.subarray(start, end + 1) });
  const first = await patch(0, 9);
  assert.equal(first.status, 202);
  assert.equal(first.headers.get('range'), '0-9');
  location = first.headers.get('location')!;
  await expectError(patch(20, 29), 416, 'BLOB_UPLOAD_INVALID');
  await expectError(patch(0, 9), 416, 'BLOB_UPLOAD_INVALID');
  const status = await fetch(`${reg.url}${location}`);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), '0-9');
  // A chunk whose Content-Range disagrees with its length is refused whole: the offset does not move.
  const short = fetch(`${reg.url}${location}`, { method: 'PATCH', headers: { 'Content-Range': '10-29' }, body: data.subarray(10, 20) });
  await expectError(short, 400, 'SIZE_INVALID');
  assert.equal((await fetch(`${reg.url}${location}`)).headers.get('range'), '0-9');
  assert.equal((await patch(10, 19)).headers.get('range'), '0-19');
  // A streamed chunk without Content-Range (as docker and skopeo send) is appended too.
  const streamed = await fetch(`${reg.url}${location}`, { method: 'PATCH', headers: octet, body: data.subarray(20, 30) });
  assert.equal(streamed.headers.get('range'), '0-29');
  const put = await fetch(`${reg.url}${location}?digest=${digestOf(data)}`, { method: 'PUT', headers: { ...octet, 'Content-Range': '30-35' }, body: data.subarray(30) });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get('docker-content-digest'), digestOf(data));
  assert.deepEqual(Buffer.from(await (await fetch(`${reg.url}/v2/chunky/blobs/${digestOf(data)}`)).arrayBuffer()), data);
  await expectError(fetch(`${reg.url}${location}`), 404, 'BLOB_UPLOAD_UNKNOWN');
  assert.deepEqual(fs.readdirSync(path.join(reg.root, 'uploads')), []);
});

test('a digest mismatch is DIGEST_INVALID and nothing is stored', async (t) => {
  const reg = await startRegistry(t);
  const data = Buffer.from('the real content');
  const wrong = digestOf('something else');
  await expectError(fetch(`${reg.url}/v2/r/blobs/uploads/?digest=${wrong}`, { method: 'POST', headers: octet, body: data }), 400, 'DIGEST_INVALID');
  const location = (await fetch(`${reg.url}/v2/r/blobs/uploads/`, { method: 'POST' })).headers.get('location')!;
  await fetch(`${reg.url}${location}`, { method: 'PATCH', headers: octet, body: data });
  await expectError(fetch(`${reg.url}${location}?digest=${wrong}`, { method: 'PUT' }), 400, 'DIGEST_INVALID');
  for (const digest of [wrong, digestOf(data)]) assert.equal((await fetch(`${reg.url}/v2/r/blobs/${digest}`, { method: 'HEAD' })).status, 404);
  assert.deepEqual(fs.readdirSync(path.join(reg.root, 'blobs', 'sha256')), []);
  assert.deepEqual(fs.readdirSync(path.join(reg.root, 'uploads')), []);
  await expectError(fetch(`${reg.url}/v2/r/blobs/uploads/?digest=sha256:abc`, { method: 'POST', body: data }), 400, 'DIGEST_INVALID');
  await expectError(fetch(`${reg.url}/v2/r/blobs/uploads/?digest=sha512:${'a'.repeat(128)}`, { method: 'POST', body: data }), 400, 'DIGEST_INVALID');
});

test('cancelling an upload removes it', async (t) => {
  const reg = await startRegistry(t);
  const location = (await fetch(`${reg.url}/v2/r/blobs/uploads/`, { method: 'POST' })).headers.get('location')!;
  await fetch(`${reg.url}${location}`, { method: 'PATCH', body: Buffer.from('partial') });
  assert.equal((await fetch(`${reg.url}${location}`, { method: 'DELETE' })).status, 204);
  await expectError(fetch(`${reg.url}${location}`), 404, 'BLOB_UPLOAD_UNKNOWN');
  await expectError(fetch(`${reg.url}/v2/r/blobs/uploads/not-a-uuid`), 404, 'BLOB_UPLOAD_UNKNOWN');
  // An upload belongs to its repository.
  const other = (await fetch(`${reg.url}/v2/r/blobs/uploads/`, { method: 'POST' })).headers.get('location')!;
  await expectError(fetch(`${reg.url}${other.replace('/v2/r/', '/v2/s/')}`), 404, 'BLOB_UPLOAD_UNKNOWN');
});

test('blob GET honours Range: partial content, suffixes, and 416 outside the blob', async (t) => {
  const reg = await startRegistry(t);
  const data = Buffer.from('abcdefghijklmnopqrstuvwxyz');
  const digest = await pushBlob(reg, 'r', data);
  const get = (range: string) => fetch(`${reg.url}/v2/r/blobs/${digest}`, { headers: { Range: range } });
  for (const [range, start, end] of [['bytes=0-4', 0, 4], ['bytes=20-', 20, 25], ['bytes=-3', 23, 25], ['bytes=10-1000', 10, 25]] as const) {
    const res = await get(range);
    assert.equal(res.status, 206, range);
    assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/26`);
    assert.equal(await res.text(), data.subarray(start, end + 1).toString());
  }
  for (const range of ['bytes=26-30', 'bytes=500-0']) {
    const res = await get(range);
    assert.equal(res.status, 416, range);
    assert.equal(res.headers.get('content-range'), 'bytes */26');
    await res.body?.cancel();
  }
  assert.equal((await fetch(`${reg.url}/v2/r/blobs/${digest}`)).headers.get('accept-ranges'), 'bytes');
});

test('cross-repository mount links a blob; an unknown one starts an upload instead', async (t) => {
  const reg = await startRegistry(t);
  const digest = await pushBlob(reg, 'source/repo', Buffer.from('shared layer'));
  const mount = await fetch(`${reg.url}/v2/target/blobs/uploads/?mount=${digest}&from=source/repo`, { method: 'POST' });
  assert.equal(mount.status, 201);
  assert.equal(mount.headers.get('location'), `/v2/target/blobs/${digest}`);
  assert.equal((await fetch(`${reg.url}/v2/target/blobs/${digest}`, { method: 'HEAD' })).status, 200);
  const missing = await fetch(`${reg.url}/v2/target/blobs/uploads/?mount=${digestOf('nope')}&from=source/repo`, { method: 'POST' });
  assert.equal(missing.status, 202);
  assert.match(missing.headers.get('location')!, /\/v2\/target\/blobs\/uploads\//);
  assert.equal(fs.readdirSync(path.join(reg.root, 'blobs', 'sha256')).length, 1, 'a mounted blob is stored once');
});

test('manifests: exact bytes by tag and digest, media type, negotiation, missing blobs, wrong digests', async (t) => {
  const reg = await startRegistry(t);
  const image = await pushImage(reg, 'app', 'v1');
  assert.equal(image.response.headers.get('docker-content-digest'), image.digest);
  assert.equal(image.response.headers.get('location'), `/v2/app/manifests/${image.digest}`);
  for (const ref of ['v1', image.digest]) {
    const res = await fetch(`${reg.url}/v2/app/manifests/${ref}`, { headers: { Accept: `${ociManifest}, ${ociIndex}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), ociManifest);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), image.bytes);
    const head = await fetch(`${reg.url}/v2/app/manifests/${ref}`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(image.bytes.length));
  }
  await expectError(fetch(`${reg.url}/v2/app/manifests/v1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } }), 404, 'MANIFEST_UNKNOWN');
  await expectError(fetch(`${reg.url}/v2/app/manifests/v2`), 404, 'MANIFEST_UNKNOWN');
  await expectError(fetch(`${reg.url}/v2/nothing/manifests/latest`), 404, 'MANIFEST_UNKNOWN');

  const put = (ref: string, body: unknown, type = ociManifest) =>
    fetch(`${reg.url}/v2/app/manifests/${ref}`, { method: 'PUT', headers: { 'Content-Type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const missingLayer = { schemaVersion: 2, mediaType: ociManifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: image.config, size: 1 }, layers: [{ mediaType: 'x', digest: digestOf('missing'), size: 7 }] };
  await expectError(put('broken', missingLayer), 400, 'MANIFEST_BLOB_UNKNOWN');
  await expectError(put('broken', { ...missingLayer, layers: [], config: { ...missingLayer.config, digest: digestOf('no config') } }), 400, 'MANIFEST_BLOB_UNKNOWN');
  await expectError(put(digestOf('other bytes'), { ...missingLayer, layers: [] }), 400, 'DIGEST_INVALID');
  await expectError(put('bad', '{not json'), 400, 'MANIFEST_INVALID');
  await expectError(put('bad', { ...missingLayer, layers: [] }, ociIndex), 400, 'MANIFEST_INVALID');
  await expectError(put('-bad-tag', { ...missingLayer, layers: [] }), 400, 'MANIFEST_INVALID');
  await expectError(fetch(`${reg.url}/v2/app/manifests/broken`), 404, 'MANIFEST_UNKNOWN');

  // An index needs its child manifests in the repository; pushed by digest with ?tag= it gets several tags.
  const index = (digest: string) => ({ schemaVersion: 2, mediaType: ociIndex, manifests: [{ mediaType: ociManifest, digest, size: 10, platform: { architecture: 'amd64', os: 'linux' } }] });
  await expectError(put('multi', index(digestOf('absent manifest')), ociIndex), 400, 'MANIFEST_BLOB_UNKNOWN');
  const indexBytes = JSON.stringify(index(image.digest));
  const tagged = await fetch(`${reg.url}/v2/app/manifests/${digestOf(indexBytes)}?tag=multi&tag=latest`, { method: 'PUT', headers: { 'Content-Type': ociIndex }, body: indexBytes });
  assert.equal(tagged.status, 201);
  assert.equal(tagged.headers.get('oci-tag'), 'multi, latest');
  const latest = await fetch(`${reg.url}/v2/app/manifests/latest`);
  assert.equal(latest.headers.get('content-type'), ociIndex);
  assert.equal(await latest.text(), indexBytes);
});

test('tags list: ASCII order, n/last pagination with a Link header, 404 for an unknown repository', async (t) => {
  const reg = await startRegistry(t);
  const first = await pushImage(reg, 'paged/repo', 'b');
  const tags = ['a', 'B', 'c', 'd', 'e'];
  for (const tag of tags) {
    const res = await fetch(`${reg.url}/v2/paged/repo/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': ociManifest }, body: first.bytes });
    assert.equal(res.status, 201);
  }
  const all = ['B', 'a', 'b', 'c', 'd', 'e'];
  assert.deepEqual(await (await fetch(`${reg.url}/v2/paged/repo/tags/list`)).json(), { name: 'paged/repo', tags: all });
  const pages: string[][] = [];
  let next: string | undefined = '/v2/paged/repo/tags/list?n=4';
  for (let i = 0; next && i < 10; i++) {
    const res: Response = await fetch(`${reg.url}${next}`);
    pages.push(((await res.json()) as { tags: string[] }).tags);
    next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1];
  }
  assert.deepEqual(pages, [['B', 'a', 'b', 'c'], ['d', 'e']]);
  assert.deepEqual(((await (await fetch(`${reg.url}/v2/paged/repo/tags/list?last=c`)).json()) as { tags: string[] }).tags, ['d', 'e']);
  const none = await fetch(`${reg.url}/v2/paged/repo/tags/list?n=0`);
  assert.deepEqual(((await none.json()) as { tags: string[] }).tags, []);
  assert.equal(none.headers.get('link'), null);
  await expectError(fetch(`${reg.url}/v2/unknown/repo/tags/list`), 404, 'NAME_UNKNOWN');
  assert.deepEqual(await (await fetch(`${reg.url}/v2/_catalog`)).json(), { repositories: ['paged/repo'] });
});

test('referrers: manifests with a subject, filtered by artifactType', async (t) => {
  const reg = await startRegistry(t);
  const subject = await pushImage(reg, 'signed', 'v1');
  const subjectDescriptor = { mediaType: ociManifest, digest: subject.digest, size: subject.bytes.length };
  const sbom = await pushImage(reg, 'signed', 'sbom', { artifactType: 'application/vnd.example.sbom', subject: subjectDescriptor, annotations: { kind: 'sbom' } });
  assert.equal(sbom.response.headers.get('oci-subject'), subject.digest);
  const sig = await pushImage(reg, 'signed', 'sig', { subject: subjectDescriptor });
  const list = async (query = '') => {
    const res = await fetch(`${reg.url}/v2/signed/referrers/${subject.digest}${query}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), ociIndex);
    return { res, body: (await res.json()) as { manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[] } };
  };
  const { body } = await list();
  assert.deepEqual(body.manifests.map((m) => m.digest).sort(), [sbom.digest, sig.digest].sort());
  const sbomEntry = body.manifests.find((m) => m.digest === sbom.digest)!;
  assert.equal(sbomEntry.artifactType, 'application/vnd.example.sbom');
  assert.deepEqual(sbomEntry.annotations, { kind: 'sbom' });
  // Without its own artifactType, an image manifest's is its config's media type.
  assert.equal(body.manifests.find((m) => m.digest === sig.digest)!.artifactType, 'application/vnd.oci.image.config.v1+json');
  const filtered = await list('?artifactType=application/vnd.example.sbom');
  assert.equal(filtered.res.headers.get('oci-filters-applied'), 'artifactType');
  assert.deepEqual(filtered.body.manifests.map((m) => m.digest), [sbom.digest]);
  assert.deepEqual((await list().then(() => fetch(`${reg.url}/v2/signed/referrers/${digestOf('nothing')}`)).then((r) => r.json())).manifests, []);
  await expectError(fetch(`${reg.url}/v2/signed/referrers/sha256:zz`), 400, 'DIGEST_INVALID');
  assert.equal((await fetch(`${reg.url}/v2/signed/manifests/${sbom.digest}`, { method: 'DELETE' })).status, 202);
  assert.deepEqual((await list()).body.manifests.map((m) => m.digest), [sig.digest]);
});

test('deleting tags, manifests and blobs; garbage collection keeps only what manifests reference', async (t) => {
  const reg = await startRegistry(t);
  const keep = await pushImage(reg, 'gc', 'keep');
  const drop = await pushImage(reg, 'gc', 'drop');
  const stray = await pushBlob(reg, 'gc', Buffer.from('never referenced'));
  assert.equal((await fetch(`${reg.url}/v2/gc/manifests/drop`, { method: 'DELETE' })).status, 202);
  await expectError(fetch(`${reg.url}/v2/gc/manifests/drop`), 404, 'MANIFEST_UNKNOWN');
  assert.equal((await fetch(`${reg.url}/v2/gc/manifests/${drop.digest}`)).status, 200, 'deleting a tag keeps the manifest');
  await fetch(`${reg.url}/v2/gc/manifests/also`, { method: 'PUT', headers: { 'Content-Type': ociManifest }, body: drop.bytes });
  assert.equal((await fetch(`${reg.url}/v2/gc/manifests/${drop.digest}`, { method: 'DELETE' })).status, 202);
  await expectError(fetch(`${reg.url}/v2/gc/manifests/${drop.digest}`), 404, 'MANIFEST_UNKNOWN');
  await expectError(fetch(`${reg.url}/v2/gc/manifests/also`), 404, 'MANIFEST_UNKNOWN');
  await expectError(fetch(`${reg.url}/v2/gc/manifests/${drop.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');

  const dry = collectGarbage(reg.root, { dryRun: true });
  assert.deepEqual(new Set(dry.deleted), new Set([drop.digest, drop.config, drop.layer, stray]));
  assert.equal((await fetch(`${reg.url}/v2/gc/blobs/${stray}`, { method: 'HEAD' })).status, 200, 'a dry run deletes nothing');
  const report = collectGarbage(reg.root);
  assert.equal(report.deleted.length, 4);
  assert.equal(report.kept, 3);
  for (const digest of [drop.layer, stray]) assert.equal((await fetch(`${reg.url}/v2/gc/blobs/${digest}`, { method: 'HEAD' })).status, 404);
  const kept = await fetch(`${reg.url}/v2/gc/manifests/keep`);
  assert.deepEqual(Buffer.from(await kept.arrayBuffer()), keep.bytes);
  assert.equal((await fetch(`${reg.url}/v2/gc/blobs/${keep.layer}`)).status, 200);

  assert.equal((await fetch(`${reg.url}/v2/gc/blobs/${keep.layer}`, { method: 'DELETE' })).status, 202);
  await expectError(fetch(`${reg.url}/v2/gc/blobs/${keep.layer}`), 404, 'BLOB_UNKNOWN');
  await expectError(fetch(`${reg.url}/v2/gc/blobs/${keep.layer}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
});

test('bad names, bad digests, unknown endpoints and methods', async (t) => {
  const reg = await startRegistry(t);
  for (const name of ['UPPER', 'a..b', 'trailing-', '-lead', 'a//b', `${'x'.repeat(256)}`]) {
    await expectError(fetch(`${reg.url}/v2/${name}/tags/list`), 400, 'NAME_INVALID');
  }
  await expectError(fetch(`${reg.url}/v2/Bad/blobs/uploads/`, { method: 'POST' }), 400, 'NAME_INVALID');
  await expectError(fetch(`${reg.url}/v2/ok/blobs/uploads/?mount=${digestOf('x')}&from=Bad`, { method: 'POST' }), 400, 'NAME_INVALID');
  await expectError(fetch(`${reg.url}/v2/ok/blobs/not-a-digest`), 400, 'DIGEST_INVALID');
  await expectError(fetch(`${reg.url}/v2/ok/blobs/${digestOf('absent')}`), 404, 'BLOB_UNKNOWN');
  await expectError(fetch(`${reg.url}/v2/ok/tags/list`, { method: 'POST' }), 405, 'UNSUPPORTED');
  await expectError(fetch(`${reg.url}/v2/%E0%A4%A/tags/list`), 400, 'NAME_INVALID');
  assert.equal((await fetch(`${reg.url}/v2/ok/nothing-here`)).status, 404);
  assert.equal((await fetch(`${reg.url}/v2/a.b_c__d-e/f/tags/list`)).status, 404, 'a valid multi-component name is accepted');
});
