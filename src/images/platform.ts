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
  return given;
}

/** `os/arch[/variant]` or a lone `arch` (this machine's os), as `--platform` takes it: `linux/arm64`, `linux/arm/v7`, `amd64`. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.length > 3 || parts.some((part) => !/^[a-z0-9_.-]+$/.test(part))) {
    throw invalidArgument(`invalid platform "${text}": expected os/arch[/variant], such as linux/amd64 or linux/arm/v7`);
  }
  const [os, arch, variant] = parts.length === 1 ? [hostPlatform().os, parts[0]!, undefined] : parts;
  const alias = archAliases[arch!];
  const architecture = alias?.architecture ?? arch!;
  const normal = normalVariant(architecture, variant ?? alias?.variant);
  return { os: os!, architecture, ...(normal !== '' && { variant: normal }) };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, ...(platform.variant ? [platform.variant] : [])].join('/');
}

/** Whether an index entry's platform is the one wanted; with no variant asked for, any variant of the architecture does. */
export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  if (wanted.variant === undefined) return true;
  return normalVariant(candidate.architecture, candidate.variant) === normalVariant(wanted.architecture, wanted.variant);
}
