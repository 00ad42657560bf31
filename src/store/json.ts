/**
 * Bigint-safe JSON codec for stored records.
 *
 * Channel data is full of bigints (uint256 balances, uint64 versions), which `JSON.stringify` rejects
 * and which must come back as bigints, exactly. A bigint is written as the tagged object
 * `{"$big":"<decimal>"}`; everything else is plain JSON.
 *
 * The tag is unambiguous: every object key that starts with `$` is escaped on the way out by one more
 * `$` (`"$big"` -> `"$$big"`, `"$$x"` -> `"$$$x"`), so a user object can never look like a tag, and on
 * the way in a single-`$` key is always a tag. Unknown tags, malformed decimals and tags with extra
 * keys are rejected, so a decoded value is exactly what was encoded or an error, never a guess.
 *
 * Only JSON-with-bigints goes in: functions, symbols, non-finite numbers, `undefined` array slots and
 * objects other than plain objects and arrays (Date, Map, Uint8Array, class instances) raise
 * `RecordEncodingError` instead of being silently mangled as `JSON.stringify` would. `undefined`
 * object properties are dropped (optional fields), as in JSON.
 */
import { describe } from "../errors.js";
import { RecordEncodingError } from "./errors.js";

const BIG = "$big";
/** Canonical decimal: no leading zeros, no "-0", so decode(encode(x)) is exact and unique. */
const DECIMAL = /^(0|-?[1-9][0-9]*)$/;

/**
 * Encodes a JSON-with-bigints value as text.
 *
 * @example
 * encodeJson({ version: 3n }) // '{"version":{"$big":"3"}}'
 */
export function encodeJson(value: unknown, what = "value"): string {
  const path: (string | number)[] = [];
  return write(value, path, what);
}

/** Thrown by `decodeJson`; `path` names the offending field. */
export class JsonDecodeFailure extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = "JsonDecodeFailure";
  }
}

/**
 * Decodes text written by `encodeJson`. Throws `JsonDecodeFailure` (path and reason) for text that
 * `encodeJson` cannot have produced; callers wrap it into their own typed error with context.
 *
 * @example
 * decodeJson('{"version":{"$big":"3"}}') // { version: 3n }
 */
export function decodeJson(text: string, what = "value"): unknown {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new JsonDecodeFailure(what, `not valid JSON (${(e as Error).message})`);
  }
  const path: (string | number)[] = [];
  return fromTree(raw, path, what);
}

function fieldName(root: string, path: readonly (string | number)[]): string {
  let s = root;
  for (const p of path) s += typeof p === "number" ? `[${p}]` : `.${p}`;
  return s;
}

/**
 * Writes `v` as JSON text directly (one pass, no intermediate tree): this sits on the hot path of
 * every off-chain update, and building a tagged copy for `JSON.stringify` cost twice as much.
 */
function write(v: unknown, path: (string | number)[], root: string): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "number":
      if (!Number.isFinite(v)) throw new RecordEncodingError(fieldName(root, path), `${v} is not JSON`);
      return JSON.stringify(v);
    case "bigint":
      return `{"${BIG}":"${v.toString()}"}`;
    case "object": {
      if (v === null) return "null";
      if (Array.isArray(v)) {
        let out = "[";
        for (let i = 0; i < v.length; i++) {
          const x: unknown = v[i];
          path.push(i);
          if (x === undefined) throw new RecordEncodingError(fieldName(root, path), "undefined in an array");
          out += (i === 0 ? "" : ",") + write(x, path, root);
          path.pop();
        }
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new RecordEncodingError(
          fieldName(root, path),
          `${(v as object).constructor?.name ?? "object"} is not a plain object`,
        );
      }
      let out = "{";
      let first = true;
      for (const k of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        path.push(k);
        const key = k.charCodeAt(0) === 36 /* $ */ ? `$${k}` : k;
        out += `${first ? "" : ","}${JSON.stringify(key)}:${write(x, path, root)}`;
        first = false;
        path.pop();
      }
      return `${out}}`;
    }
    default:
      throw new RecordEncodingError(fieldName(root, path), `a ${typeof v} is not JSON`);
  }
}

function fromTree(v: unknown, path: (string | number)[], root: string): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      path.push(i);
      v[i] = fromTree(v[i], path, root);
      path.pop();
    }
    return v;
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  // Fast path for the common case: no `$` keys at all, convert in place.
  let tagged = false;
  for (const k of keys) {
    if (k.charCodeAt(0) === 36) {
      tagged = true;
      break;
    }
  }
  if (!tagged) {
    for (const k of keys) {
      path.push(k);
      const x = fromTree(obj[k], path, root);
      // defineProperty: JSON.parse makes "__proto__" an own data key; assigning it would set the prototype.
      if (x !== obj[k]) Object.defineProperty(obj, k, { value: x });
      path.pop();
    }
    return obj;
  }
  if (keys.length === 1 && keys[0] === BIG) {
    const s = obj[BIG];
    if (typeof s !== "string" || !DECIMAL.test(s)) {
      throw new JsonDecodeFailure(fieldName(root, path), `malformed bigint tag ${describe(s)}`);
    }
    return BigInt(s);
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    let key = k;
    if (k.charCodeAt(0) === 36) {
      if (k.charCodeAt(1) !== 36) {
        throw new JsonDecodeFailure(fieldName(root, path), `unexpected tag ${describe(k)} in an object`);
      }
      key = k.slice(1);
    }
    path.push(key);
    Object.defineProperty(out, key, {
      value: fromTree(obj[k], path, root),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    path.pop();
  }
  return out;
}
