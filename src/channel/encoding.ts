/**
 * ABI encoding of the channel structs, byte for byte what Solidity's `abi.encode(x)` produces for one
 * struct value `x` (perun-eth-contracts v1.0.0 `Channel.encodeState`, `Channel.encodeParams`, and the
 * `abi.encode(authorization)` that `AssetHolder.withdraw` verifies).
 *
 * Encoding a state and hashing it is the hot path of every off-chain update, so `encodeState` writes
 * the ABI head/tail layout straight into one pre-sized Uint8Array instead of going through a generic
 * encoder: sizes are computed first, then every word is written once; dynamic members get an offset
 * word in their tuple's head pointing (relative to the tuple's start) at their tail. viem's
 * `encodeAbiParameters` with the definitions of `abi.ts` is the second opinion in the tests.
 *
 * The encoders validate as they go (hex forms and lengths, uint ranges) and throw `InvalidFieldError`,
 * so malformed input is never hashed. Decoders accept only the canonical encoding: decoded values are
 * re-encoded and must reproduce the input bytes exactly.
 */
import { decodeAbiParameters } from "viem";
import { PARAMS_ABI, STATE_ABI } from "./abi.js";
import { AbiDecodingError, InvalidFieldError } from "./errors.js";
import { hexByteLength, hexToBytes, writeHex } from "./hex.js";
import type {
  Allocation,
  Asset,
  Hex,
  Params,
  Participant,
  State,
  SubAlloc,
  WithdrawalAuth,
} from "./types.js";
import { MAX_UINT16, MAX_UINT64, MAX_UINT256 } from "./types.js";

const W = 32;
const MASK64 = (1n << 64n) - 1n;

/** Bytes taken by a dynamic `bytes` value of `n` bytes: length word plus data padded to words. */
const bytesSize = (n: number): number => W + Math.ceil(n / W) * W;

class Writer {
  readonly buf: Uint8Array;
  private readonly view: DataView;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  uint(pos: number, v: unknown, field: string, max: bigint = MAX_UINT256): void {
    if (typeof v !== "bigint" || v < 0n || v > max) {
      throw new InvalidFieldError(
        field,
        `an integer bigint in 0..${max === MAX_UINT256 ? "2^256-1" : max}`,
        v,
      );
    }
    if (v <= 0xffffffffn) {
      this.view.setUint32(pos + 28, Number(v));
    } else if (v <= MASK64) {
      this.view.setBigUint64(pos + 24, v);
    } else {
      this.view.setBigUint64(pos + 24, v & MASK64);
      this.view.setBigUint64(pos + 16, (v >> 64n) & MASK64);
      this.view.setBigUint64(pos + 8, (v >> 128n) & MASK64);
      this.view.setBigUint64(pos, v >> 192n);
    }
  }

  /** Word that is a small non-negative integer: offsets, lengths, uint16. */
  small(pos: number, v: number): void {
    this.view.setUint32(pos + 28, v);
  }

  uint16(pos: number, v: unknown, field: string): void {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_UINT16) {
      throw new InvalidFieldError(field, "an integer in 0..65535", v);
    }
    this.view.setUint16(pos + 30, v);
  }

  bool(pos: number, v: unknown, field: string): void {
    if (typeof v !== "boolean") throw new InvalidFieldError(field, "a boolean", v);
    if (v) this.buf[pos + 31] = 1;
  }

  address(pos: number, v: unknown, field: string): void {
    writeHex(v, this.buf, pos + 12, field, 20);
  }

  bytes32(pos: number, v: unknown, field: string): void {
    writeHex(v, this.buf, pos, field, 32);
  }

  /** Dynamic `bytes` at `pos`; returns the end. */
  bytes(pos: number, v: unknown, field: string): number {
    const n = writeHex(v, this.buf, pos + W, field);
    this.small(pos, n);
    return pos + bytesSize(n);
  }

  /** `uint256[]` at `pos`; returns the end. */
  uintArray(pos: number, vs: readonly unknown[], field: string): number {
    this.small(pos, vs.length);
    let p = pos + W;
    for (let i = 0; i < vs.length; i++, p += W) this.uint(p, vs[i], `${field}[${i}]`);
    return p;
  }

  uint16Array(pos: number, vs: readonly unknown[], field: string): number {
    this.small(pos, vs.length);
    let p = pos + W;
    for (let i = 0; i < vs.length; i++, p += W) this.uint16(p, vs[i], `${field}[${i}]`);
    return p;
  }

  /** Array of dynamic elements at `pos`: length, one offset per element, then the elements. */
  dynArray<T>(
    pos: number,
    vs: readonly T[],
    field: string,
    write: (w: Writer, pos: number, v: T, field: string) => number,
  ): number {
    this.small(pos, vs.length);
    const start = pos + W;
    let tail = start + vs.length * W;
    for (let i = 0; i < vs.length; i++) {
      this.small(start + i * W, tail - start);
      tail = write(this, tail, vs[i] as T, `${field}[${i}]`);
    }
    return tail;
  }
}

function arr(v: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(v)) throw new InvalidFieldError(field, "an array", v);
  return v;
}

// ---- sizes (also check that every array is an array and every hex has a valid form) ----

function participantSize(p: Participant, field: string): number {
  return 2 * W + bytesSize(hexByteLength(p?.ccAddress, `${field}.ccAddress`));
}

function assetSize(a: Asset, field: string): number {
  return 3 * W + bytesSize(hexByteLength(a?.ccHolder, `${field}.ccHolder`));
}

function subAllocSize(s: SubAlloc, field: string): number {
  const bals = arr(s?.balances, `${field}.balances`).length;
  const idx = arr(s?.indexMap, `${field}.indexMap`).length;
  return 3 * W + W + bals * W + W + idx * W;
}

function allocationSize(a: Allocation, field: string): number {
  const assets = arr(a?.assets, `${field}.assets`) as readonly Asset[];
  const balances = arr(a?.balances, `${field}.balances`);
  const locked = arr(a?.locked, `${field}.locked`) as readonly SubAlloc[];
  let size = 4 * W;
  size += W + assets.length * W;
  for (let i = 0; i < assets.length; i++) size += assetSize(assets[i] as Asset, `${field}.assets[${i}]`);
  size += W + arr(a.backends, `${field}.backends`).length * W;
  size += W + balances.length * W;
  for (let i = 0; i < balances.length; i++)
    size += W + arr(balances[i], `${field}.balances[${i}]`).length * W;
  size += W + locked.length * W;
  for (let i = 0; i < locked.length; i++)
    size += subAllocSize(locked[i] as SubAlloc, `${field}.locked[${i}]`);
  return size;
}

// ---- writers: each writes one value at `pos` and returns where it ends ----

function writeParticipant(w: Writer, pos: number, p: Participant, field: string): number {
  w.address(pos, p.ethAddress, `${field}.ethAddress`);
  w.small(pos + W, 2 * W);
  return w.bytes(pos + 2 * W, p.ccAddress, `${field}.ccAddress`);
}

function writeAsset(w: Writer, pos: number, a: Asset, field: string): number {
  w.uint(pos, a.chainID, `${field}.chainID`);
  w.address(pos + W, a.ethHolder, `${field}.ethHolder`);
  w.small(pos + 2 * W, 3 * W);
  return w.bytes(pos + 3 * W, a.ccHolder, `${field}.ccHolder`);
}

function writeBalanceRow(w: Writer, pos: number, row: readonly bigint[], field: string): number {
  return w.uintArray(pos, row, field);
}

function writeSubAlloc(w: Writer, pos: number, s: SubAlloc, field: string): number {
  w.bytes32(pos, s.ID, `${field}.ID`);
  w.small(pos + W, 3 * W);
  const end = w.uintArray(pos + 3 * W, s.balances, `${field}.balances`);
  w.small(pos + 2 * W, end - pos);
  return w.uint16Array(end, s.indexMap, `${field}.indexMap`);
}

function writeAllocation(w: Writer, pos: number, a: Allocation, field: string): number {
  let tail = pos + 4 * W;
  w.small(pos, tail - pos);
  tail = w.dynArray(tail, a.assets, `${field}.assets`, writeAsset);
  w.small(pos + W, tail - pos);
  tail = w.uintArray(tail, a.backends, `${field}.backends`);
  w.small(pos + 2 * W, tail - pos);
  tail = w.dynArray(tail, a.balances, `${field}.balances`, writeBalanceRow);
  w.small(pos + 3 * W, tail - pos);
  return w.dynArray(tail, a.locked, `${field}.locked`, writeSubAlloc);
}

/**
 * `abi.encode(state)` as the Adjudicator computes it (`Channel.encodeState`).
 *
 * @example
 * const bytes = encodeState(state); // keccak_256(bytes) is the state hash
 */
export function encodeState(state: State): Uint8Array {
  if (typeof state !== "object" || state === null)
    throw new InvalidFieldError("state", "a State object", state);
  const appLen = hexByteLength(state.appData, "state.appData");
  const size = W + 5 * W + allocationSize(state.outcome, "state.outcome") + bytesSize(appLen);
  const w = new Writer(size);
  w.small(0, W); // offset of the (dynamic) state tuple
  const p = W;
  w.bytes32(p, state.channelID, "state.channelID");
  w.uint(p + W, state.version, "state.version", MAX_UINT64);
  w.small(p + 2 * W, 5 * W);
  const allocEnd = writeAllocation(w, p + 5 * W, state.outcome, "state.outcome");
  w.small(p + 3 * W, allocEnd - p);
  const end = w.bytes(allocEnd, state.appData, "state.appData");
  w.bool(p + 4 * W, state.isFinal, "state.isFinal");
  if (end !== size) throw new Error(`encodeState: wrote ${end} of ${size} bytes`); // internal invariant
  return w.buf;
}

/** `abi.encode(params)`; keccak256 of it is the channel id (`Channel.encodeParams`). */
export function encodeParams(params: Params): Uint8Array {
  if (typeof params !== "object" || params === null) {
    throw new InvalidFieldError("params", "a Params object", params);
  }
  const parts = arr(params.participants, "params.participants") as readonly Participant[];
  let size = W + 6 * W + W + parts.length * W;
  for (let i = 0; i < parts.length; i++) {
    size += participantSize(parts[i] as Participant, `params.participants[${i}]`);
  }
  const w = new Writer(size);
  w.small(0, W);
  const p = W;
  w.uint(p, params.challengeDuration, "params.challengeDuration");
  w.uint(p + W, params.nonce, "params.nonce");
  w.small(p + 2 * W, 6 * W);
  const end = w.dynArray(p + 6 * W, parts, "params.participants", writeParticipant);
  w.address(p + 3 * W, params.app, "params.app");
  w.bool(p + 4 * W, params.ledgerChannel, "params.ledgerChannel");
  w.bool(p + 5 * W, params.virtualChannel, "params.virtualChannel");
  if (end !== size) throw new Error(`encodeParams: wrote ${end} of ${size} bytes`);
  return w.buf;
}

/** `abi.encode(authorization)` of `AssetHolder.withdraw`. */
export function encodeWithdrawalAuth(auth: WithdrawalAuth): Uint8Array {
  if (typeof auth !== "object" || auth === null) {
    throw new InvalidFieldError("auth", "a WithdrawalAuth object", auth);
  }
  const size = W + 4 * W + participantSize(auth.participant, "auth.participant");
  const w = new Writer(size);
  w.small(0, W);
  const p = W;
  w.bytes32(p, auth.channelID, "auth.channelID");
  w.small(p + W, 4 * W);
  const end = writeParticipant(w, p + 4 * W, auth.participant, "auth.participant");
  w.address(p + 2 * W, auth.receiver, "auth.receiver");
  w.uint(p + 3 * W, auth.amount, "auth.amount");
  if (end !== size) throw new Error(`encodeWithdrawalAuth: wrote ${end} of ${size} bytes`);
  return w.buf;
}

/** `abi.encode(channelID, participant)` of `AssetHolder.calcFundingID`. */
export function encodeFundingId(channelID: Hex, participant: Hex): Uint8Array {
  const w = new Writer(2 * W);
  w.bytes32(0, channelID, "channelID");
  w.address(W, participant, "participant");
  return w.buf;
}

/**
 * Decodes `abi.encode(state)`. Only the canonical encoding is accepted (re-encoding must give the
 * same bytes), so two different byte strings never decode to one state.
 */
export function decodeState(data: Uint8Array | Hex): State {
  const bytes = typeof data === "string" ? hexToBytes(data, "encoded state") : data;
  let raw: ReturnType<typeof decodeAbiParameters<typeof STATE_ABI>>[0];
  try {
    raw = decodeAbiParameters(STATE_ABI, bytes)[0];
  } catch (e) {
    throw new AbiDecodingError("State", "not an ABI encoding of Channel.State", e);
  }
  const state: State = {
    channelID: raw.channelID,
    version: raw.version,
    outcome: {
      assets: raw.outcome.assets.map((a) => ({
        chainID: a.chainID,
        ethHolder: a.ethHolder,
        ccHolder: a.ccHolder,
      })),
      backends: [...raw.outcome.backends],
      balances: raw.outcome.balances.map((row) => [...row]),
      locked: raw.outcome.locked.map((s) => ({
        ID: s.ID,
        balances: [...s.balances],
        indexMap: [...s.indexMap],
      })),
    },
    appData: raw.appData,
    isFinal: raw.isFinal,
  };
  requireCanonical("State", bytes, () => encodeState(state));
  return state;
}

/** Decodes `abi.encode(params)`; canonical encodings only. */
export function decodeParams(data: Uint8Array | Hex): Params {
  const bytes = typeof data === "string" ? hexToBytes(data, "encoded params") : data;
  let raw: ReturnType<typeof decodeAbiParameters<typeof PARAMS_ABI>>[0];
  try {
    raw = decodeAbiParameters(PARAMS_ABI, bytes)[0];
  } catch (e) {
    throw new AbiDecodingError("Params", "not an ABI encoding of Channel.Params", e);
  }
  const params: Params = {
    challengeDuration: raw.challengeDuration,
    nonce: raw.nonce,
    participants: raw.participants.map((p) => ({ ethAddress: p.ethAddress, ccAddress: p.ccAddress })),
    app: raw.app,
    ledgerChannel: raw.ledgerChannel,
    virtualChannel: raw.virtualChannel,
  };
  requireCanonical("Params", bytes, () => encodeParams(params));
  return params;
}

function requireCanonical(what: string, input: Uint8Array, reencode: () => Uint8Array): void {
  let reencoded: Uint8Array;
  try {
    reencoded = reencode();
  } catch (e) {
    // A decoded word out of its type's range (e.g. a uint64 with dirty high bytes).
    throw new AbiDecodingError(
      what,
      e instanceof InvalidFieldError ? `${e.field} out of range` : String(e),
      e,
    );
  }
  if (input.length !== reencoded.length) {
    throw new AbiDecodingError(
      what,
      `${input.length} bytes where the canonical encoding has ${reencoded.length}`,
    );
  }
  for (let i = 0; i < input.length; i++) {
    if (input[i] !== reencoded[i]) {
      throw new AbiDecodingError(
        what,
        `non-canonical encoding (byte ${i} differs: dirty padding or offsets)`,
      );
    }
  }
}
