import { createHash } from 'node:crypto';
import fs from 'node:fs';
import bcrypt from 'bcryptjs';
import { invalidArgument } from '../../errors.js';

const bcryptPattern = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const maxCached = 1024;

/**
 * Basic auth against an htpasswd file of bcrypt entries (`htpasswd -B`), as the distribution registry accepts.
 * The file is read again when it changes, so users can be added without a restart. bcrypt is slow on purpose;
 * a pull makes dozens of requests, so credentials that verified once are remembered (by a hash of user,
 * password and entry: a changed password or entry no longer matches).
 */
export class HtpasswdAuth {
  private entries = new Map<string, string>();
  private loadedMtime = -1;
  private readonly verified = new Set<string>();

  constructor(readonly file: string) {
    this.reload();
  }

  /** The realm sent in WWW-Authenticate. */
  readonly realm = 'Strata Registry';

  async check(authorization: string | undefined): Promise<boolean> {
    const credentials = parseBasic(authorization);
    if (!credentials) return false;
    this.reload();
    const hash = this.entries.get(credentials.user);
    if (hash === undefined) return false;
    const key = createHash('sha256').update(`${credentials.user}\0${credentials.password}\0${hash}`).digest('hex');
    if (this.verified.has(key)) return true;
    if (!(await bcrypt.compare(credentials.password, hash))) return false;
    if (this.verified.size >= maxCached) this.verified.clear();
    this.verified.add(key);
    return true;
  }

  private reload(): void {
    const mtime = fs.statSync(this.file).mtimeMs;
    if (mtime === this.loadedMtime) return;
    this.entries = parseHtpasswd(fs.readFileSync(this.file, 'utf8'), this.file);
    this.loadedMtime = mtime;
  }
}

export function parseHtpasswd(text: string, file = 'htpasswd'): Map<string, string> {
  const entries = new Map<string, string>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (colon <= 0 || !bcryptPattern.test(hash)) {
      throw invalidArgument(`${file}:${index + 1}: not a "user:bcrypt-hash" entry (create entries with htpasswd -B)`);
    }
    entries.set(user, hash);
  });
  return entries;
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
