import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Credentials {
  username: string;
  password: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
}

/** Strata keeps credentials in Docker's config format, in its own file; Docker's file is read too. */
export function strataConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.STRATA_CONFIG ?? path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'strata', 'config.json');
}

function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'), 'config.json');
}

function readConfig(file: string): DockerConfig {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as DockerConfig;
  } catch {
    return {};
  }
}

/** Docker keys Docker Hub's credentials under its old index URL. */
export function configKey(host: string): string {
  return host === 'docker.io' ? 'https://index.docker.io/v1/' : host;
}

export function findCredentials(host: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  for (const file of [strataConfigPath(env), dockerConfigPath(env)]) {
    const entry = readConfig(file).auths?.[configKey(host)];
    if (!entry) continue;
    if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return undefined;
}

/** Writes (or with `undefined`, removes) a registry's credentials in Strata's config file, mode 0600. */
export function storeCredentials(host: string, credentials: Credentials | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const file = strataConfigPath(env);
  const config = readConfig(file);
  const auths = { ...(config.auths ?? {}) };
  const key = configKey(host);
  const existed = key in auths;
  if (credentials) auths[key] = { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') };
  else delete auths[key];
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(temp, `${JSON.stringify({ ...config, auths }, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
  return existed;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[match[1]!.toLowerCase()] = match[2] ?? match[3] ?? '';
  }
  return { scheme, params };
}
