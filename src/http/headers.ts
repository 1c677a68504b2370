/**
 * How many times a request carries the header `name` (lower case). Node keeps only the first of
 * repeated Authorization and Content-Type headers in `request.headers`, so a request that sends two
 * would be read by its first silently; callers refuse it instead. `raw` is `rawHeaders`, which
 * alternates names and values as sent.
 */
export function headerCount(raw: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const h = raw[i]!;
    if (h.length === name.length && h.toLowerCase() === name) n++;
  }
  return n;
}
