import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../../errors.js';

export interface Credentials {
  username: string;
  password: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  /** A credential helper for every registry: `docker-credential-<name>`. */
  credsStore?: string;
  /** Helpers per registry, before credsStore. */
  credHelpers?: Record<string, string>;
}

/** The helper a config names for a registry, as Docker chooses it: credHelpers first, then credsStore. */
const helperFor = (config: DockerConfig, key: string): string | undefined => config.credHelpers?.[key] ?? config.credsStore;

/**
 * Runs Docker's credential-helper protocol: `docker-credential-<name> get|store|erase`, the request on stdin,
 * JSON on stdout. A helper that is missing or fails is a one-line error, except `get` of unknown credentials.
 */
function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): string | undefined {
  const command = `docker-credential-${helper}`;
  const result = spawnSync(command, [action], { input, encoding: 'utf8' });
  if (result.error) throw new StrataError('failed-precondition', `credential helper ${command}: ${(result.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found in PATH' : result.error.message}`, { cause: result.error });
  if (result.status === 0) return result.stdout;
  const message = (result.stdout || result.stderr).trim();
  if (action !== 'store' && /credentials not found/i.test(message)) return undefined;
  throw new StrataError('failed-precondition', `credential helper ${command} ${action}: ${message || `exit ${result.status}`}`);
}

function helperCredentials(helper: string, key: string): Credentials | undefined {
  const output = runHelper(helper, 'get', key);
  if (output === undefined) return undefined;
  const { Username: username, Secret: password } = JSON.parse(output) as { Username?: string; Secret?: string };
  // "<token>" is an identity token for an OAuth refresh flow, which Strata does not speak: treated as absent.
  return username && username !== '<token>' && password !== undefined ? { username, password } : undefined;
}

/** Strata keeps credentials in Docker's config format, in its own file; Docker's file is read too. */
export function strataConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.STRATA_CONFIG ?? path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'strata', 'config.json');
}

function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'), 'config.json');
}

/** A config file in Docker's JSON form (config.json, daemon.json); absent or unreadable is empty. */
export function readConfig(file: string): DockerConfig & Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as DockerConfig & Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Docker keys Docker Hub's credentials under its old index URL. */
export function configKey(host: string): string {
  return host === 'docker.io' ? 'https://index.docker.io/v1/' : host;
}

/** A registry's credentials: from Strata's config, then Docker's, each through its credential helper or its auths. */
export function findCredentials(host: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const key = configKey(host);
  for (const file of [strataConfigPath(env), dockerConfigPath(env)]) {
    const config = readConfig(file);
    const helper = helperFor(config, key);
    if (helper) {
      const found = helperCredentials(helper, key);
      if (found) return found;
      continue;
    }
    const entry = config.auths?.[key];
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

/**
 * Writes (or with `undefined`, removes) a registry's credentials: through the credential helper Strata's config
 * names, else in that file, mode 0600. Returns whether there were credentials before.
 */
export function storeCredentials(host: string, credentials: Credentials | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const file = strataConfigPath(env);
  const config = readConfig(file);
  const key = configKey(host);
  const helper = helperFor(config, key);
  if (helper) {
    const existed = helperCredentials(helper, key) !== undefined;
    if (credentials) runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: credentials.username, Secret: credentials.password }));
    else if (existed) runHelper(helper, 'erase', key);
    return existed;
  }
  const auths = { ...(config.auths ?? {}) };
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
