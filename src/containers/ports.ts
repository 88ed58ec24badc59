import net from 'node:net';
import { invalidArgument } from '../errors.js';

/*
 * `-p`/`--publish` as Docker parses it, and the PORTS notation `ps` shows; network.ts publishes the ports.
 */

export type Protocol = 'tcp' | 'udp' | 'sctp';

/** One `-p` binding of one container port, as Docker's nat.ParsePortSpec gives it. */
export interface PortMapping {
  containerPort: number;
  protocol: Protocol;
  /** The host address to listen on, as given (IPv6 without brackets); '': every IPv4 address (slirp4netns binds 0.0.0.0). */
  hostIp: string;
  /** 0: any free port (`-p 80`, `-p 127.0.0.1::80`). */
  hostPort: number;
  /** `-p 8000-8010:80`: any free host port from hostPort to hostPortEnd. Absent for a single port. */
  hostPortEnd?: number;
}

/** A mapping as published: the host address and port it listens on. */
export interface PublishedPort {
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** An IPv4 address; 0.0.0.0 for a mapping without one. */
  hostIp: string;
  hostPort: number;
}

/** docker/cli convertToStandardNotation: the long form `published=8080,target=80,protocol=udp` is `8080:80/udp`. */
function standardNotation(spec: string): string {
  if (!spec.includes('=')) return spec;
  const params = new Map([['protocol', 'tcp']]);
  for (const param of spec.split(',')) {
    const eq = param.indexOf('=');
    if (eq <= 0) throw invalidArgument(`invalid publish opts format (should be name=value but got '${param}')`);
    params.set(param.slice(0, eq), param.slice(eq + 1));
  }
  return `${params.get('published') ?? ''}:${params.get('target') ?? ''}/${params.get('protocol') ?? ''}`;
}

/** go-connections nat parsePortNumber: a decimal (an optional sign, Go's ParseInt) from 0 to 65535. */
function parsePortNumber(text: string): number | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 0 && port <= 65535 ? port : undefined;
}

/** go-connections nat parsePortRange: `N` or `N-M` with M >= N. */
function parsePortRange(text: string): [number, number] | undefined {
  if (text === '') return undefined;
  const dash = text.indexOf('-');
  const startText = dash === -1 ? text : text.slice(0, dash);
  const endText = dash === -1 ? startText : text.slice(dash + 1);
  const start = parsePortNumber(startText);
  if (start === undefined) return undefined;
  if (endText === startText) return [start, start];
  const end = parsePortNumber(endText);
  if (end === undefined || end < start) return undefined;
  return [start, end];
}

/** Go's net.SplitHostPort(ip + ':') for an address in brackets: the address, or the AddrError's text. */
function unbracket(ip: string): { host: string } | { error: string } {
  const hostport = `${ip}:`;
  const fail = (why: string) => ({ error: `address ${hostport}: ${why}` });
  const last = hostport.lastIndexOf(':');
  const end = hostport.indexOf(']');
  if (end < 0) return fail("missing ']' in address");
  if (end + 1 !== last) return fail(hostport[end + 1] === ':' ? 'too many colons in address' : 'missing port in address');
  if (hostport.indexOf('[', 1) >= 0) return fail("unexpected '[' in address");
  if (hostport.indexOf(']', end + 1) >= 0) return fail("unexpected ']' in address");
  return { host: hostport.slice(1, end) };
}

/** Go's net.ParseIP: dotted IPv4 or IPv6 text, no zone. */
const isIpAddress = (ip: string) => net.isIP(ip) !== 0 && !ip.includes('%');

/**
 * `-p`/`--publish SPEC` after docker/cli and go-connections' nat.ParsePortSpec, with their error messages:
 * `[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`, where the ports may be ranges of equal length (`8000-8001:80-81`),
 * an empty or absent host port means any free one, a host range with a single container port means any free one
 * from the range, IP may be IPv6 in brackets, PROTO is tcp (default), udp or sctp; and the long form
 * `published=8080,target=80,protocol=udp`. A container port range gives one mapping per port, hence the list.
 */
export function parsePublish(spec: string): PortMapping[] {
  const raw = standardNotation(spec);
  const parts = raw.split(':');
  const n = parts.length;
  let ip = n >= 3 ? parts.slice(0, n - 2).join(':') : '';
  const hostPortText = n >= 2 ? parts[n - 2]! : '';
  const slash = parts[n - 1]!.indexOf('/');
  const containerPortText = slash === -1 ? parts[n - 1]! : parts[n - 1]!.slice(0, slash);
  if (containerPortText === '') throw invalidArgument(`no port specified: ${raw}<empty>`);
  const protocol = (slash === -1 || slash === parts[n - 1]!.length - 1 ? 'tcp' : parts[n - 1]!.slice(slash + 1)).toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') throw invalidArgument(`invalid proto: ${protocol}`);

  if (ip.startsWith('[')) {
    const result = unbracket(ip);
    if ('error' in result) throw invalidArgument(`invalid IP address ${ip}: ${result.error}`);
    ip = result.host;
  }
  if (ip !== '' && !isIpAddress(ip)) throw invalidArgument(`invalid IP address: ${ip}`);

  const containerRange = parsePortRange(containerPortText);
  if (!containerRange) throw invalidArgument(`invalid containerPort: ${containerPortText}`);
  const [start, end] = containerRange;
  let hostRange: [number, number] | undefined;
  if (hostPortText !== '') {
    hostRange = parsePortRange(hostPortText);
    if (!hostRange) throw invalidArgument(`invalid hostPort: ${hostPortText}`);
    if (end - start !== hostRange[1] - hostRange[0] && end !== start) {
      throw invalidArgument(`invalid ranges specified for container and host Ports: ${containerPortText} and ${hostPortText}`);
    }
  }
  // Docker's parser takes container port 0; nothing can listen on it, so it is refused here.
  if (start === 0) throw invalidArgument(`invalid containerPort: ${containerPortText}`);

  return Array.from({ length: end - start + 1 }, (_, i): PortMapping => {
    const mapping: PortMapping = { containerPort: start + i, protocol, hostIp: ip, hostPort: hostRange ? hostRange[0] + i : 0 };
    if (hostRange && start === end && hostRange[0] !== hostRange[1]) mapping.hostPortEnd = hostRange[1];
    return mapping;
  });
}

/** Docker's PORTS notation for one published port: `0.0.0.0:8080->80/tcp`. */
export function formatPort(port: PublishedPort): string {
  return `${port.hostIp.includes(':') ? `[${port.hostIp}]` : port.hostIp}:${port.hostPort}->${port.containerPort}/${port.protocol}`;
}
