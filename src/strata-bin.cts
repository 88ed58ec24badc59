#!/usr/bin/env node
/**
 * The `strata` binary (package.json's bin). It runs the one-file bundle of strata.ts that `npm run build` makes
 * (scripts/bundle.mjs), compiled from the V8 code cache made with it: Node then neither resolves, reads nor
 * parses the CLI's ~60 modules on each command, most of what a short command cost above Node's own start-up.
 * With no bundle, or one older than this file (tsc has run since, so the modules may be newer), it runs the
 * modules, so a `tsc` alone never leaves a stale CLI behind.
 */
import fs = require('node:fs');
import path = require('node:path');
import vm = require('node:vm');
import { createRequire } from 'node:module';

const bundle = path.join(__dirname, 'strata.bundle.cjs');

/** The bundle's wrapper as compiled: a function of the CommonJS module variables it uses. */
type BundleFunction = (require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;

function runBundle(): boolean {
  let source: string;
  try {
    if (fs.statSync(bundle).mtimeMs < fs.statSync(__filename).mtimeMs) return false;
    source = fs.readFileSync(bundle, 'utf8');
  } catch {
    return false;
  }
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(`${bundle}.cache`);
  } catch {
    // No cache (or another Node made it and V8 will reject it): V8 compiles from source, only slower.
  }
  const script = new vm.Script(source, { filename: bundle, ...(cachedData && { cachedData }) });
  (script.runInThisContext() as BundleFunction)(createRequire(bundle), { exports: {} }, bundle, __dirname);
  return true;
}

if (!runBundle()) void import('./strata.js');
