#!/usr/bin/env node
/**
 * The `strata` command line as modules: the command line (src/cli/), given the one edge it starts but must not
 * import, the Engine API service (src/api/, loaded only for `system service`). scripts/bundle.mjs bundles it
 * from here into the one file strata-bin.cts runs; no top-level await, which a CommonJS bundle cannot hold.
 */
import { main } from './cli/main.js';

main(process.argv, { serveApi: async (engine, options) => (await import('./api/service.js')).serve(engine, options) });
