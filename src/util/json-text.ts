/**
 * Small scans over JSON text that JSON.parse has already accepted, for what the parsed value no
 * longer shows: how often a name was written, or the exact text of each array item. They assume
 * valid JSON and are not validators.
 */

/** The index of the quote that closes the string opening at `quote`. */
export function stringEnd(text: string, quote: number): number {
  let end = text.indexOf('"', quote + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

/** Colons outside strings: one per object member written in the text. */
export function nameSeparators(text: string): number {
  let n = 0;
  let i = 0;
  for (;;) {
    const quote = text.indexOf('"', i);
    const stop = quote === -1 ? text.length : quote;
    for (; i < stop; i++) if (text.charCodeAt(i) === 0x3a) n++;
    if (quote === -1) return n;
    i = stringEnd(text, quote) + 1;
  }
}

/** The text of each item of a JSON array, as written (without the white space around it). */
export function arrayItems(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  const push = (end: number) => {
    const item = text.slice(start, end).trim();
    if (item !== '') items.push(item);
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i = stringEnd(text, i);
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (depth++ === 0) start = i + 1;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      if (--depth === 0) {
        push(i);
        break;
      }
    } else if (c === 0x2c /* , */ && depth === 1) {
      push(i);
      start = i + 1;
    }
  }
  return items;
}
