import type { Engine } from '../../engine.js';
import { invalidArgument } from '../../errors.js';
import { parsePlatform } from '../../images/platform.js';
import { familiarString, formatReference, parseReference } from '../../images/reference.js';
import { print } from '../run.js';

export interface RegistryFlags {
  insecureRegistry?: string[];
}

const registryOptions = (flags: RegistryFlags) => ({
  insecureRegistries: flags.insecureRegistry ?? [],
});

export async function pullCommand(engine: Engine, name: string, flags: RegistryFlags & { quiet?: boolean; platform?: string }) {
  const [{ pullImage }, { progressFor }] = await Promise.all([import('../../distribution/client/pull.js'), import('../../distribution/client/progress.js')]);
  const reference = parseReference(name);
  const platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);
  if (!flags.quiet && reference.tag === 'latest' && !/:latest$/.test(name) && !name.includes('@')) print('Using default tag: latest');
  const quiet = { update: () => undefined, line: () => undefined };
  const progress = flags.quiet ? quiet : progressFor(process.stdout);
  const result = await pullImage(engine, name, progress, { ...registryOptions(flags), ...(platform && { platform }) });
  const shown = familiarString(reference);
  if (!flags.quiet) {
    print(`Digest: ${result.digest}`);
    print(result.upToDate ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}`);
  }
  print(formatReference(reference));
}

export async function pushCommand(engine: Engine, name: string, flags: RegistryFlags & { quiet?: boolean }) {
  const [{ pushImage }, { progressFor }] = await Promise.all([import('../../distribution/client/push.js'), import('../../distribution/client/progress.js')]);
  const quiet = { update: () => undefined, line: () => undefined };
  const result = await pushImage(engine, name, flags.quiet ? quiet : progressFor(process.stdout), registryOptions(flags));
  if (flags.quiet) print(result.digest);
}

async function readPassword(flags: { password?: string; passwordStdin?: boolean }): Promise<string | undefined> {
  if (flags.password !== undefined) return flags.password;
  if (!flags.passwordStdin) return undefined;
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text.replace(/\r?\n$/, '');
}

/** `login`: checks the credentials against the registry (its /v2/ answers 200 once authorized), then stores them. */
export async function loginCommand(server: string | undefined, flags: RegistryFlags & { username?: string; password?: string; passwordStdin?: boolean }) {
  const [{ RegistryClient }, { storeCredentials }] = await Promise.all([import('../../distribution/client/registry.js'), import('../../distribution/client/auth.js')]);
  const host = server ?? 'docker.io';
  const password = await readPassword(flags);
  if (!flags.username || password === undefined) throw invalidArgument('Must provide --username with --password or --password-stdin');
  const client = new RegistryClient(host, '', { ...registryOptions(flags), credentials: { username: flags.username, password } });
  await client.request('GET', '/', { what: `login to ${host}`, scope: 'registry:catalog:*' });
  storeCredentials(host, { username: flags.username, password });
  print('Login Succeeded');
}

export async function logoutCommand(server: string | undefined) {
  const { storeCredentials } = await import('../../distribution/client/auth.js');
  const host = server ?? 'docker.io';
  if (storeCredentials(host, undefined)) print(`Removing login credentials for ${host}`);
  else print(`Not logged in to ${host}`);
}
