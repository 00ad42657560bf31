/**
 * Channel records to and from their stored text, with validation on the way back in (house style
 * rule 8: a stored record is untrusted input; a bad disk, a bad restore or a hand edit must surface as
 * a typed `CorruptRecordError` naming the channel and the field, never reach the protocol code).
 *
 * Checked on decode: the record's shape; `machine.params` (validateParams) and that they hash to the
 * channel id; our index and the phase; every state of `current`, `pending` and `dispute` (validateState
 * against the params) with one signature slot per participant. Signatures are checked for form only:
 * the machine verified each one before it was persisted, and whoever can rewrite the file can rewrite
 * anything.
 *
 * Not checked on encode: records come from the machine, which validated its inputs; the encoder only
 * refuses values that are not JSON-with-bigints. `updatedAt` is not part of the text: the store keeps
 * it in its own column.
 */
import { InvalidFieldError } from "../channel/errors.js";
import { channelId } from "../channel/hash.js";
import { isHex } from "../channel/hex.js";
import type { Dispute, Machine, Phase, Proposal, SignedState } from "../channel/machine.js";
import type { Address, Hex, Params } from "../channel/types.js";
import { MAX_UINT64 } from "../channel/types.js";
import { validateParams, validateState } from "../channel/validation.js";
import { describe } from "../errors.js";
import { CorruptRecordError } from "./errors.js";
import { decodeJson, encodeJson, JsonDecodeFailure } from "./json.js";
import type { ChannelRecord } from "./store.js";

/** Every phase, checked against the `Phase` union at compile time (a new phase must be added here). */
const PHASES: Readonly<Record<Phase, true>> = {
  InitActing: true,
  InitSigning: true,
  Funding: true,
  Acting: true,
  Signing: true,
  Final: true,
  Registering: true,
  Registered: true,
  Progressing: true,
  Progressed: true,
  Withdrawing: true,
  Withdrawn: true,
};

/** Channel ids are stored lower-case, so the same channel written with another hex case is one row. */
export function channelKey(channelID: string): string {
  return channelID.toLowerCase();
}

/** The record as stored text (without `updatedAt`). Throws `RecordEncodingError` for non-JSON values. */
export function encodeRecord(record: ChannelRecord): string {
  const { updatedAt: _ignored, ...rest } = record;
  return encodeJson(rest, "record");
}

/**
 * Decodes and validates the stored text of the row keyed `key`; throws `CorruptRecordError`.
 *
 * @example
 * const rec = decodeRecord(row.channel_id, row.record, row.updated_at);
 */
export function decodeRecord(key: string, text: string, updatedAt: number): ChannelRecord {
  try {
    return validateRecordFields(key, decodeJson(text, "record"), updatedAt);
  } catch (e) {
    throw corrupt(key, e);
  }
}

/** A validation failure at `field` of the record (internal; becomes a `CorruptRecordError`). */
class FieldFailure extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${field}: ${reason}`, options);
  }
}

function firstLine(e: Error): string {
  return e.message.split("\n")[0] ?? e.name;
}

/** The `CorruptRecordError` for any failure while decoding row `key`. */
function corrupt(key: string, e: unknown): CorruptRecordError {
  const row = (field: string, reason: string) =>
    new CorruptRecordError([{ channelID: key, field, reason }], e);
  if (e instanceof FieldFailure) return row(e.field, e.reason);
  // The codec names paths from its root "record"; fields here are named from inside the record.
  if (e instanceof JsonDecodeFailure) return row(e.path.replace(/^record[.]/, ""), e.reason);
  if (e instanceof InvalidFieldError) return row(e.field, firstLine(e));
  // Anything else from a validator (e.g. an inconsistent allocation) still means a bad record.
  return row("record", e instanceof Error ? firstLine(e) : describe(e));
}

function bad(field: string, expected: string, got: unknown): never {
  throw new FieldFailure(field, `expected ${expected}, got ${describe(got)}`);
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(field, "an object", v);
  return v as Record<string, unknown>;
}

/**
 * Runs a channel-core validator and moves its field name (`state.x`, `params.x`) under the record
 * path `prefix`, so the error says where in the record the bad value sits.
 */
function within<T>(prefix: string, stem: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InvalidFieldError) {
      const field = e.field.startsWith(stem) ? prefix + e.field.slice(stem.length) : `${prefix}.${e.field}`;
      throw new FieldFailure(field, firstLine(e), { cause: e });
    }
    if (e instanceof Error) throw new FieldFailure(prefix, firstLine(e), { cause: e });
    throw e;
  }
}

function validateRecordFields(key: string, value: unknown, updatedAt: number): ChannelRecord {
  const r = obj(value, "record");
  if (typeof r.channelID !== "string" || !isHex(r.channelID, 32))
    bad("channelID", "a bytes32 hex", r.channelID);
  if (channelKey(r.channelID) !== key) bad("channelID", `the row key ${key}`, r.channelID);
  const machine = validateMachine(r.machine, r.channelID as Hex);
  const n = machine.params.participants.length;
  if (!Array.isArray(r.peers) || r.peers.length !== n) bad("peers", `an array of ${n} addresses`, r.peers);
  (r.peers as unknown[]).forEach((p, i) => {
    if (!isHex(p, 20)) bad(`peers[${i}]`, "an address", p);
  });
  const fd = r.fundingDeadline;
  if (fd !== null && (typeof fd !== "bigint" || fd < 0n)) bad("fundingDeadline", "null or a bigint >= 0", fd);
  const meta = obj(r.meta, "meta");
  return {
    channelID: r.channelID as Hex,
    machine,
    peers: r.peers as Address[],
    fundingDeadline: fd as bigint | null,
    meta,
    updatedAt,
  };
}

function validateMachine(value: unknown, id: Hex): Machine {
  const m = obj(value, "machine");
  const params = within("machine.params", "params", () => validateParams(m.params));
  if (typeof m.channelID !== "string" || m.channelID.toLowerCase() !== id.toLowerCase()) {
    bad("machine.channelID", `the record's channel id ${id}`, m.channelID);
  }
  // The params must be the channel's: a flipped byte in them would otherwise go unnoticed until a
  // signature or an on-chain call fails.
  const computed = channelId(params);
  if (computed.toLowerCase() !== id.toLowerCase()) {
    bad("machine.params", `params hashing to the channel id ${id}`, `params hashing to ${computed}`);
  }
  const n = params.participants.length;
  if (typeof m.idx !== "number" || !Number.isInteger(m.idx) || m.idx < 0 || m.idx >= n) {
    bad("machine.idx", `a participant index in 0..${n - 1}`, m.idx);
  }
  if (typeof m.phase !== "string" || !Object.hasOwn(PHASES, m.phase))
    bad("machine.phase", "a phase", m.phase);
  const current = m.current === null ? null : signedState(m.current, "machine.current", params, id);
  let pending: Proposal | null = null;
  if (m.pending !== null) {
    const p = obj(m.pending, "machine.pending");
    const signed = signedState(p, "machine.pending", params, id);
    if (
      typeof p.proposer !== "number" ||
      !Number.isInteger(p.proposer) ||
      p.proposer < 0 ||
      p.proposer >= n
    ) {
      bad("machine.pending.proposer", `a participant index in 0..${n - 1}`, p.proposer);
    }
    pending = { ...signed, proposer: p.proposer as number };
  }
  let dispute: Dispute | null = null;
  if (m.dispute !== null) {
    const d = obj(m.dispute, "machine.dispute");
    if (typeof d.version !== "bigint" || d.version < 0n || d.version > MAX_UINT64) {
      bad("machine.dispute.version", "a bigint in 0..2^64-1", d.version);
    }
    if (typeof d.timeout !== "bigint" || d.timeout < 0n)
      bad("machine.dispute.timeout", "a bigint >= 0", d.timeout);
    const state =
      d.state === null
        ? null
        : within("machine.dispute.state", "state", () => validateState(d.state, params, id));
    dispute = { version: d.version as bigint, timeout: d.timeout as bigint, state };
  }
  return {
    params,
    channelID: m.channelID as Hex,
    idx: m.idx as number,
    phase: m.phase as Phase,
    current,
    pending,
    dispute,
  };
}

function signedState(value: unknown, field: string, params: Params, id: Hex): SignedState {
  const s = obj(value, field);
  const state = within(`${field}.state`, "state", () => validateState(s.state, params, id));
  const n = params.participants.length;
  if (!Array.isArray(s.sigs) || s.sigs.length !== n) bad(`${field}.sigs`, `an array of ${n} slots`, s.sigs);
  (s.sigs as unknown[]).forEach((sig, i) => {
    if (sig !== null && !isHex(sig, 65)) bad(`${field}.sigs[${i}]`, "null or a 65-byte signature", sig);
  });
  return { state, sigs: s.sigs as (Hex | null)[] };
}
