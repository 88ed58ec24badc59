import type { ServerResponse } from 'node:http';
import { noCpuStats, type StatsSample, zeroTime } from '../../containers/stats.js';
import { isNotFound } from '../../errors.js';
import { boolParam, JsonStream, sendJson } from '../http.js';
import type { Router } from '../router.js';
import type { ApiContext } from '../server.js';

/** Docker's StatsJSON: a sample with the one before it (preread, precpu_stats), in Docker's field order. */
function statsJson(sample: StatsSample, previous: StatsSample | undefined) {
  const { read, cpu_stats, memory_stats, name, id, networks, ...rest } = sample;
  return {
    read,
    preread: previous?.read ?? zeroTime,
    ...rest,
    cpu_stats,
    precpu_stats: previous?.cpu_stats ?? noCpuStats(),
    memory_stats,
    name,
    id,
    ...(networks && { networks }),
  };
}

/** Waits `ms`, or less when the client goes away. */
function waitUnlessGone(res: ServerResponse, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.on('close', done);
  });
}

/** What runs in a container and what it uses: `docker top` and `docker stats`. */
export function statsRoutes(router: Router, { engine }: ApiContext): void {
  router.add('GET', '/containers/{id}/top', async ({ res, params, query }) => {
    sendJson(res, 200, await engine.top(params.id!, query.get('ps_args') ?? ''));
  });

  /**
   * Docker's collector samples every second. stream (the default): a sample at once, then one a second, while
   * the container exists and the client stays, empty ones while it does not run. stream=0: two samples a second
   * apart, the second sent with the first as its precpu_stats (a CPU % needs both), or at once the empty one of a
   * container that does not run. one-shot: one sample at once, no precpu_stats.
   */
  router.add('GET', '/containers/{id}/stats', async ({ res, params, query }) => {
    const stream = boolParam(query, 'stream', true);
    const oneShot = boolParam(query, 'one-shot');
    let sample = await engine.stats(params.id!); // a 404 before the headers
    const out = new JsonStream(res);
    const running = (taken: StatsSample) => taken.read !== zeroTime;
    if (oneShot || (!stream && !running(sample))) {
      out.write(statsJson(sample, undefined));
      out.end();
      return;
    }
    let previous: StatsSample | undefined;
    if (!stream) {
      await waitUnlessGone(res, 1000);
      previous = sample;
      sample = await engine.stats(params.id!);
      out.write(statsJson(sample, previous));
      out.end();
      return;
    }
    while (!out.closed) {
      out.write(statsJson(sample, previous));
      previous = sample;
      await waitUnlessGone(res, 1000);
      if (out.closed) break;
      try {
        sample = await engine.stats(params.id!);
      } catch (error) {
        if (isNotFound(error)) break; // removed: Docker's stream ends with it
        throw error;
      }
    }
    out.end();
  });
}
