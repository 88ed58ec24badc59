import fs from 'node:fs';
import { invalidArgument, isNodeError, notFound } from '../errors.js';
import { resolveInRoot } from '../util/rootpath.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** As Docker writes them into the runtime spec: the primary gid first, then the /etc/group memberships. */
  additionalGids: number[];
  /** From passwd; '/' for a uid passwd does not know (runc sets HOME to it). */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const maxId = 2 ** 31 - 1;

/**
 * Go's strconv.Atoi, which runc uses to decide whether a user or group is numeric: optional sign, decimal
 * digits, within int64 (outside it, the text counts as a name).
 */
function atoi(text: string): number | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const value = BigInt(text);
  return value >= -(2n ** 63n) && value < 2n ** 63n ? Number(value) : undefined;
}

/** runc's passwd parser: lines trimmed, blank ones skipped, a bad number read as 0, missing fields empty. */
function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [name = '', , uid = '', gid = '', , home = ''] = line.split(':');
      return { name, uid: atoi(uid) ?? 0, gid: atoi(gid) ?? 0, home };
    });
}

/** runc's group parser: like passwd, but '#' comments are skipped (as glibc does). */
function parseGroup(text: string): GroupEntry[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [name = '', , gid = '', members = ''] = line.split(':');
      return { name, gid: atoi(gid) ?? 0, members: members === '' ? [] : members.split(',') };
    });
}

function checkRange(id: number): number {
  if (id < 0 || id > maxId) throw invalidArgument(`uids and gids must be in range 0-${maxId}`);
  return id;
}

/**
 * Resolves `--user` / the image's User against the container's /etc/passwd and /etc/group text, with runc's
 * rules (libcontainer/user.GetExecUser, which Docker calls): '' is uid 0; a number is always a uid, even one
 * passwd lacks; a name must exist; `user:group` takes the group (name or number) instead of the user's own and
 * then adds no memberships. The first matching line wins.
 */
export function resolveUser(spec: string | undefined, passwd: string, group: string): ResolvedUser {
  // runc splits on ':' and ignores anything after a second one.
  const [userArg = '', groupArg = ''] = (spec ?? '').split(':');
  const uidArg = atoi(userArg);
  const gidArg = atoi(groupArg);

  const entry = parsePasswd(passwd).find((u) => (userArg === '' ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  let uid = 0;
  let gid = 0;
  let home = '/';
  if (entry) {
    ({ uid, gid, home } = entry);
  } else if (userArg !== '') {
    if (uidArg === undefined) throw notFound(`unable to find user ${userArg}: no matching entries in passwd file`);
    uid = checkRange(uidArg);
  }

  let memberships: number[] = [];
  if (groupArg !== '') {
    const named = parseGroup(group).find((g) => (gidArg !== undefined ? g.gid === gidArg : g.name === groupArg));
    if (named) gid = named.gid;
    else if (gidArg === undefined) throw notFound(`unable to find group ${groupArg}: no matching entries in group file`);
    else gid = checkRange(gidArg);
  } else if (entry) {
    memberships = parseGroup(group)
      .filter((g) => g.members.includes(entry.name))
      .map((g) => g.gid);
  }
  return { uid, gid, additionalGids: [gid, ...memberships], home };
}

/**
 * Reads a file of a container's root filesystem (say /etc/passwd) with every symlink on the way resolved inside
 * that root, so an image cannot point Strata at a host file. Undefined when the file does not exist.
 */
export function readContainerFile(rootfs: string, file: string): string | undefined {
  try {
    return fs.readFileSync(resolveInRoot(rootfs, file), 'utf8');
  } catch (error) {
    if (isNodeError(error, 'ENOENT') || isNodeError(error, 'ENOTDIR')) return undefined;
    throw error;
  }
}
