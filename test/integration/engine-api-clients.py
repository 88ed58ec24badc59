"""docker-py against Strata's Engine API: one case per call, named by argv[1], its findings printed as one JSON object.

Run by engine-api-clients.test.ts with DOCKER_HOST=unix://... (docker.from_env). A case that fails raises: the
traceback goes to stderr and the exit code is 1. Every case removes what it made.
"""
import io
import json
import sys
import tarfile
import threading
import time

import docker

client = docker.from_env(timeout=60)
prefix = sys.argv[2] if len(sys.argv) > 2 else 'py'


def tar_of(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def detached(name, command='sleep 1000'):
    return client.containers.run('busybox', ['sh', '-c', command], name=f'{prefix}-{name}', detach=True)


def case_version():
    return {'version': docker.__version__, 'api': client.version()['ApiVersion'], 'os': client.info()['OSType'],
            'images': sorted(tag for image in client.images.list() for tag in image.tags)}


def case_run_remove():
    # docker-py reads the output back through logs only when HostConfig.LogConfig.Type is json-file or journald.
    out = client.containers.run('busybox', ['sh', '-c', 'echo hello; echo oops >&2'], remove=True)
    err = client.containers.run('busybox', ['sh', '-c', 'echo hello; echo oops >&2'], remove=True, stdout=False, stderr=True)
    return {'out': None if out is None else out.decode(), 'err': None if err is None else err.decode()}


def case_run_error():
    try:
        client.containers.run('busybox', ['sh', '-c', 'echo bad >&2; exit 3'], name=f'{prefix}-fails')
    except docker.errors.ContainerError as error:
        client.containers.get(f'{prefix}-fails').remove()
        return {'exit_status': error.exit_status}
    raise AssertionError('no ContainerError')


def case_detached():
    container = detached('detached', 'echo started; echo warn >&2; sleep 1000')
    try:
        for _ in range(100):
            if b'started' in container.logs():
                break
            time.sleep(0.1)
        container.reload()
        failing = container.exec_run(['sh', '-c', 'echo ex; exit 4'])
        demuxed = container.exec_run(['sh', '-c', 'echo o; echo e >&2'], demux=True)
        return {
            'status': container.status,
            'logs': container.logs().decode(),
            'stdout': container.logs(stderr=False).decode(),
            'exec_code': failing.exit_code,
            'exec_out': failing.output.decode(),
            'demux': [part.decode() for part in demuxed.output],
            'listed': [c.name for c in client.containers.list(filters={'name': f'{prefix}-detached'})],
        }
    finally:
        container.remove(force=True)


def case_archive():
    container = detached('archive')
    try:
        ok = container.put_archive('/tmp', tar_of({'from-py.txt': b'put by docker-py\n'}))
        chunks, stat = container.get_archive('/tmp/from-py.txt')
        data = tarfile.open(fileobj=io.BytesIO(b''.join(chunks))).extractfile('from-py.txt').read()
        return {'put': ok, 'stat_name': stat['name'], 'stat_size': stat['size'], 'data': data.decode()}
    finally:
        container.remove(force=True)


def case_diff():
    container = detached('diff', 'echo x > /added.txt; rm /bin/wc; sleep 1000')
    try:
        time.sleep(0.5)
        return {'changes': sorted((change['Kind'], change['Path']) for change in container.diff())}
    finally:
        container.remove(force=True)


def case_commit():
    container = detached('commit', 'echo committed > /c.txt; sleep 1000')
    try:
        time.sleep(0.5)
        # conf= is the request body: its Cmd replaces the container's (echo ...; sleep 1000).
        image = container.commit(repository=f'{prefix}-committed', tag='1', message='from docker-py', conf={'Cmd': ['cat', '/c.txt']})
        out = client.containers.run(image.id, remove=True)
        client.images.remove(f'{prefix}-committed:1')
        return {'out': None if out is None else out.decode(), 'id': image.id}
    finally:
        container.remove(force=True)


def case_build():
    dockerfile = f'FROM busybox\nRUN echo {prefix}-run > /run.txt\nCOPY data.txt /data.txt\nCMD ["cat", "/run.txt", "/data.txt"]\n'
    context = tar_of({'Dockerfile': dockerfile.encode(), 'data.txt': f'{prefix}-data\n'.encode()})
    image, logs = client.images.build(fileobj=context, custom_context=True, tag=f'{prefix}-built:1', rm=True)
    transcript = ''.join(line.get('stream', '') for line in logs)
    context.seek(0)
    again, logs = client.images.build(fileobj=context, custom_context=True, tag=f'{prefix}-built:1', rm=True)
    cached = ''.join(line.get('stream', '') for line in logs)
    # The container's output through attach and wait, without depending on docker-py's log-driver check.
    container = client.containers.run(f'{prefix}-built:1', detach=True)
    code = container.wait()['StatusCode']
    out = container.logs().decode()
    container.remove()
    client.images.remove(f'{prefix}-built:1')
    return {'id': image.id, 'again': again.id, 'transcript': transcript, 'cached': cached, 'code': code, 'out': out}


def case_save_load():
    client.images.get('busybox').tag(f'{prefix}-saved', '1')
    image = client.images.get(f'{prefix}-saved:1')
    # By name: Image.save(named=True) would name the image's first tag, busybox:latest.
    data = b''.join(client.api.get_image(f'{prefix}-saved:1'))
    client.images.remove(f'{prefix}-saved:1')
    loaded = client.images.load(data)
    tags = [tag for each in loaded for tag in each.tags]
    after = client.images.get(f'{prefix}-saved:1').id
    client.images.remove(f'{prefix}-saved:1')
    return {'bytes': len(data), 'tags': tags, 'same_id': after == image.id}


def case_events():
    name = f'{prefix}-events'
    stream = client.events(decode=True, filters={'container': name})
    watchdog = threading.Timer(20, stream.close)
    watchdog.start()
    seen = []
    try:
        client.containers.run('busybox', 'true', name=name, remove=True)
        for event in stream:
            seen.append(event['Action'])
            if event['Action'] == 'destroy':
                break
    finally:
        watchdog.cancel()
        stream.close()
    since = time.time() - 60
    replayed = [e['Action'] for e in client.events(since=since, until=time.time(), decode=True, filters={'container': name})]
    return {'seen': seen, 'replayed': replayed}


def case_stats():
    container = detached('stats')
    try:
        stats = container.stats(stream=False)
        return {'keys': sorted(stats.keys()), 'online_cpus': stats['cpu_stats'].get('online_cpus'), 'memory': stats['memory_stats'].get('usage')}
    finally:
        container.remove(force=True)


if __name__ == '__main__':
    print(json.dumps(globals()[f'case_{sys.argv[1]}']()))
