import type { ImageEngine } from '../../image-engine.js';
import { invalidArgument, notFound } from '../../errors.js';
import { parsePlatform } from '../../images/platform.js';
import { familiarString, formatReference, parseReference, repositoryName } from '../../images/reference.js';
import { print } from '../run.js';

export interface RegistryFlags {
  insecureRegistry?: string[];
}

const registryOptions = (flags: RegistryFlags) => ({
  insecureRegistries: flags.insecureRegistry ?? [],
});

/** Whether NAME carries its own tag or digest (`host:5000/app` does not: that colon is the port's). */
const hasTagOrDigest = (name: string) => name.includes('@') || name.slice(name.lastIndexOf('/') + 1).includes(':');

export async function pullCommand(engine: ImageEngine, name: string, flags: RegistryFlags & { quiet?: boolean; platform?: string; allTags?: boolean }) {
  const [{ remoteTags }, { progressFor }] = await Promise.all([import('../../distribution/client/pull.js'), import('../progress.js')]);
  const reference = parseReference(name);
  const options = { ...registryOptions(flags), ...(flags.platform !== undefined && { platform: parsePlatform(flags.platform) }) };
  const quiet = { update: () => undefined, line: () => undefined };
  const progress = flags.quiet ? quiet : progressFor(process.stdout);
  if (flags.allTags && hasTagOrDigest(name)) throw invalidArgument("tag can't be used with --all-tags/-a");
  if (!flags.quiet && !flags.allTags && !hasTagOrDigest(name)) print('Using default tag: latest');
  const names = flags.allTags ? (await remoteTags(repositoryName(reference), options)).map((tag) => `${repositoryName(reference)}:${tag}`) : [name];
  for (const each of names) {
    const result = await engine.pull(each, progress, options);
    const shown = familiarString(parseReference(each));
    if (!flags.quiet) {
      print(`Digest: ${result.digest}`);
      print(result.upToDate ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}`);
    }
  }
  print(flags.allTags ? repositoryName(reference) : formatReference(reference));
}

export async function pushCommand(engine: ImageEngine, name: string, flags: RegistryFlags & { quiet?: boolean; allTags?: boolean }) {
  const { progressFor } = await import('../progress.js');
  const quiet = { update: () => undefined, line: () => undefined };
  if (flags.allTags && hasTagOrDigest(name)) throw invalidArgument("tag can't be used with --all-tags/-a");
  const repository = repositoryName(parseReference(name));
  const names = flags.allTags ? engine.tagsOfRepository(repository) : [name];
  if (names.length === 0) throw notFound(`An image does not exist locally with the tag: ${name}`);
  for (const each of names) {
    const result = await engine.push(each, flags.quiet ? quiet : progressFor(process.stdout), registryOptions(flags));
    if (flags.quiet) print(result.digest);
  }
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
  const { login } = await import('../../distribution/client/registry.js');
  const host = server ?? 'docker.io';
  const password = await readPassword(flags);
  if (!flags.username || password === undefined) throw invalidArgument('Must provide --username with --password or --password-stdin');
  await login(host, { username: flags.username, password }, registryOptions(flags));
  print('Login Succeeded');
}

export async function logoutCommand(server: string | undefined) {
  const { storeCredentials } = await import('../../distribution/client/auth.js');
  const host = server ?? 'docker.io';
  if (storeCredentials(host, undefined)) print(`Removing login credentials for ${host}`);
  else print(`Not logged in to ${host}`);
}
