/** A literal string as a regular expression source. */
export const escapeRegExp = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/** Orders strings by code unit, as Go's sort.Strings does (and without the cost of loading ICU's collator). */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A piece of user input for a one-line message: quoted, and cut to `max` characters (saying how long it was). */
export function excerpt(text: string, max = 60): string {
  const chars = [...text];
  return chars.length <= max ? JSON.stringify(text) : `${JSON.stringify(chars.slice(0, max).join(''))}... (${chars.length} characters)`;
}

/**
 * Text from elsewhere (a registry's error message, a header) fit for a one-line error: runs of white space (line
 * breaks too) become one space, control characters and undecodable bytes `?`, and at most `max` characters are kept.
 */
export function printable(text: string, max = 200): string {
  const clean = text
    .replace(/\s+/g, ' ')
    .replace(/[\p{Cc}\p{Cs}\ufffd]/gu, '?')
    .trim();
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}
