import http from 'node:http';
import net from 'node:net';

/**
 * HTTP proxies from the environment, read as Go's ProxyFromEnvironment reads them (Docker and Podman use it):
 * HTTPS_PROXY for https URLs, HTTP_PROXY for http ones (upper case first), NO_PROXY for exceptions, and
 * loopback addresses never proxied.
 */

/** A URL's host name without the brackets an IPv6 address has in URLs. */
export const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, '');

/** localhost, 127.0.0.0/8 and ::1 (brackets or not): never proxied, and always an insecure registry. */
export const isLoopback = (host: string) =>
  host === 'localhost' || host.endsWith('.localhost') || (net.isIPv4(host) && host.startsWith('127.')) || host === '::1' || host === '[::1]';

/** An IP address in a CIDR block such as 10.0.0.0/8 or 2001:db8::/32. */
function inCidr(host: string, cidr: string): boolean {
  const [base = '', bits = ''] = cidr.split('/');
  const family = net.isIPv4(base) ? 'ipv4' : net.isIPv6(base) ? 'ipv6' : undefined;
  if (!family || !/^\d+$/.test(bits) || Number(bits) > (family === 'ipv4' ? 32 : 128) || net.isIP(host) === 0) return false;
  const block = new net.BlockList();
  block.addSubnet(base, Number(bits), family);
  return block.check(host, net.isIPv4(host) ? 'ipv4' : 'ipv6');
}

/** NO_PROXY: `*`, hosts (and their subdomains), `.domain` (subdomains), `host:port`, IPs and CIDR blocks. */
export function bypassesProxy(url: URL, noProxy: string): boolean {
  const host = bareHost(url).toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(',').map((entry) => entry.trim().toLowerCase())) {
    if (raw === '') continue;
    if (raw === '*') return true;
    if (raw.includes('/')) {
      if (inCidr(host, raw)) return true;
      continue;
    }
    const portMatch = /^(.*):(\d+)$/.exec(raw);
    if (portMatch && !net.isIPv6(raw) && portMatch[2] !== port) continue;
    // `*.example.com` means `.example.com`, as Go reads it.
    const entry = (portMatch && !net.isIPv6(raw) ? portMatch[1]! : raw).replace(/^\[|\]$/g, '').replace(/^\*\./, '.');
    if (entry.startsWith('.') ? host.endsWith(entry) : host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/** The proxy to reach `url` through, or undefined to connect directly. */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  if (isLoopback(bareHost(url))) return undefined;
  // The first non-empty of the upper and lower case names (an empty HTTPS_PROXY does not hide https_proxy).
  const value = url.protocol === 'https:' ? env.HTTPS_PROXY || env.https_proxy : env.HTTP_PROXY || env.http_proxy;
  if (!value) return undefined;
  if (bypassesProxy(url, env.NO_PROXY || env.no_proxy || '')) return undefined;
  const proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  if (proxy.protocol !== 'http:') throw new Error(`proxy ${proxy.href}: only http:// proxies are supported`);
  return proxy;
}

/** `Proxy-Authorization` for a proxy URL with user:password in it. */
export function proxyHeaders(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/** Opens a CONNECT tunnel through `proxy` to the host of `url`: the socket TLS then runs over. */
export function tunnel(proxy: URL, url: URL, timeoutMs: number): Promise<net.Socket> {
  const target = `${url.hostname}:${url.port || 443}`;
  return new Promise((resolve, reject) => {
    const request = http.request({ host: proxy.hostname, port: proxy.port || 80, method: 'CONNECT', path: target, headers: { host: target, ...proxyHeaders(proxy) }, agent: false });
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer from proxy ${proxy.host} in ${timeoutMs / 1000} s`)));
    request.on('connect', (response, socket) => {
      request.setTimeout(0);
      if (response.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(new Error(`proxy ${proxy.host} refused a tunnel to ${target}: ${response.statusCode} ${response.statusMessage}`));
    });
    request.on('error', (error) => reject(new Error(`proxy ${proxy.host}: ${error.message}`, { cause: error })));
    request.end();
  });
}
