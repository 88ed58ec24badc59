import { invalidArgument, notFound } from '../errors.js';
import type { Call } from './http.js';

export type Handler = (call: Call) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

/**
 * The API's routes: a method and a path pattern whose `{name}` parts become parameters. A `{name*}` part
 * takes slashes too: image names (`localhost:5000/team/app:1`) arrive raw in the path.
 */
function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalidArgument(`invalid percent-encoding in the path: ${JSON.stringify(value)}`);
  }
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler): this {
    const source = path.replace(/[.]/g, '\\.').replace(/\{(\w+)(\*?)\}/g, (_, name: string, greedy: string) => `(?<${name}>${greedy ? '.+' : '[^/]+'})`);
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), handler });
    return this;
  }

  /** The handler for a request and the path's parameters, decoded; a 404 in Docker's words when none matches. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } {
    let pathMatched = false;
    for (const route of this.routes) {
      const found = route.pattern.exec(path);
      if (!found) continue;
      pathMatched = true;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) continue;
      const params = Object.fromEntries(Object.entries(found.groups ?? {}).map(([key, value]) => [key, decode(value)]));
      return { handler: route.handler, params };
    }
    throw notFound(pathMatched ? `page not found (${method} ${path} is not supported)` : 'page not found');
  }
}
