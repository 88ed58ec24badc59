import type { Writable } from 'node:stream';
import { shortId } from '../util/digest.js';
import type { BuildReporter } from './builder.js';

/**
 * The classic builder's transcript, line by line (`Step i/N : ...`, ` ---> Using cache`, ` ---> <id>`), for an
 * edge to write its own way: the CLI to stdout, the Engine API as `{"stream"}` messages. `contextSize` is the
 * line for the context's size, when the edge prints one.
 */
export function classicTranscript(line: (text: string) => void, output: Writable, contextSize: (bytes: number) => void = () => undefined): BuildReporter {
  return {
    contextSize,
    step: (index, total, text) => line(`Step ${index}/${total} : ${text}`),
    triggers: (count) => line(`# Executing ${count} build trigger${count === 1 ? '' : 's'}`),
    usingCache: () => line(' ---> Using cache'),
    cacheMiss: (reason) => line(` ---> Cache miss: ${reason}`),
    runningIn: (id) => line(` ---> Running in ${shortId(id)}`),
    removingContainer: (id) => line(`Removing intermediate container ${shortId(id)}`),
    warning: (text) => line(text),
    stepResult: (id) => line(` ---> ${id ? shortId(id) : ''}`.trimEnd()),
    output,
  };
}
