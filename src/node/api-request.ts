/**
 * Request checks of the local API (house style rule 8: validate at every boundary): the body is
 * size-limited JSON with an object at the top, every field has the expected type, addresses are
 * addresses and amounts are non-negative integers in decimal strings (JSON numbers lose precision
 * above 2^53, so they are refused for amounts). A failed check is a BadRequestError, answered with
 * 400 and {error: {code, message, hint}}; nothing of it reaches the client.
 */
import type { IncomingMessage } from "node:http";
import { getAddress, isAddress } from "viem";
import type { Address, Hex } from "../channel/types.js";
import { describe, PerunError } from "../errors.js";

/** Request bodies are small JSON objects; anything bigger is refused unread. */
export const MAX_BODY_BYTES = 64 * 1024;
const MAX_UINT256 = (1n << 256n) - 1n;

export class BadRequestError extends PerunError {
  readonly status: number;
  constructor(code: string, message: string, hint: string, status = 400) {
    super(code, message, { hint });
    this.status = status;
  }
}

export function invalidField(field: string, expected: string, got: unknown): BadRequestError {
  return new BadRequestError(
    "INVALID_FIELD",
    `Field "${field}" must be ${expected}, got ${shown(got)}.`,
    "See README.md, section 'Local API', for the request bodies.",
  );
}

/**
 * `describe` made total, for what a request body holds: a value nested some thousands of levels deep
 * (a 64 KiB body holds 30,000 levels) overflows the stack in describe's JSON.stringify and in its
 * String() fallback alike (RangeError), which made such a request a 500 (found by fuzzing,
 * bench/fuzz/api-fuzz.ts).
 */
export function shown(v: unknown): string {
  try {
    return describe(v);
  } catch {
    return Array.isArray(v) ? "a deeply nested array" : "a deeply nested value";
  }
}

/**
 * A content type other than JSON is 415: a web page can POST text/plain or form data to 127.0.0.1
 * without a CORS preflight, but not application/json, so this check stops a malicious page from
 * spending the node's money (cross-site request forgery), even before the secret is checked.
 */
export function requireJson(req: IncomingMessage): void {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) {
    throw new BadRequestError(
      "UNSUPPORTED_MEDIA_TYPE",
      `Request bodies must be JSON, got content-type ${describe(type)}.`,
      "Send the header content-type: application/json.",
      415,
    );
  }
}

/**
 * Reads the body as JSON (an object; empty = {}). Refuses more than `limit` bytes with 413 and a
 * content type other than JSON with 415 (requireJson).
 */
export async function readJsonBody(
  req: IncomingMessage,
  limit = MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  try {
    requireJson(req);
  } catch (err) {
    req.resume();
    throw err;
  }
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    req.resume(); // discard: the answer goes out with connection: close
    throw tooLarge(limit);
  }
  const chunks = await new Promise<Buffer[]>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      if (size > limit) return; // already refused; keep draining so that the 413 can be read
      size += chunk.length;
      if (size > limit) reject(tooLarge(limit));
      else parts.push(chunk);
    });
    req.on("end", () => resolve(parts));
    req.on("error", reject);
  });
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(
      "MALFORMED_JSON",
      `The request body is not valid JSON: ${(err as Error).message}.`,
      "Send one JSON object.",
    );
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequestError(
      "MALFORMED_JSON",
      `The request body must be a JSON object, got ${shown(body)}.`,
      "Send one JSON object.",
    );
  }
  return body as Record<string, unknown>;
}

function tooLarge(limit: number): BadRequestError {
  return new BadRequestError(
    "BODY_TOO_LARGE",
    `The request body exceeds ${limit} bytes.`,
    "API requests are small JSON objects.",
    413,
  );
}

/** Refuses fields not in `known` (a typo like "ammount" would otherwise be silently ignored). */
export function onlyFields(body: Record<string, unknown>, known: readonly string[]): void {
  for (const k of Object.keys(body)) {
    if (!known.includes(k))
      throw invalidField(k, `absent (known fields: ${known.join(", ") || "none"})`, body[k]);
  }
}

export function address(body: Record<string, unknown>, field: string): Address {
  return addressValue(body[field], field);
}

/** An address (checksummed on the way out); `field` names it in the error, e.g. "via[1]". */
export function addressValue(v: unknown, field: string): Address {
  if (typeof v !== "string" || !isAddress(v, { strict: true })) {
    throw invalidField(field, "an address (0x + 40 hex digits)", v);
  }
  return getAddress(v);
}

/** A uint256 as a decimal string, e.g. "1500000000000000000". */
export function amount(
  body: Record<string, unknown>,
  field: string,
  opts: { positive?: boolean } = {},
): bigint {
  return amountValue(body[field], field, opts);
}

export function amountValue(v: unknown, field: string, opts: { positive?: boolean } = {}): bigint {
  if (typeof v !== "string" || !/^(0|[1-9][0-9]{0,77})$/.test(v)) {
    throw invalidField(field, "a non-negative integer amount in wei as a decimal string", v);
  }
  const n = BigInt(v);
  if (n > MAX_UINT256) throw invalidField(field, "at most 2^256 - 1", v);
  if (opts.positive && n === 0n) throw invalidField(field, "a positive amount", v);
  return n;
}

/** A channel id in a body field (lower case); `field` names it in the error. */
export function idValue(v: unknown, field: string): Hex {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(v))
    throw invalidField(field, "a channel id (0x + 64 hex digits)", v);
  return v.toLowerCase() as Hex;
}

/**
 * A field that is either one value or a JSON array of 1 to `max` of them (a path: one entry per
 * intermediary). Each entry goes through `one`, which names it `field[k]` in its error; `list` says
 * which form arrived, since the one-value form keeps its old meaning.
 *
 * @example
 * oneOrMany({ via: ["0x..", "0x.."] }, "via", addressValue, "an address", 16) // { values: [..], list: true }
 */
export function oneOrMany<T>(
  body: Record<string, unknown>,
  field: string,
  one: (v: unknown, field: string) => T,
  what: string,
  max: number,
): { values: T[]; list: boolean } {
  const v = body[field];
  if (!Array.isArray(v)) {
    if (typeof v !== "string") throw invalidField(field, `${what}, or an array of 1 to ${max} of them`, v);
    return { values: [one(v, field)], list: false };
  }
  if (v.length === 0 || v.length > max)
    throw invalidField(field, `${what}, or an array of 1 to ${max} of them`, v);
  return { values: v.map((x, k) => one(x, `${field}[${k}]`)), list: true };
}

export function optionalString(
  body: Record<string, unknown>,
  field: string,
  expected: string,
  ok: (s: string) => boolean,
): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !ok(v)) throw invalidField(field, expected, v);
  return v;
}

export function optionalInt(
  body: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
): number | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw invalidField(field, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

export function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw invalidField(field, "true or false", v);
  return v;
}

export function channelId(s: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(s)) throw invalidField("channel id (in the path)", "0x + 64 hex digits", s);
  return s.toLowerCase() as Hex;
}
