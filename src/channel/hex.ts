/**
 * Hex <-> bytes conversion for the hot encoding path.
 *
 * Strict: `0x` prefix, even length, hex digits only (either case), optional exact byte length. A
 * malformed value raises `InvalidFieldError` naming the field, so an encoder fed untrusted data never
 * silently hashes garbage.
 */
import { InvalidFieldError } from "./errors.js";
import type { Hex } from "./types.js";

/** Char code -> nibble value, -1 for non-hex characters. */
const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  NIBBLE[65 + i] = 10 + i;
  NIBBLE[97 + i] = 10 + i;
}

const HEX_CHARS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Byte length of a `0x` hex string, after checking its form. */
export function hexByteLength(value: unknown, field: string, expected?: number): number {
  if (typeof value !== "string" || value.length % 2 !== 0 || value[0] !== "0" || value[1] !== "x") {
    throw new InvalidFieldError(field, hexExpectation(expected), value);
  }
  const n = (value.length - 2) / 2;
  if (expected !== undefined && n !== expected)
    throw new InvalidFieldError(field, hexExpectation(expected), value);
  return n;
}

/** Writes the bytes of `value` into `out` at `pos`; checks every digit. Returns the byte count. */
export function writeHex(
  value: unknown,
  out: Uint8Array,
  pos: number,
  field: string,
  expected?: number,
): number {
  const n = hexByteLength(value, field, expected);
  const s = value as string;
  for (let i = 0, j = 2; i < n; i++, j += 2) {
    const hi = NIBBLE[s.charCodeAt(j)] ?? -1;
    const lo = NIBBLE[s.charCodeAt(j + 1)] ?? -1;
    if (hi < 0 || lo < 0) throw new InvalidFieldError(field, hexExpectation(expected), value);
    out[pos + i] = (hi << 4) | lo;
  }
  return n;
}

/** Parses a strict `0x` hex string into bytes. */
export function hexToBytes(value: unknown, field = "hex", expected?: number): Uint8Array {
  const out = new Uint8Array(hexByteLength(value, field, expected));
  writeHex(value, out, 0, field, expected);
  return out;
}

/** Lower-case `0x` hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): Hex {
  let s = "0x";
  for (let i = 0; i < bytes.length; i++) s += HEX_CHARS[bytes[i] as number];
  return s as Hex;
}

/** True if `value` is a strict `0x` hex string (of `bytes` bytes, if given). */
export function isHex(value: unknown, bytes?: number): value is Hex {
  if (typeof value !== "string" || value.length % 2 !== 0 || !value.startsWith("0x")) return false;
  if (bytes !== undefined && value.length !== 2 + 2 * bytes) return false;
  for (let j = 2; j < value.length; j++) if ((NIBBLE[value.charCodeAt(j)] ?? -1) < 0) return false;
  return true;
}

function hexExpectation(bytes: number | undefined): string {
  return bytes === undefined ? "0x-prefixed hex bytes" : `0x-prefixed hex of ${bytes} bytes`;
}
