/**
 * Fuzzer of the wire codec (src/wire/codec.ts, `decodeMsg`): what a hostile peer can send. Each case
 * is a frame: random bytes, or a valid frame of one of the 13 message types (random fields) mutated at
 * the byte level (bit flips, truncation, splices, invalid UTF-8, the version byte), at the JSON level
 * (a field deleted, duplicated, its type swapped, a huge or odd number, deep nesting, a long or odd
 * unicode string, `__proto__` keys, duplicate keys, another message's type, valid JSON of the wrong
 * shape) or padded past the frame limit. The property: `decodeMsg` either returns a message that
 * re-encodes and decodes to the same value (node:util isDeepStrictEqual, so -0 is not 0), or throws
 * MalformedMessageError or OversizedMessageError; never another exception, never a slow case (each is
 * timed; a real hang is caught by the watchdog of bench/fuzz.ts, which runs this in a worker).
 *
 * Every case is a function of (seed, index): `codecCase(seed, i)` rebuilds a failing one.
 */
import { isDeepStrictEqual } from "node:util";
import { channelId } from "../../src/channel/hash.js";
import type { Address, Hex, Params, State, SubAlloc } from "../../src/channel/types.js";
import { MAX_UINT64 } from "../../src/channel/types.js";
import { decodeMsg, encodeMsg, MAX_FRAME_BYTES, MAX_REASON_LENGTH, MSG_TYPES } from "../../src/wire/codec.js";
import { MalformedMessageError, OversizedMessageError } from "../../src/wire/errors.js";
import type { WireMsg, WireMsgType } from "../../src/wire/messages.js";
import { Rng } from "./rng.js";

export { MSG_TYPES };

// ---------------------------------------------------------------------------------------------
// Valid messages with random fields.

/** Below 2^250: no asset total (at most 4 participants and 3 locks) can pass uint256. */
function amount(r: Rng): bigint {
  return r.bool(0.3) ? r.pick([0n, 1n, MAX_UINT64, (1n << 250n) - 1n]) : r.bigint(r.range(1, 250));
}

function uint64(r: Rng): bigint {
  return r.bool(0.2) ? r.pick([0n, MAX_UINT64]) : r.bigint(64);
}

const ZERO: Address = "0x0000000000000000000000000000000000000000";

function params(r: Rng, virtual: boolean): Params {
  const n = virtual ? 2 : r.range(2, 4);
  const seen = new Set<string>();
  const participants = [];
  while (participants.length < n) {
    const a = r.hex(20) as Address;
    if (seen.has(a)) continue;
    seen.add(a);
    participants.push({ ethAddress: a, ccAddress: (virtual ? "0x" : r.hex(r.int(21))) as Hex });
  }
  const ledger = !virtual && r.bool();
  return {
    challengeDuration: r.bool(0.5) ? BigInt(r.range(1, 1_000_000)) : 1n + r.bigint(64),
    nonce: amount(r),
    participants,
    app: virtual ? ZERO : (r.hex(20) as Address),
    ledgerChannel: ledger,
    virtualChannel: virtual,
  };
}

function state(r: Rng, parts: number, id: Hex, withLocks: boolean): State {
  const assets = r.range(1, 3);
  const locked: SubAlloc[] = [];
  const nLocked = withLocks ? r.int(4) : 0;
  for (let i = 0; i < nLocked; i++) {
    const idx = [...Array(parts).keys()].filter(() => r.bool(0.6));
    locked.push({
      ID: r.hex(32),
      balances: Array.from({ length: assets }, () => amount(r)),
      indexMap: idx.length > 0 ? idx : [r.int(parts)],
    });
  }
  return {
    channelID: id,
    version: uint64(r),
    outcome: {
      assets: Array.from({ length: assets }, () => ({
        chainID: r.bool() ? 31337n : amount(r),
        ethHolder: r.hex(20) as Address,
        ccHolder: r.hex(r.int(21)) as Hex,
      })),
      backends: Array.from({ length: assets }, () => BigInt(r.int(2))),
      balances: Array.from({ length: assets }, () => Array.from({ length: parts }, () => amount(r))),
      locked,
    },
    appData: r.hex(r.bool(0.8) ? r.int(65) : r.int(2000)),
    isFinal: r.bool(),
  };
}

/** Code points that trip up encoders: quotes, escapes, controls, BOM, RTL, surrogate pairs, lone ones. */
const ODD_CHARS = [
  '"',
  "\\",
  "\u0000",
  "\n",
  "\u001f",
  "\u007f",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\u202e",
  "\ud800",
  "\udfff",
  "😀",
  "é",
  "𝕏",
  "\u0301",
];

function text(r: Rng, max: number): string {
  const n = r.bool(0.5) ? r.int(20) : r.int(max + 1);
  let s = "";
  while (s.length < n) {
    const c = r.bool(0.7) ? String.fromCharCode(r.range(32, 126)) : r.pick(ODD_CHARS);
    if (s.length + c.length > n) break;
    s += c;
  }
  return s;
}

function sig(r: Rng): Hex {
  return r.hex(65);
}

function virtualContext(r: Rng) {
  const p = params(r, true);
  const hops = r.range(1, 3);
  const id = channelId(p);
  const fees = Array.from({ length: hops }, () => Array.from({ length: r.range(1, 3) }, () => amount(r)));
  return {
    params: p,
    path: Array.from({ length: hops + 2 }, () => r.hex(20) as Address),
    ledgerIDs: Array.from({ length: hops + 1 }, () => r.hex(32)),
    initial: state(r, 2, id, false),
    fees,
    expiry: uint64(r),
  };
}

/** A valid message of `type` with random fields. */
export function validMessage(r: Rng, type: WireMsgType): WireMsg {
  switch (type) {
    case "channelProposal": {
      const p = params(r, false);
      return {
        type,
        proposalID: r.hex(32),
        params: p,
        initial: state(r, p.participants.length, channelId(p), true),
        sig: sig(r),
        fundingTimeout: uint64(r),
      };
    }
    case "channelAccept":
      return { type, proposalID: r.hex(32), channelID: r.hex(32), sig: sig(r) };
    case "channelReject":
      return { type, proposalID: r.hex(32), reason: text(r, MAX_REASON_LENGTH) };
    case "update":
      return {
        type,
        channelID: r.hex(32),
        from: r.int(0x10000),
        state: state(r, r.range(2, 4), r.hex(32), true),
        sig: sig(r),
      };
    case "updateAccept":
      return { type, channelID: r.hex(32), from: r.int(0x10000), version: uint64(r), sig: sig(r) };
    case "updateReject":
      return {
        type,
        channelID: r.hex(32),
        from: r.int(0x10000),
        version: uint64(r),
        reason: text(r, MAX_REASON_LENGTH),
      };
    case "sync":
      return {
        type,
        channelID: r.hex(32),
        state: state(r, r.range(2, 4), r.hex(32), true),
        sigs: Array.from({ length: r.range(1, 4) }, () => sig(r)),
      };
    case "error":
      return r.bool()
        ? { type, reason: text(r, MAX_REASON_LENGTH), channelID: r.hex(32) }
        : { type, reason: text(r, MAX_REASON_LENGTH) };
    case "virtualProposal":
      return { type, proposalID: r.hex(32), sig: sig(r), ...virtualContext(r) };
    case "virtualAccept":
      return { type, proposalID: r.hex(32), sig: sig(r) };
    case "virtualReject":
      return { type, proposalID: r.hex(32), reason: text(r, MAX_REASON_LENGTH) };
    case "virtualFunding":
      return { type, sigs: [sig(r), sig(r)], ...virtualContext(r) };
    case "virtualFinal": {
      const c = virtualContext(r);
      return { type, params: c.params, state: c.initial, sigs: [sig(r), sig(r)] };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Mutations.

const VERSION = 1;
const MARK = "@@fuzz-raw@@";

/** Raw JSON tokens in place of a value: numbers JSON allows but JS or uint256 do not take well. */
const NUMBER_TOKENS = [
  "-0",
  "-1",
  "0.5",
  "1.0",
  "1e0",
  "1e400",
  "-1e400",
  "1e-400",
  "9007199254740993",
  "18446744073709551616",
  "1".repeat(400),
  "65536",
  "4294967296",
  '"-1"',
  '"00"',
  '"01"',
  '"1e3"',
  '" 1"',
  '"1 "',
  '"0x10"',
  '"18446744073709551616"',
  '"115792089237316195423570985008687907853269984665640564039457584007913129639936"',
  `"${"9".repeat(78)}"`,
  `"${"9".repeat(79)}"`,
  '"NaN"',
  '"Infinity"',
  '""',
  "true",
  "null",
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

function paths(v: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) for (const [i, x] of v.entries()) paths(x, [...at, i], out);
  else if (v !== null && typeof v === "object")
    for (const k of Object.keys(v)) paths(v[k] as Json, [...at, k], out);
  return out;
}

function get(v: Json, p: Path): Json {
  let x = v;
  for (const k of p) x = (x as Record<string | number, Json>)[k] as Json;
  return x;
}

/** Sets the value at `p` (p non-empty) with `f(parent, key)`. */
function atParent(
  v: Json,
  p: Path,
  f: (parent: Json[] | Record<string, Json>, key: string | number) => void,
): void {
  const parent = get(v, p.slice(0, -1)) as Json[] | Record<string, Json>;
  f(parent, p[p.length - 1] as string | number);
}

function randomJson(r: Rng, depth = 0): Json {
  switch (r.int(depth > 3 ? 5 : 7)) {
    case 0:
      return null;
    case 1:
      return r.bool();
    case 2:
      return r.bool() ? r.int(1000) - 500 : (r.u32() / 7) * (r.bool() ? 1 : -1e10);
    case 3:
      return text(r, 40);
    case 4:
      return r.pick(["0x", r.hex(r.int(70)), String(r.bigint(r.range(1, 300))), r.pick(MSG_TYPES)]);
    case 5:
      return Array.from({ length: r.int(4) }, () => randomJson(r, depth + 1));
    default: {
      const o: Record<string, Json> = {};
      for (let i = r.int(4); i > 0; i--)
        o[r.pick(["type", "a", "sig", "state", "0", ""])] = randomJson(r, depth + 1);
      return o;
    }
  }
}

function typeOf(v: Json): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/** A value of another JSON type than `v`. */
function otherType(r: Rng, v: Json): Json {
  for (;;) {
    const x = randomJson(r, 2);
    if (typeOf(x) !== typeOf(v)) return x;
  }
}

function nested(r: Rng): string {
  const depth = Math.floor(10 ** ((r.u32() / 2 ** 32) * 5.6)); // 1 .. ~400k
  const open = r.bool() ? "[" : '{"a":';
  const close = open === "[" ? "]" : "}";
  return open.repeat(depth) + (r.bool() ? "1" : "[]") + close.repeat(depth);
}

function longString(r: Rng): string {
  const n = Math.floor(10 ** ((r.u32() / 2 ** 32) * 6.1)); // 1 .. ~1.25M
  return JSON.stringify(r.bool(0.8) ? "x".repeat(n) : `0x${"ab".repeat(n >> 1)}`);
}

function frameOf(text: string): Uint8Array {
  return Buffer.from(`\u0001${text}`, "utf8");
}

const INVALID_UTF8 = [
  [0xc0, 0x80],
  [0xff],
  [0x80],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf0, 0x9f, 0x98],
];

export type Mutation =
  | "valid"
  | "random-bytes"
  | "random-json"
  | "bit-flip"
  | "truncate"
  | "splice"
  | "invalid-utf8"
  | "version-byte"
  | "delete-field"
  | "duplicate-field"
  | "type-swap"
  | "number-edge"
  | "deep-nesting"
  | "long-string"
  | "unicode"
  | "type-confusion"
  | "wrong-shape"
  | "proto-keys"
  | "duplicate-key-text"
  | "oversize";

const MUTATIONS: readonly Mutation[] = [
  "valid",
  "random-bytes",
  "random-json",
  "bit-flip",
  "truncate",
  "splice",
  "invalid-utf8",
  "version-byte",
  "delete-field",
  "duplicate-field",
  "type-swap",
  "number-edge",
  "deep-nesting",
  "long-string",
  "unicode",
  "type-confusion",
  "wrong-shape",
  "proto-keys",
  "duplicate-key-text",
  "oversize",
];

/** Case `i` of the run with `seed`: its mutation and frame. */
export function codecCase(
  seed: number,
  i: number,
): { mutation: Mutation; type: WireMsgType; frame: Uint8Array } {
  const r = new Rng(seed, i);
  const mutation = r.pick(MUTATIONS);
  const type = r.pick(MSG_TYPES);
  const valid = encodeMsg(validMessage(r, type));
  return { mutation, type, frame: mutate(r, mutation, valid) };
}

function mutate(r: Rng, m: Mutation, valid: Uint8Array): Uint8Array {
  const json = (): Json => JSON.parse(Buffer.from(valid).toString("utf8", 1)) as Json;
  /** Applies `f` to a random node (not the root unless `root`) and returns the frame. */
  const tree = (f: (v: Json, p: Path) => void, root = false, pred: (x: Json) => boolean = () => true) => {
    const v = json();
    const all = paths(v).filter((p) => (root || p.length > 0) && pred(get(v, p)));
    if (all.length === 0) return valid;
    f(v, r.pick(all));
    return frameOf(JSON.stringify(v));
  };
  /** Replaces a random node with raw JSON text. */
  const raw = (token: () => string, pred: (x: Json) => boolean = () => true) => {
    const v = json();
    const all = paths(v).filter((p) => p.length > 0 && pred(get(v, p)));
    if (all.length === 0) return valid;
    atParent(v, r.pick(all), (parent, key) => {
      (parent as Record<string | number, Json>)[key] = MARK;
    });
    return frameOf(JSON.stringify(v).replace(`"${MARK}"`, token()));
  };
  switch (m) {
    case "valid":
      return valid;
    case "random-bytes": {
      const b = r.bytes(r.int(r.bool(0.9) ? 300 : 5000));
      if (b.length > 0 && r.bool()) b[0] = VERSION;
      return b;
    }
    case "random-json":
      return frameOf(JSON.stringify(randomJson(r)));
    case "bit-flip": {
      const b = Uint8Array.from(valid);
      for (let k = r.range(1, 8); k > 0; k--) {
        const i = r.int(b.length);
        b[i] = (b[i] as number) ^ (1 << r.int(8));
      }
      return b;
    }
    case "truncate":
      return valid.subarray(0, r.int(valid.length));
    case "splice": {
      const b = Buffer.from(valid);
      const i = r.int(b.length);
      const j = Math.min(b.length, i + r.int(64));
      switch (r.int(3)) {
        case 0:
          return Buffer.concat([b.subarray(0, i), b.subarray(j)]);
        case 1:
          return Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
        default:
          return Buffer.concat([
            b.subarray(0, i),
            Buffer.from(r.pick(['"', "{", "}", "[", "]", ",", ":", "0", "\\", " "])),
            b.subarray(i),
          ]);
      }
    }
    case "invalid-utf8": {
      const b = Buffer.from(valid);
      const i = 1 + r.int(b.length - 1);
      return Buffer.concat([b.subarray(0, i), Buffer.from(r.pick(INVALID_UTF8)), b.subarray(i)]);
    }
    case "version-byte": {
      const b = Uint8Array.from(valid);
      b[0] = r.pick([0, 2, 0x7b, 0xff, r.int(256)]);
      return b;
    }
    case "delete-field":
      return tree((v, p) =>
        atParent(v, p, (parent, key) => {
          if (Array.isArray(parent)) parent.splice(key as number, 1);
          else delete parent[key as string];
        }),
      );
    case "duplicate-field":
      return tree((v, p) =>
        atParent(v, p, (parent, key) => {
          if (Array.isArray(parent))
            parent.splice(key as number, 0, structuredClone(parent[key as number] as Json));
          else
            parent[r.pick([`${key}2`, "extra", "type", `${key}`.toUpperCase()])] = structuredClone(
              parent[key as string] as Json,
            );
        }),
      );
    case "type-swap":
      return tree((v, p) =>
        atParent(v, p, (parent, key) => {
          const x = (parent as Record<string | number, Json>)[key] as Json;
          (parent as Record<string | number, Json>)[key] = otherType(r, x);
        }),
      );
    case "number-edge":
      // Numbers are few among the fields (from, indexMap): pick them half of the time.
      return raw(
        () => r.pick(NUMBER_TOKENS),
        (x) => typeof x === "number" || (r.bool() && typeof x === "string"),
      );
    case "deep-nesting":
      return raw(() => nested(r));
    case "long-string":
      return raw(
        () => longString(r),
        (x) => typeof x === "string",
      );
    case "unicode":
      return tree(
        (v, p) =>
          atParent(v, p, (parent, key) => {
            const s = (parent as Record<string | number, Json>)[key] as string;
            const at = r.int(s.length + 1);
            (parent as Record<string | number, Json>)[key] = s.slice(0, at) + r.pick(ODD_CHARS) + s.slice(at);
          }),
        false,
        (x) => typeof x === "string",
      );
    case "type-confusion":
      return tree((v) => {
        (v as Record<string, Json>).type = r.pick(MSG_TYPES);
      }, true);
    case "wrong-shape": {
      // Another message's body under this one's type, or this body at another place.
      const other = JSON.parse(
        Buffer.from(encodeMsg(validMessage(r, r.pick(MSG_TYPES)))).toString("utf8", 1),
      );
      const v = json() as Record<string, Json>;
      return frameOf(
        JSON.stringify(
          r.bool() ? { ...other, type: v.type } : r.bool() ? [v] : { ...v, ...other, type: v.type },
        ),
      );
    }
    case "proto-keys":
      return tree(
        (v, p) => {
          const o = get(v, p) as Record<string, Json>;
          Object.defineProperty(
            o,
            r.pick(["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]),
            {
              value: randomJson(r, 2),
              enumerable: true,
              configurable: true,
              writable: true,
            },
          );
        },
        true,
        (x) => x !== null && typeof x === "object" && !Array.isArray(x),
      );
    case "duplicate-key-text": {
      const t = Buffer.from(valid).toString("utf8", 1);
      const braces = [...t.matchAll(/\{/g)].map((x) => x.index as number);
      const at = (r.pick(braces) as number) + 1;
      const dup = r.pick([
        `"type":"${r.pick(MSG_TYPES)}",`,
        `"version":"${r.bigint(70)}",`,
        `"from":-1,`,
        `"sig":"0x",`,
      ]);
      return frameOf(t.slice(0, at) + dup + t.slice(at));
    }
    case "oversize": {
      const t = Buffer.from(valid).toString("utf8", 1);
      const pad = MAX_FRAME_BYTES - valid.length + r.range(1, 100);
      return frameOf(`${t.slice(0, -1)}${" ".repeat(Math.max(0, pad))}}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The check and the run.

export type Outcome = "decoded" | "malformed" | "oversized";

/** What decoding one frame did, or the property it broke. */
export function checkFrame(frame: Uint8Array): { outcome: Outcome } | { problem: string } {
  const copy = Uint8Array.from(frame);
  let msg: WireMsg;
  try {
    msg = decodeMsg(frame);
  } catch (e) {
    if (e instanceof OversizedMessageError) return { outcome: "oversized" };
    if (e instanceof MalformedMessageError) return sameInput(frame, copy) ?? { outcome: "malformed" };
    return {
      problem: `threw ${(e as Error)?.constructor?.name ?? typeof e}: ${String((e as Error)?.message ?? e).slice(0, 300)}`,
    };
  }
  const changed = sameInput(frame, copy);
  if (changed) return changed;
  let again: WireMsg;
  try {
    again = decodeMsg(encodeMsg(msg));
  } catch (e) {
    return {
      problem: `decoded, but the message does not re-encode and decode: ${String((e as Error)?.message ?? e).slice(0, 300)}`,
    };
  }
  if (!isDeepStrictEqual(again, msg))
    return { problem: `decoded, but re-encoding changes it: ${diff(msg, again)}` };
  return { outcome: "decoded" };
}

function sameInput(frame: Uint8Array, copy: Uint8Array): { problem: string } | undefined {
  return Buffer.compare(frame, copy) === 0 ? undefined : { problem: "decodeMsg changed its input" };
}

function diff(a: unknown, b: unknown, at = "msg"): string {
  if (isDeepStrictEqual(a, b)) return "";
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    return `${at}: ${Object.is(a, -0) ? "-0" : String(a)} became ${Object.is(b, -0) ? "-0" : String(b)}`;
  }
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
    if (d) return d;
  }
  return at;
}

export interface FuzzFailure {
  readonly case: number;
  readonly mutation: string;
  readonly problem: string;
  /** The first bytes of the input (hex), to look at; `codecCase(seed, case)` rebuilds all of it. */
  readonly input: string;
}

export interface CodecFuzzReport {
  readonly target: "codec";
  readonly seed: number;
  readonly cases: number;
  readonly failures: number;
  readonly outcomes: Record<Outcome, number>;
  readonly byMutation: Record<string, number>;
  /** Frames straight from the generator that did not decode (a generator bug; 0 expected). */
  readonly validRejected: number;
  readonly maxCaseMs: number;
  readonly ms: number;
  /** Failures by kind ("<mutation>: <problem, numbers elided>"). */
  readonly kinds: Record<string, number>;
  /** The first failures (at most 20). */
  readonly samples: FuzzFailure[];
}

export interface CodecFuzzOptions {
  readonly cases: number;
  readonly seed: number;
  /** Index of the first case (default 0): a run can be split into ranges. */
  readonly from?: number;
  /** A case slower than this is a failure (default 2000 ms: a shared 2-core machine has pauses). */
  readonly maxCaseMs?: number;
  /** Called before each case with its index (the worker publishes it for the hang watchdog). */
  readonly onCase?: (i: number) => void;
}

export function runCodecFuzz(opts: CodecFuzzOptions): CodecFuzzReport {
  const from = opts.from ?? 0;
  const limit = opts.maxCaseMs ?? 2_000;
  const outcomes: Record<Outcome, number> = { decoded: 0, malformed: 0, oversized: 0 };
  const byMutation: Record<string, number> = {};
  const samples: FuzzFailure[] = [];
  const kinds: Record<string, number> = {};
  let failures = 0;
  let validRejected = 0;
  let maxCaseMs = 0;
  const start = performance.now();
  for (let i = from; i < from + opts.cases; i++) {
    opts.onCase?.(i);
    const { mutation, frame } = codecCase(opts.seed, i);
    byMutation[mutation] = (byMutation[mutation] ?? 0) + 1;
    const t0 = performance.now();
    const r = checkFrame(frame);
    const dt = performance.now() - t0;
    maxCaseMs = Math.max(maxCaseMs, dt);
    const problem = "problem" in r ? r.problem : dt > limit ? `took ${Math.round(dt)} ms` : undefined;
    if ("outcome" in r) {
      outcomes[r.outcome]++;
      if (mutation === "valid" && r.outcome !== "decoded") validRejected++;
    }
    if (problem !== undefined) {
      failures++;
      const kind = `${mutation}: ${problem.slice(0, 100).replace(/\d+/g, "N")}`;
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      if (samples.length < 20) {
        samples.push({
          case: i,
          mutation,
          problem,
          input: Buffer.from(frame.subarray(0, 160)).toString("hex"),
        });
      }
    }
  }
  return {
    target: "codec",
    seed: opts.seed,
    cases: opts.cases,
    failures,
    outcomes,
    byMutation,
    validRejected,
    maxCaseMs: Math.round(maxCaseMs),
    ms: Math.round(performance.now() - start),
    kinds,
    samples,
  };
}
