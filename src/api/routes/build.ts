import { Writable } from 'node:stream';
import type { BuildReporter } from '../../builder/builder.js';
import { classicTranscript } from '../../builder/transcript.js';
import type { ImageEngine } from '../../image-engine.js';
import { invalidArgument } from '../../errors.js';
import { parsePlatform } from '../../images/platform.js';
import { shortId } from '../../util/digest.js';
import { boolParam, type Call, JsonStream } from '../http.js';

/** A JSON-object query parameter (`buildargs`, `labels`): absent, empty or `null` is none. */
function jsonMap(raw: string | null, name: string): Record<string, string> {
  if (raw === null || raw === '' || raw === 'null') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(`invalid ${name}: expected a JSON object`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidArgument(`invalid ${name}: expected a JSON object`);
  return Object.fromEntries(Object.entries(parsed).filter(([, value]) => value !== null).map(([key, value]) => [key, String(value)]));
}

/** A JSON-list query parameter (`cachefrom`): absent, empty or `null` is none. */
function jsonList(raw: string | null, name: string): string[] {
  if (raw === null || raw === '' || raw === 'null') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(`invalid ${name}: expected a JSON list`);
  }
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) throw invalidArgument(`invalid ${name}: expected a JSON list of strings`);
  return parsed;
}

/**
 * `POST /build`, the classic builder: the request body is the context as a tar (compression sniffed), unpacked
 * with the rules of every tar Strata reads; the transcript streams as `{"stream"}` lines, then the `aux` ID.
 * BuildKit's sessions are not served: `version=2` is refused with the way round it.
 */
export async function buildRoute({ req, res, query }: Call, engine: ImageEngine): Promise<void> {
  if (query.get('version') === '2' || query.get('session')) {
    throw invalidArgument('BuildKit is not supported by Strata: build with the classic builder (DOCKER_BUILDKIT=0)');
  }
  const remote = query.get('remote');
  if (remote) throw invalidArgument('remote build contexts are not supported: send the context as the request body');
  const dockerfile = query.get('dockerfile') || 'Dockerfile';
  const network = query.get('networkmode');
  const platform = query.get('platform') ? parsePlatform(query.get('platform')!) : undefined;
  // The classic builder's cachefrom: a JSON list of images whose history the steps are matched against.
  const cacheFrom = jsonList(query.get('cachefrom'), 'cachefrom').map((ref) => ({ type: 'image' as const, ref }));
  const stream = new JsonStream(res);
  try {
    const result = await engine.build(
      {
        context: { spec: '-', dockerfile, stdin: req },
        tags: query.getAll('t').filter((tag) => tag !== ''),
        buildArgs: jsonMap(query.get('buildargs'), 'buildargs'),
        ...(query.get('target') && { target: query.get('target')! }),
        noCache: boolParam(query, 'nocache'),
        labels: jsonMap(query.get('labels'), 'labels'),
        ...(network === 'none' && { network: 'none' as const }),
        ...(platform && { platform }),
        cacheFrom,
        pull: async (name, platform) => {
          await engine.pull(name, { update: () => undefined, line: (text) => stream.write({ status: text }) }, platform && { platform });
        },
      },
      jsonTranscript(stream, boolParam(query, 'q')),
    );
    stream.write({ aux: { ID: result.id } });
    if (boolParam(query, 'q')) stream.write({ stream: `${result.id}\n` });
    else {
      stream.write({ stream: `Successfully built ${shortId(result.id)}\n` });
      for (const tag of result.tags) stream.write({ stream: `Successfully tagged ${tag}\n` });
    }
  } catch (error) {
    stream.error(error);
  }
  stream.end();
}

/** The classic builder's transcript as the Engine API streams it: `{"stream": ...}` messages. */
function jsonTranscript(stream: JsonStream, quiet = false): BuildReporter {
  const line = quiet ? () => undefined : (text: string) => stream.write({ stream: `${text}\n` });
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!quiet) stream.write({ stream: chunk.toString('utf8') });
      done();
    },
  });
  return classicTranscript(line, output);
}
