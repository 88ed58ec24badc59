import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument, isNodeError } from '../errors.js';

/** securejoin's limit: generous next to the kernel's 40, still ends a loop quickly. */
const maxSymlinks = 255;

/**
 * Resolves `unsafePath` as if `root` were `/`, the way Go's filepath-securejoin (and Docker's
 * symlink.FollowSymlinkInScope) do: each component is looked up under root, a symlink is expanded in place,
 * an absolute link target restarts at root, and `..` is applied lexically so it stops at root. Components that
 * do not exist are taken as plain names. The result is always root itself or a path below it; a later symlink
 * swap can still race this (the caller reads a stopped container's files, which nothing else changes).
 */
export function resolveInRoot(root: string, unsafePath: string): string {
  const rel = resolvePath(unsafePath, (inside) => symlinkTarget(path.join(root, inside)), root);
  return rel === '' ? path.normalize(root) : path.join(root, rel);
}

/**
 * `unsafePath` resolved in root but for its last component, taken as it is named (a symlink there is the link
 * itself, as lstat sees it): Docker's container.ResolvePath, for stat, archive and tar entries. `/` is root.
 */
export function resolveParentInRoot(root: string, unsafePath: string): string {
  const clean = path.posix.join('/', unsafePath);
  if (clean === '/') return path.normalize(root);
  return path.join(resolveInRoot(root, path.posix.dirname(clean)), path.posix.basename(clean));
}

/**
 * The same resolution over any tree that can say whether a path (relative, free of symlinks and `..`) is a
 * symlink and where it points: a directory, or an image's layers read without a mount. Returns the resolved
 * path relative to the tree's root ('' for the root itself).
 */
export function resolvePath(unsafePath: string, linkAt: (rel: string) => string | undefined, where = '/'): string {
  let current = ''; // the path inside root resolved so far: free of symlinks and '..'
  let remaining = unsafePath;
  let linksWalked = 0;
  while (remaining !== '') {
    const slash = remaining.indexOf('/');
    const part = slash === -1 ? remaining : remaining.slice(0, slash);
    remaining = slash === -1 ? '' : remaining.slice(slash + 1);
    const next = path.posix.join('/', current, part);
    if (next === '/') {
      current = '';
      continue;
    }
    const target = linkAt(next.slice(1));
    if (target === undefined) {
      current = next;
      continue;
    }
    if (++linksWalked > maxSymlinks) throw invalidArgument(`${unsafePath}: too many levels of symbolic links under ${where}`);
    remaining = `${target}/${remaining}`;
    if (target.startsWith('/')) current = '';
  }
  return current.replace(/^\//, '');
}

/** Joins relative paths where '' stands for the root: `a` + `b` is `a/b`, '' + `b` is `b`, `a` + '' is `a`. */
export function joinRelative(dir: string, name: string): string {
  return dir === '' ? name : name === '' ? dir : `${dir}/${name}`;
}

/** A symlink's target, or undefined when the path is something else or does not exist. */
function symlinkTarget(file: string): string | undefined {
  try {
    return fs.lstatSync(file).isSymbolicLink() ? fs.readlinkSync(file) : undefined;
  } catch (error) {
    if (isNodeError(error, 'ENOENT') || isNodeError(error, 'ENOTDIR')) return undefined;
    throw error;
  }
}
