/**
 * `npm run build`'s second half: bundles the CLI that tsc wrote (dist/src/strata.js and what it imports) into
 * dist/src/strata.bundle.cjs, one file that dist/src/strata-bin.cjs runs, and writes the V8 code cache for it.
 * npm packages stay outside, loaded at run time as today: better-sqlite3 and build/Release/fsx.node are native,
 * and diff.ts and pax.ts patch tar-stream's own module. Each module keeps its own import.meta.url, so paths made
 * from it (the fsx addon, conmon's exit command) are those of the unbundled files.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import * as esbuild from 'esbuild';

const src = fileURLToPath(new URL('../dist/src/', import.meta.url));
const bundle = path.join(src, 'strata.bundle.cjs');
const packageJson = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

/** import.meta.url as the module's own file, made from the bundle's directory (the bundle moves with dist/src). */
const ownUrl = {
  name: 'own-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      if (!args.path.startsWith(src) || !text.includes('import.meta.url')) return undefined;
      const relative = JSON.stringify(path.relative(src, args.path));
      return { contents: text.replaceAll('import.meta.url', `__moduleUrl(${relative})`), loader: 'js' };
    });
  },
};

await esbuild.build({
  entryPoints: [path.join(src, 'strata.js')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: [...Object.keys(packageJson.dependencies).filter((name) => name !== 'commander'), '*.node'],
  plugins: [ownUrl],
  // The file is one function of the module variables, which strata-bin.cts compiles with vm.Script and calls.
  banner: {
    js: "(function (require, module, __filename, __dirname) {\nconst __moduleUrl = (file) => require('node:url').pathToFileURL(require('node:path').join(__dirname, file)).href;",
  },
  footer: { js: '})' },
  logLevel: 'warning',
});

// The cache holds what V8 has compiled when it is made: made after `images -q` on an empty store has run, it
// also holds what every command runs (the command line's parsing, opening the store), not only the top level.
const source = fs.readFileSync(bundle, 'utf8');
const script = new vm.Script(source, { filename: bundle });
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bundle-'));
process.argv = [process.argv[0], bundle, '--root', root, 'images', '-q'];
process.once('beforeExit', () => {
  fs.writeFileSync(`${bundle}.cache`, script.createCachedData());
  fs.rmSync(root, { recursive: true, force: true });
});
script.runInThisContext()(createRequire(bundle), { exports: {} }, bundle, src);
