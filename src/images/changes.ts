import { invalidArgument } from '../errors.js';
import type { ContainerConfig } from './model.js';

/** The instructions `import -c` and `commit -c` accept, as Docker's. */
const allowed = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'USER', 'VOLUME', 'WORKDIR', 'STOPSIGNAL'] as const;

/** Splits shell-like words, honouring single and double quotes and backslash escapes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (char === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += char;
      inWord = true;
    }
  }
  if (quote) throw invalidArgument(`unterminated quote in "${text}"`);
  if (inWord) words.push(current);
  return words;
}

function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  } catch {
    // Not JSON: Docker then treats the text as shell form.
  }
  return undefined;
}

/** `KEY=VALUE ...` pairs, or the legacy `KEY VALUE` form. */
function keyValues(instruction: string, text: string): [string, string][] {
  const words = splitWords(text);
  if (words.length === 0) throw invalidArgument(`${instruction} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    const space = text.search(/\s/);
    if (space === -1) throw invalidArgument(`${instruction} must have two arguments`);
    return [[text.slice(0, space), text.slice(space).trim()]];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${instruction} names can not be blank: "${word}"`);
    return [word.slice(0, eq), word.slice(eq + 1)];
  });
}

/** Applies one Dockerfile-style instruction (`CMD ["sh"]`, `ENV A=1`, ...) to a config, returning the new config. */
export function applyChange(config: ContainerConfig, change: string): ContainerConfig {
  const trimmed = change.trim();
  const space = trimmed.search(/\s/);
  const keyword = (space === -1 ? trimmed : trimmed.slice(0, space)).toUpperCase();
  const rest = space === -1 ? '' : trimmed.slice(space).trim();
  if (!(allowed as readonly string[]).includes(keyword)) {
    throw invalidArgument(`${keyword || '""'} is not a valid change command`);
  }
  const next: ContainerConfig = { ...config };
  const commandForm = () => jsonArray(rest) ?? ['/bin/sh', '-c', rest];
  switch (keyword) {
    case 'CMD':
      next.Cmd = commandForm();
      break;
    case 'ENTRYPOINT':
      next.Entrypoint = rest === '' ? null : commandForm();
      break;
    case 'ENV': {
      const env = [...(config.Env ?? [])];
      for (const [key, value] of keyValues(keyword, rest)) {
        const index = env.findIndex((entry) => entry.split('=', 1)[0] === key);
        if (index === -1) env.push(`${key}=${value}`);
        else env[index] = `${key}=${value}`;
      }
      next.Env = env;
      break;
    }
    case 'LABEL':
      next.Labels = { ...(config.Labels ?? {}), ...Object.fromEntries(keyValues(keyword, rest)) };
      break;
    case 'EXPOSE': {
      const ports = { ...(config.ExposedPorts ?? {}) };
      for (const port of splitWords(rest)) {
        if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(port)) throw invalidArgument(`invalid containerPort: ${port}`);
        ports[port.includes('/') ? port.toLowerCase() : `${port}/tcp`] = {};
      }
      next.ExposedPorts = ports;
      break;
    }
    case 'VOLUME': {
      const volumes = { ...(config.Volumes ?? {}) };
      for (const volume of jsonArray(rest) ?? splitWords(rest)) volumes[volume] = {};
      next.Volumes = volumes;
      break;
    }
    case 'ONBUILD':
      next.OnBuild = [...(config.OnBuild ?? []), rest];
      break;
    case 'USER':
      next.User = rest;
      break;
    case 'WORKDIR':
      next.WorkingDir = rest;
      break;
    case 'STOPSIGNAL':
      next.StopSignal = rest;
      break;
  }
  return next;
}
