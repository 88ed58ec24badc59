/**
 * ADD of a git repository, as BuildKit reads the source: `https://host/repo.git#REF:SUBDIR`, `git://...`,
 * `ssh://...` or `git@host:repo`; REF a branch, tag or commit (default: the remote's HEAD), SUBDIR the part to add.
 * The repository is cloned with Debian's git into a temp dir; without --keep-git-dir its .git is left out.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument, notFound, unavailable } from '../errors.js';

export function isGitSource(source: string): boolean {
  return /^git@[^:/]+:/.test(source) || /^(git|ssh):\/\//.test(source) || /^https?:\/\/[^#]*\.git\/?(#.*)?$/i.test(source);
}

/** `URL#REF:SUBDIR`: the fragment's ref and subdirectory, each optional. */
export function parseGitSource(source: string): { url: string; ref?: string; subdir?: string } {
  const hash = source.indexOf('#');
  if (hash < 0) return { url: source };
  const fragment = source.slice(hash + 1);
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? undefined : fragment.slice(colon + 1);
  return { url: source.slice(0, hash), ...(ref && { ref }), ...(subdir && { subdir }) };
}

function git(args: string[], cwd?: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // No prompt for credentials: a build never waits for a terminal.
    const child = spawn('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => reject(unavailable('git is not installed (apt-get install git): ADD of a git repository needs it', { cause: error })));
    child.on('close', (status) => resolve({ status: status ?? 1, stdout, stderr }));
  });
}

const lastLine = (text: string) => text.trim().split('\n').pop() ?? '';

/**
 * The repository at its ref, checked out under `dir`: the checkout, its entries (parents first) and the SUBDIR
 * to add ('.' for all); `checksum` (ADD --checksum) must be the commit it is at.
 */
export async function cloneGitSource(
  source: string,
  dir: string,
  options: { keepGitDir: boolean; checksum?: string; where: string },
): Promise<{ checkout: string; entries: { rel: string; stat: fs.BigIntStats }[]; subdir: string }> {
  const { url, ref, subdir } = parseGitSource(source);
  const checkout = path.join(dir, 'checkout');
  const cloned = await git(['clone', '--quiet', '--no-checkout', '--', url, checkout]);
  if (cloned.status !== 0) throw notFound(`${options.where}: cannot clone ${url}: ${lastLine(cloned.stderr)}`);
  let commit: string | undefined;
  for (const candidate of ref ? [`${ref}^{commit}`, `origin/${ref}^{commit}`] : ['HEAD^{commit}']) {
    const parsed = await git(['rev-parse', '--verify', '--quiet', candidate], checkout);
    if (parsed.status === 0) {
      commit = parsed.stdout.trim();
      break;
    }
  }
  if (!commit) throw notFound(`${options.where}: git ref "${ref ?? 'HEAD'}" does not exist in ${url}`);
  if (options.checksum !== undefined && options.checksum !== commit) throw invalidArgument(`${options.where}: checksum mismatch for ${source}: expected ${options.checksum}, got commit ${commit}`);
  const checked = await git(['checkout', '--quiet', '--detach', commit], checkout);
  if (checked.status !== 0) throw invalidArgument(`${options.where}: cannot check out ${commit} of ${url}: ${lastLine(checked.stderr)}`);
  if (!options.keepGitDir) fs.rmSync(path.join(checkout, '.git'), { recursive: true, force: true });
  return { checkout, entries: walk(checkout), subdir: subdir ?? '.' };
}

/** Every path below `dir`, parents first, as the context's entries are listed. */
function walk(dir: string, below = ''): { rel: string; stat: fs.BigIntStats }[] {
  const out: { rel: string; stat: fs.BigIntStats }[] = [];
  for (const name of fs.readdirSync(path.join(dir, below)).sort()) {
    const rel = below ? `${below}/${name}` : name;
    const stat = fs.lstatSync(path.join(dir, rel), { bigint: true });
    out.push({ rel, stat });
    if (stat.isDirectory()) out.push(...walk(dir, rel));
  }
  return out;
}
