/**
 * Text from elsewhere (a server's problem detail, an origin, an event field) made safe to print on
 * a terminal or into a log file: C0 and C1 control characters (ESC, CR, LF, …), the Unicode line
 * and paragraph separators and the bidirectional formatting characters (which can reorder what a
 * reader sees, "Trojan Source") are shown escaped (`\x1b`, `\u{202e}`), never interpreted.
 * Everything else is kept as it is.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
}

// C0, DEL and C1; ALM; LRM, RLM; LS, PS; LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI.
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
