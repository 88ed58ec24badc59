import { invalidArgument } from '../errors.js';

/** An image's platform in OCI's vocabulary: os, architecture and (arm) variant. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Node's names for CPU architectures, in Go's (and so OCI's). */
const nodeArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** Other names users and tools give architectures, as containerd normalizes them. */
const archAliases: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  i386: { architecture: '386' },
  aarch64: { architecture: 'arm64' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
};

export function hostPlatform(): Platform {
  return { os: 'linux', architecture: nodeArch[process.arch] ?? process.arch };
}

/** arm64 without a variant is v8 and arm is v7 (containerd's defaults); other architectures have none by default. */
function normalVariant(architecture: string, variant: string | undefined): string {
  const given = (variant ?? '').toLowerCase();
  if (architecture === 'arm64') return given === '' || given === '8' ? 'v8' : given;
  if (architecture === 'arm') return given === '' ? 'v7' : /^\d$/.test(given) ? `v${given}` : given;
  if (architecture === 'amd64') return given === 'v1' ? '' : given;
  return given;
}

/** Operating systems Go knows: a lone `--platform linux` names the os (this machine's architecture), not an arch. */
const knownOs = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'illumos', 'ios', 'js', 'linux', 'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows']);

/** `os/arch[/variant]`, a lone `arch` or a lone `os` (the rest this machine's), as `--platform` takes it. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.length > 3 || parts.some((part) => !/^[a-z0-9_.-]+$/.test(part))) {
    throw invalidArgument(`invalid platform "${text}": expected os/arch[/variant], such as linux/amd64 or linux/arm/v7`);
  }
  const host = hostPlatform();
  const [os, arch, variant] = parts.length > 1 ? parts : knownOs.has(parts[0]!) ? [parts[0]!, host.architecture, host.variant] : [host.os, parts[0]!, undefined];
  const alias = archAliases[arch!];
  const architecture = alias?.architecture ?? arch!;
  const normal = normalVariant(architecture, variant ?? alias?.variant);
  return { os: os!, architecture, ...(normal !== '' && { variant: normal }) };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, ...(platform.variant ? [platform.variant] : [])].join('/');
}

/** The platform as containerd normalizes it for images and BuildKit for TARGETPLATFORM: arm64's default variant (v8) left out. */
export function normalPlatform(platform: Platform): Platform {
  const { variant, ...rest } = platform;
  return rest.architecture === 'arm64' && variant === 'v8' ? rest : platform;
}

/**
 * The variants a machine of this variant also runs, best first, as containerd's platform matcher has them:
 * arm v7 runs v7, v6, v5; amd64 v3 runs v3, v2 and plain amd64. Others run only their own.
 */
function runnableVariants(architecture: string, variant: string): string[] {
  const level = Number(/^v(\d+)$/.exec(variant)?.[1] ?? (architecture === 'amd64' && variant === '' ? 1 : Number.NaN));
  if (architecture === 'arm' && level >= 5 && level <= 8) return Array.from({ length: level - 4 }, (_, i) => `v${level - i}`);
  if (architecture === 'amd64' && level >= 1 && level <= 4) return Array.from({ length: level }, (_, i) => (level - i === 1 ? '' : `v${level - i}`));
  return [variant];
}

/** How well an index entry's platform suits the wanted one: 0 is an exact match, higher is an older variant, undefined none. */
export function platformRank(candidate: Platform, wanted: Platform): number | undefined {
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return undefined;
  const rank = runnableVariants(wanted.architecture, normalVariant(wanted.architecture, wanted.variant)).indexOf(normalVariant(candidate.architecture, candidate.variant));
  return rank === -1 ? undefined : rank;
}

export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  return platformRank(candidate, wanted) !== undefined;
}

/** The entry that suits `wanted` best (exact first, then the newest variant it also runs), if any does. */
export function bestForPlatform<T extends { platform?: Platform }>(entries: T[], wanted: Platform): T | undefined {
  let best: { entry: T; rank: number } | undefined;
  for (const entry of entries) {
    const rank = entry.platform && platformRank(entry.platform, wanted);
    if (rank !== undefined && (!best || rank < best.rank)) best = { entry, rank };
  }
  return best?.entry;
}
