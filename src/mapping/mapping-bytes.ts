// Turns the bytes of a mapping file into text, or says precisely why not: too large, UTF-16/UTF-32
// (named by its byte-order mark or its zero bytes), or not UTF-8 (the line and column of the first
// bad byte). Invariant: a file that is not valid UTF-8 is never decoded with replacement characters,
// so a Latin-1 "é" cannot silently become U+FFFD in a title pushed to Feishu.
import type { PathProblem } from './mapping-problem.js';
import type { Position } from './yaml-source.js';

/** Larger than any hand-written mapping file by two orders of magnitude. */
export const MAX_MAPPING_FILE_BYTES = 1024 * 1024;

export type DecodedMapping =
  { readonly text: string } | { readonly problem: PathProblem; readonly position: Position };

export function decodeMappingBytes(bytes: Uint8Array): DecodedMapping {
  const at1 = { line: 1, col: 1 };
  if (bytes.length > MAX_MAPPING_FILE_BYTES) {
    return {
      problem: {
        path: [],
        found: `a file of ${bytes.length} bytes`,
        expected: `at most ${MAX_MAPPING_FILE_BYTES} bytes`,
      },
      position: at1,
    };
  }
  const wide = wideEncoding(bytes);
  if (wide) {
    return {
      problem: { path: [], found: `text encoded as ${wide}`, expected: 'UTF-8 (save the file as UTF-8)' },
      position: at1,
    };
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < bad; i++) {
      if (bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    const col = new TextDecoder().decode(bytes.subarray(lineStart, bad)).length + 1;
    const hex = (bytes[bad] ?? 0).toString(16).padStart(2, '0');
    return {
      problem: {
        path: [],
        found: `byte 0x${hex}, which is not UTF-8 (Latin-1 or GBK?)`,
        expected: 'UTF-8 (convert the file, e.g. iconv -f GBK -t UTF-8)',
      },
      position: { line, col },
    };
  }
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return { text: new TextDecoder().decode(bytes.subarray(start)) };
}

function wideEncoding(b: Uint8Array): string | undefined {
  if (b[0] === 0xff && b[1] === 0xfe) return b[2] === 0 && b[3] === 0 ? 'UTF-32LE' : 'UTF-16LE';
  if (b[0] === 0xfe && b[1] === 0xff) return 'UTF-16BE';
  if (b[0] === 0 && b[1] === 0 && b[2] === 0xfe && b[3] === 0xff) return 'UTF-32BE';
  // Without a byte-order mark: YAML text starts with ASCII, so a zero byte beside it gives it away.
  if (b.length >= 2 && b[0] !== 0 && b[1] === 0) return 'UTF-16LE';
  if (b.length >= 2 && b[0] === 0 && b[1] !== 0) return 'UTF-16BE';
  return undefined;
}

/** Index of the first byte that breaks UTF-8 (overlongs and surrogates included), or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}
