import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { invalidArgument } from '../../errors.js';
import type { Timeouts } from '../../util/http.js';
import { isLoopback } from '../../util/proxy.js';
import { readConfig, strataConfigPath } from './auth.js';

/**
 * Registry settings as Docker and Podman take them: which registries may skip TLS verification (named on the
 * command line, in $STRATA_INSECURE_REGISTRIES, in Strata's config file or Docker's daemon.json as
 * `insecure-registries`; loopback always may), which certificates a registry is trusted with (certs.d
 * directories named `host:port`), and the mirrors Docker Hub pulls try first (`registry-mirrors`).
 */

const listOf = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

/** Registries marked insecure outside the command line: the environment, Strata's config, Docker's daemon.json. */
export function configuredInsecureRegistries(env: NodeJS.ProcessEnv = process.env): string[] {
  return [
    ...(env.STRATA_INSECURE_REGISTRIES?.split(',').filter(Boolean) ?? []),
    ...listOf(readConfig(strataConfigPath(env))['insecure-registries']),
    ...listOf(readConfig('/etc/docker/daemon.json')['insecure-registries']),
  ];
}

/**
 * Docker Hub mirrors (`registry-mirrors` in Strata's config file, then in Docker's daemon.json): their hosts, and
 * whether the URL said plain HTTP (such a mirror may then be reached without TLS, as Docker reaches it).
 */
export function registryMirrors(env: NodeJS.ProcessEnv = process.env): { host: string; plainHttp: boolean }[] {
  const urls = [...listOf(readConfig(strataConfigPath(env))['registry-mirrors']), ...listOf(readConfig('/etc/docker/daemon.json')['registry-mirrors'])];
  return urls.flatMap((url) => {
    try {
      const parsed = new URL(/^[a-z]+:\/\//i.test(url) ? url : `https://${url}`);
      return [{ host: parsed.host, plainHttp: parsed.protocol === 'http:' }];
    } catch {
      return [];
    }
  });
}

/**
 * Registry timeouts from the environment: `$STRATA_REGISTRY_TIMEOUT_MS`, milliseconds, sets both the connect and
 * the no-progress timeout (tests use short ones; a user on a link that stalls for minutes, longer ones).
 */
export function configuredTimeouts(env: NodeJS.ProcessEnv = process.env): Partial<Timeouts> {
  const value = env.STRATA_REGISTRY_TIMEOUT_MS;
  if (value === undefined || value === '') return {};
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms <= 0) throw invalidArgument(`STRATA_REGISTRY_TIMEOUT_MS must be a positive number of milliseconds, not ${JSON.stringify(value.slice(0, 40))}`);
  return { connectMs: ms, idleMs: ms };
}

export function isInsecure(domain: string, insecureRegistries: string[] = []): boolean {
  return isLoopback(domain.replace(/:\d+$/, '')) || insecureRegistries.includes(domain);
}

/** Strata's own certs.d beside its config file, then Docker's and Podman's system ones. */
export function certsDirs(domain: string, env: NodeJS.ProcessEnv = process.env): string[] {
  return [path.join(path.dirname(strataConfigPath(env)), 'certs.d'), '/etc/docker/certs.d', '/etc/containers/certs.d'].map((dir) => path.join(dir, domain));
}

/**
 * The HTTPS agent for a registry: undefined (the default, system CAs) unless certs.d has something for it or it
 * is insecure. Docker's layout: `*.crt` are CAs, `name.cert` with `name.key` a client certificate.
 */
export function registryAgent(domain: string, insecure: boolean, env: NodeJS.ProcessEnv = process.env): https.Agent | undefined {
  const ca: string[] = [];
  let client: { cert: Buffer; key: Buffer } | undefined;
  for (const dir of certsDirs(domain, env)) {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if (name.endsWith('.crt')) ca.push(fs.readFileSync(path.join(dir, name), 'utf8'));
      const key = path.join(dir, name.replace(/\.cert$/, '.key'));
      if (name.endsWith('.cert') && !client && fs.existsSync(key)) client = { cert: fs.readFileSync(path.join(dir, name)), key: fs.readFileSync(key) };
    }
  }
  if (ca.length === 0 && !client && !insecure) return undefined;
  return new https.Agent({
    keepAlive: true,
    ...(ca.length > 0 && { ca: [...tls.rootCertificates, ...ca] }),
    ...client,
    rejectUnauthorized: !insecure,
  });
}

/** OpenSSL's verdicts on a certificate chain, which no retry changes (Node puts them in the error's code). */
const certificateCodes = /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE)|ERR_TLS_CERT_ALTNAME_INVALID)/;

/**
 * A TLS failure no retry mends, said the way a user can act on it: an untrusted certificate, or a registry that
 * answers HTTPS in plain HTTP (Docker: "server gave HTTP response to HTTPS client"). Undefined for other errors.
 */
export function tlsProblem(error: unknown, domain: string): string | undefined {
  const { code = '', message = '' } = (error ?? {}) as NodeJS.ErrnoException;
  if (certificateCodes.test(code)) return `TLS certificate not trusted (${message}): add its CA certificate to ${certsDirs(domain)[0]}/ca.crt, or name it with --insecure-registry`;
  if (/wrong version number|packet length too long/.test(message)) return 'the registry answered HTTPS in plain HTTP: name it with --insecure-registry to use HTTP';
  return undefined;
}
