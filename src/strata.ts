#!/usr/bin/env node
/**
 * The `strata` binary: the command line (src/cli/), given the one edge it starts but must not import, the
 * Engine API service (src/api/, loaded only for `system service`).
 */
import { main } from './cli/main.js';

await main(process.argv, { serveApi: async (engine, options) => (await import('./api/service.js')).serve(engine, options) });
