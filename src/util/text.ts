/** A literal string as a regular expression source. */
export const escapeRegExp = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/** Orders strings by code unit, as Go's sort.Strings does (and without the cost of loading ICU's collator). */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
