/**
 * Wire codec (design.md section 6): `WireMsg` <-> versioned, size-limited frames.
 *
 * Frame = one byte codec version (1) || UTF-8 JSON of the message, bigints as decimal strings (JSON
 * numbers would lose precision above 2^53). JSON because V8's parser is native and fast; the encoder
 * writes the JSON text in one pass (no intermediate object, no replacer, one stringify per message).
 *
 * The decoder is a boundary (house style rule 8): it checks the frame size before looking at the
 * bytes, then every field against the message type's schema (exact keys, hex lengths, integer ranges,
 * params and states through the core's validateParams/validateState) and builds fresh objects, so
 * nothing a peer adds beyond the schema reaches protocol code. Every failure is a
 * `MalformedMessageError` naming the field. Signatures are only checked for form here; whether they
 * are from the right participant is the client's job (it knows the channel).
 */
import { isUtf8 } from "node:buffer";
import { isHex } from "../channel/hex.js";
import type { Address, Allocation, Asset, Hex, Params, State, SubAlloc } from "../channel/types.js";
import { MAX_UINT16, MAX_UINT64 } from "../channel/types.js";
import { validateParams, validateState } from "../channel/validation.js";
import { PerunError } from "../errors.js";
import { MalformedMessageError, OversizedMessageError } from "./errors.js";
import type {
  ChannelAcceptMsg,
  ChannelProposalMsg,
  ChannelRejectMsg,
  ErrorMsg,
  SyncMsg,
  UpdateAcceptMsg,
  UpdateMsg,
  UpdateRejectMsg,
  VirtualFinalMsg,
  VirtualFundingMsg,
  VirtualProposalMsg,
  WireMsg,
  WireMsgType,
} from "./messages.js";

/** First byte of every frame. Bump on any incompatible change; old peers then reject cleanly. */
export const CODEC_VERSION = 1;
/** Default upper bound of a frame (1 MiB): enough for a state with many assets and sub-channels. */
export const MAX_FRAME_BYTES = 1 << 20;
/** Longest `reason` text accepted, in UTF-16 code units. */
export const MAX_REASON_LENGTH = 1024;

/** Every message type, in the order of the docs. */
export const MSG_TYPES: readonly WireMsgType[] = [
  "channelProposal",
  "channelAccept",
  "channelReject",
  "update",
  "updateAccept",
  "updateReject",
  "sync",
  "error",
  "virtualProposal",
  "virtualAccept",
  "virtualReject",
  "virtualFunding",
  "virtualFinal",
];

/**
 * Encodes `msg` as a frame. Checks the JS types of the fields as it goes (a wrong type would make the
 * peer drop the frame, better to fail here), not their contents.
 *
 * @example
 * transportSocket.send(encodeMsg({ type: "channelReject", proposalID, reason: "busy" }));
 */
export function encodeMsg(msg: WireMsg, maxBytes: number = MAX_FRAME_BYTES): Uint8Array {
  // The version byte as the first UTF-16 unit makes Buffer.from produce the whole frame in one pass.
  const frame = Buffer.from(`\u0001${stringifyMsg(msg)}`, "utf8");
  if (frame.length > maxBytes) throw new OversizedMessageError(frame.length, maxBytes);
  return frame;
}

/**
 * Decodes and validates a frame from an untrusted peer.
 *
 * @example
 * const msg = decodeMsg(frame); // throws MalformedMessageError or OversizedMessageError
 */
export function decodeMsg(bytes: Uint8Array, maxBytes: number = MAX_FRAME_BYTES): WireMsg {
  if (bytes.length > maxBytes) throw new OversizedMessageError(bytes.length, maxBytes);
  if (bytes.length === 0) throw new MalformedMessageError("frame", "a codec version byte", "0 bytes");
  if (bytes[0] !== CODEC_VERSION) {
    throw new MalformedMessageError("frame.version", `codec version ${CODEC_VERSION}`, bytes[0]);
  }
  if (!isUtf8(bytes)) throw new MalformedMessageError("frame", "UTF-8 JSON", "invalid UTF-8");
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8", 1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new MalformedMessageError("frame", "UTF-8 JSON", (e as Error).message, e);
  }
  try {
    return decodeValue(value);
  } catch (e) {
    if (e instanceof MalformedMessageError) throw e;
    // Found by fuzzing (bench/fuzz/codec-fuzz.ts): a value nested some 10,000 levels deep fits in a
    // frame and JSON.parse takes it, but describing it for the error message overflows the stack
    // (RangeError). Whatever else the checks throw on hostile input, the frame is malformed.
    throw new MalformedMessageError(
      "message",
      "a message of the wire schema",
      `unreadable (${String(e)})`,
      e,
    );
  }
}

function decodeValue(value: unknown): WireMsg {
  const m = record(value, "message");
  switch (m.type) {
    case "channelProposal":
      return decodeProposal(m);
    case "channelAccept":
      return decodeAccept(m);
    case "channelReject":
      return decodeReject(m);
    case "update":
      return decodeUpdate(m);
    case "updateAccept":
      return decodeUpdateAccept(m);
    case "updateReject":
      return decodeUpdateReject(m);
    case "sync":
      return decodeSync(m);
    case "error":
      return decodeError(m);
    case "virtualProposal":
      return decodeVirtualProposal(m);
    case "virtualAccept":
      keys(m, "virtualAccept", 3);
      return {
        type: "virtualAccept",
        proposalID: hex(m.proposalID, "virtualAccept.proposalID", 32),
        sig: hex(m.sig, "virtualAccept.sig", 65),
      };
    case "virtualReject":
      keys(m, "virtualReject", 3);
      return {
        type: "virtualReject",
        proposalID: hex(m.proposalID, "virtualReject.proposalID", 32),
        reason: reason(m.reason, "virtualReject.reason"),
      };
    case "virtualFunding":
      return decodeVirtualFunding(m);
    case "virtualFinal":
      return decodeVirtualFinal(m);
    default:
      throw new MalformedMessageError("message.type", `one of ${MSG_TYPES.join(", ")}`, m.type);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding: JSON text written directly. Strings go through JSON.stringify so that even a bogus
// value cannot break out of its quotes.

function stringifyMsg(msg: WireMsg): string {
  if (typeof msg !== "object" || msg === null) throw new MalformedMessageError("message", "an object", msg);
  switch (msg.type) {
    case "channelProposal":
      return `{"type":"channelProposal","proposalID":${s(msg.proposalID, "proposalID")},"params":${encParams(
        msg.params,
      )},"initial":${encState(msg.initial, "initial")},"sig":${s(msg.sig, "sig")},"fundingTimeout":${b(
        msg.fundingTimeout,
        "fundingTimeout",
      )}}`;
    case "channelAccept":
      return `{"type":"channelAccept","proposalID":${s(msg.proposalID, "proposalID")},"channelID":${s(
        msg.channelID,
        "channelID",
      )},"sig":${s(msg.sig, "sig")}}`;
    case "channelReject":
      return `{"type":"channelReject","proposalID":${s(msg.proposalID, "proposalID")},"reason":${s(
        msg.reason,
        "reason",
      )}}`;
    case "update":
      return `{"type":"update","channelID":${s(msg.channelID, "channelID")},"from":${n(msg.from, "from")},"state":${encState(
        msg.state,
        "state",
      )},"sig":${s(msg.sig, "sig")}}`;
    case "updateAccept":
      return `{"type":"updateAccept","channelID":${s(msg.channelID, "channelID")},"from":${n(
        msg.from,
        "from",
      )},"version":${b(msg.version, "version")},"sig":${s(msg.sig, "sig")}}`;
    case "updateReject":
      return `{"type":"updateReject","channelID":${s(msg.channelID, "channelID")},"from":${n(
        msg.from,
        "from",
      )},"version":${b(msg.version, "version")},"reason":${s(msg.reason, "reason")}}`;
    case "sync":
      return `{"type":"sync","channelID":${s(msg.channelID, "channelID")},"state":${encState(
        msg.state,
        "state",
      )},"sigs":${arr(msg.sigs, "sigs", s)}}`;
    case "virtualProposal":
      return `{"type":"virtualProposal","proposalID":${s(msg.proposalID, "proposalID")},"path":${arr(
        msg.path,
        "path",
        s,
      )},"ledgerIDs":${arr(msg.ledgerIDs, "ledgerIDs", s)},"params":${encParams(msg.params)},"initial":${encState(
        msg.initial,
        "initial",
      )},"sig":${s(msg.sig, "sig")},"fees":${arr(msg.fees, "fees", (row, f) => arr(row, f, b))},"expiry":${b(
        msg.expiry,
        "expiry",
      )}}`;
    case "virtualAccept":
      return `{"type":"virtualAccept","proposalID":${s(msg.proposalID, "proposalID")},"sig":${s(msg.sig, "sig")}}`;
    case "virtualReject":
      return `{"type":"virtualReject","proposalID":${s(msg.proposalID, "proposalID")},"reason":${s(
        msg.reason,
        "reason",
      )}}`;
    case "virtualFunding":
      return `{"type":"virtualFunding","path":${arr(msg.path, "path", s)},"ledgerIDs":${arr(
        msg.ledgerIDs,
        "ledgerIDs",
        s,
      )},"params":${encParams(msg.params)},"initial":${encState(msg.initial, "initial")},"sigs":${arr(
        msg.sigs,
        "sigs",
        s,
      )},"fees":${arr(msg.fees, "fees", (row, f) => arr(row, f, b))},"expiry":${b(msg.expiry, "expiry")}}`;
    case "virtualFinal":
      return `{"type":"virtualFinal","params":${encParams(msg.params)},"state":${encState(msg.state, "state")},"sigs":${arr(
        msg.sigs,
        "sigs",
        s,
      )}}`;
    case "error":
      return msg.channelID === undefined
        ? `{"type":"error","reason":${s(msg.reason, "reason")}}`
        : `{"type":"error","reason":${s(msg.reason, "reason")},"channelID":${s(msg.channelID, "channelID")}}`;
    default:
      throw new MalformedMessageError(
        "message.type",
        `one of ${MSG_TYPES.join(", ")}`,
        (msg as { type: unknown }).type,
      );
  }
}

function encParams(p: Params): string {
  const parts = arr(
    p.participants,
    "params.participants",
    (x, f) =>
      `{"ethAddress":${s(x.ethAddress, `${f}.ethAddress`)},"ccAddress":${s(x.ccAddress, `${f}.ccAddress`)}}`,
  );
  return `{"challengeDuration":${b(p.challengeDuration, "params.challengeDuration")},"nonce":${b(
    p.nonce,
    "params.nonce",
  )},"participants":${parts},"app":${s(p.app, "params.app")},"ledgerChannel":${bool(
    p.ledgerChannel,
    "params.ledgerChannel",
  )},"virtualChannel":${bool(p.virtualChannel, "params.virtualChannel")}}`;
}

function encState(st: State, f: string): string {
  if (typeof st !== "object" || st === null) throw new MalformedMessageError(f, "a state object", st);
  const o = st.outcome;
  if (typeof o !== "object" || o === null)
    throw new MalformedMessageError(`${f}.outcome`, "an allocation", o);
  const assets = arr(
    o.assets,
    `${f}.outcome.assets`,
    (a: Asset, af) =>
      `{"chainID":${b(a.chainID, `${af}.chainID`)},"ethHolder":${s(a.ethHolder, `${af}.ethHolder`)},"ccHolder":${s(
        a.ccHolder,
        `${af}.ccHolder`,
      )}}`,
  );
  const locked = arr(
    o.locked,
    `${f}.outcome.locked`,
    (l: SubAlloc, lf) =>
      `{"ID":${s(l.ID, `${lf}.ID`)},"balances":${arr(l.balances, `${lf}.balances`, b)},"indexMap":${arr(
        l.indexMap,
        `${lf}.indexMap`,
        n,
      )}}`,
  );
  return `{"channelID":${s(st.channelID, `${f}.channelID`)},"version":${b(st.version, `${f}.version`)},"outcome":{"assets":${assets},"backends":${arr(
    o.backends,
    `${f}.outcome.backends`,
    b,
  )},"balances":${arr(o.balances, `${f}.outcome.balances`, (row, rf) => arr(row, rf, b))},"locked":${locked}},"appData":${s(
    st.appData,
    `${f}.appData`,
  )},"isFinal":${bool(st.isFinal, `${f}.isFinal`)}}`;
}

function s(v: unknown, f: string): string {
  if (typeof v !== "string") throw new MalformedMessageError(f, "a string", v);
  return JSON.stringify(v);
}

function b(v: unknown, f: string): string {
  if (typeof v !== "bigint") throw new MalformedMessageError(f, "a bigint", v);
  return `"${v}"`;
}

function n(v: unknown, f: string): string {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new MalformedMessageError(f, "an integer", v);
  return `${v}`;
}

function bool(v: unknown, f: string): string {
  if (typeof v !== "boolean") throw new MalformedMessageError(f, "a boolean", v);
  return v ? "true" : "false";
}

function arr<T>(v: readonly T[], f: string, item: (x: T, f: string) => string): string {
  if (!Array.isArray(v)) throw new MalformedMessageError(f, "an array", v);
  let out = "[";
  for (let i = 0; i < v.length; i++) {
    if (i > 0) out += ",";
    out += item(v[i] as T, `${f}[${i}]`);
  }
  return `${out}]`;
}

// ---------------------------------------------------------------------------------------------
// Decoding: one function per message type; each checks the exact key set, then every field.

type Obj = Record<string, unknown>;

function decodeProposal(m: Obj): ChannelProposalMsg {
  keys(m, "channelProposal", 6);
  const params = core("channelProposal.params", "params", () => validateParams(decParams(m.params)));
  const initial = core("channelProposal.initial", "state", () =>
    validateState(decState(m.initial, "channelProposal.initial"), params),
  );
  return {
    type: "channelProposal",
    proposalID: hex(m.proposalID, "channelProposal.proposalID", 32),
    params,
    initial,
    sig: hex(m.sig, "channelProposal.sig", 65),
    fundingTimeout: uint(m.fundingTimeout, "channelProposal.fundingTimeout", MAX_UINT64),
  };
}

function decodeAccept(m: Obj): ChannelAcceptMsg {
  keys(m, "channelAccept", 4);
  return {
    type: "channelAccept",
    proposalID: hex(m.proposalID, "channelAccept.proposalID", 32),
    channelID: hex(m.channelID, "channelAccept.channelID", 32),
    sig: hex(m.sig, "channelAccept.sig", 65),
  };
}

function decodeReject(m: Obj): ChannelRejectMsg {
  keys(m, "channelReject", 3);
  return {
    type: "channelReject",
    proposalID: hex(m.proposalID, "channelReject.proposalID", 32),
    reason: reason(m.reason, "channelReject.reason"),
  };
}

function decodeUpdate(m: Obj): UpdateMsg {
  keys(m, "update", 5);
  return {
    type: "update",
    channelID: hex(m.channelID, "update.channelID", 32),
    from: index(m.from, "update.from"),
    state: core("update.state", "state", () => validateState(decState(m.state, "update.state"))),
    sig: hex(m.sig, "update.sig", 65),
  };
}

function decodeUpdateAccept(m: Obj): UpdateAcceptMsg {
  keys(m, "updateAccept", 5);
  return {
    type: "updateAccept",
    channelID: hex(m.channelID, "updateAccept.channelID", 32),
    from: index(m.from, "updateAccept.from"),
    version: uint(m.version, "updateAccept.version", MAX_UINT64),
    sig: hex(m.sig, "updateAccept.sig", 65),
  };
}

function decodeUpdateReject(m: Obj): UpdateRejectMsg {
  keys(m, "updateReject", 5);
  return {
    type: "updateReject",
    channelID: hex(m.channelID, "updateReject.channelID", 32),
    from: index(m.from, "updateReject.from"),
    version: uint(m.version, "updateReject.version", MAX_UINT64),
    reason: reason(m.reason, "updateReject.reason"),
  };
}

function decodeSync(m: Obj): SyncMsg {
  keys(m, "sync", 4);
  const sigs = array(m.sigs, "sync.sigs");
  if (sigs.length === 0 || sigs.length > MAX_UINT16) {
    throw new MalformedMessageError("sync.sigs", `1..${MAX_UINT16} signatures`, sigs.length);
  }
  return {
    type: "sync",
    channelID: hex(m.channelID, "sync.channelID", 32),
    state: core("sync.state", "state", () => validateState(decState(m.state, "sync.state"))),
    sigs: sigs.map((x, i) => hex(x, `sync.sigs[${i}]`, 65)),
  };
}

const MAX_PATH = 16;

function decodePath(m: Obj, f: string): { path: Address[]; ledgerIDs: Hex[] } {
  const path = array(m.path, `${f}.path`);
  if (path.length < 3 || path.length > MAX_PATH) {
    throw new MalformedMessageError(`${f}.path`, `3..${MAX_PATH} addresses`, path.length);
  }
  const ledgerIDs = array(m.ledgerIDs, `${f}.ledgerIDs`);
  if (ledgerIDs.length !== path.length - 1) {
    throw new MalformedMessageError(`${f}.ledgerIDs`, `${path.length - 1} channel ids`, ledgerIDs.length);
  }
  return {
    path: path.map((x, i) => hex(x, `${f}.path[${i}]`, 20) as Address),
    ledgerIDs: ledgerIDs.map((x, i) => hex(x, `${f}.ledgerIDs[${i}]`, 32)),
  };
}

function decodeFees(m: Obj, f: string, hops: number): bigint[][] {
  const fees = array(m.fees, `${f}.fees`);
  if (fees.length !== hops) throw new MalformedMessageError(`${f}.fees`, `${hops} rows`, fees.length);
  return fees.map((row, i) => uints(row, `${f}.fees[${i}]`));
}

function decodeVirtualProposal(m: Obj): VirtualProposalMsg {
  keys(m, "virtualProposal", 9);
  const { path, ledgerIDs } = decodePath(m, "virtualProposal");
  const params = core("virtualProposal.params", "params", () => validateParams(decParams(m.params)));
  return {
    type: "virtualProposal",
    proposalID: hex(m.proposalID, "virtualProposal.proposalID", 32),
    path,
    ledgerIDs,
    params,
    initial: core("virtualProposal.initial", "state", () =>
      validateState(decState(m.initial, "virtualProposal.initial"), params),
    ),
    sig: hex(m.sig, "virtualProposal.sig", 65),
    fees: decodeFees(m, "virtualProposal", path.length - 2),
    expiry: uint(m.expiry, "virtualProposal.expiry", MAX_UINT64),
  };
}

function decodeVirtualFunding(m: Obj): VirtualFundingMsg {
  keys(m, "virtualFunding", 8);
  const { path, ledgerIDs } = decodePath(m, "virtualFunding");
  const params = core("virtualFunding.params", "params", () => validateParams(decParams(m.params)));
  const sigs = array(m.sigs, "virtualFunding.sigs");
  if (sigs.length !== 2) throw new MalformedMessageError("virtualFunding.sigs", "2 signatures", sigs.length);
  return {
    type: "virtualFunding",
    path,
    ledgerIDs,
    params,
    initial: core("virtualFunding.initial", "state", () =>
      validateState(decState(m.initial, "virtualFunding.initial"), params),
    ),
    sigs: sigs.map((x, i) => hex(x, `virtualFunding.sigs[${i}]`, 65)),
    fees: decodeFees(m, "virtualFunding", path.length - 2),
    expiry: uint(m.expiry, "virtualFunding.expiry", MAX_UINT64),
  };
}

function decodeVirtualFinal(m: Obj): VirtualFinalMsg {
  keys(m, "virtualFinal", 4);
  const params = core("virtualFinal.params", "params", () => validateParams(decParams(m.params)));
  const sigs = array(m.sigs, "virtualFinal.sigs");
  if (sigs.length !== 2) throw new MalformedMessageError("virtualFinal.sigs", "2 signatures", sigs.length);
  return {
    type: "virtualFinal",
    params,
    state: core("virtualFinal.state", "state", () =>
      validateState(decState(m.state, "virtualFinal.state"), params),
    ),
    sigs: sigs.map((x, i) => hex(x, `virtualFinal.sigs[${i}]`, 65)),
  };
}

function decodeError(m: Obj): ErrorMsg {
  const hasChannel = m.channelID !== undefined;
  keys(m, "error", hasChannel ? 3 : 2);
  const r = reason(m.reason, "error.reason");
  return hasChannel
    ? { type: "error", reason: r, channelID: hex(m.channelID, "error.channelID", 32) }
    : { type: "error", reason: r };
}

/** Rebuilds params with bigints; the core's validateParams then checks the rest. */
function decParams(v: unknown): Params {
  const f = "channelProposal.params";
  const p = record(v, f);
  keys(p, f, 6);
  return {
    challengeDuration: uint(p.challengeDuration, `${f}.challengeDuration`),
    nonce: uint(p.nonce, `${f}.nonce`),
    participants: array(p.participants, `${f}.participants`).map((x, i) => {
      const pf = `${f}.participants[${i}]`;
      const part = record(x, pf);
      keys(part, pf, 2);
      return { ethAddress: part.ethAddress as Hex, ccAddress: part.ccAddress as Hex };
    }),
    app: p.app as Hex,
    ledgerChannel: p.ledgerChannel as boolean,
    virtualChannel: p.virtualChannel as boolean,
  };
}

/** Rebuilds a state with bigints; the core's validateState then checks hex, ranges and shape. */
function decState(v: unknown, f: string): State {
  const st = record(v, f);
  keys(st, f, 5);
  const of = `${f}.outcome`;
  const o = record(st.outcome, of);
  keys(o, of, 4);
  const outcome: Allocation = {
    assets: array(o.assets, `${of}.assets`).map((x, i) => {
      const af = `${of}.assets[${i}]`;
      const a = record(x, af);
      keys(a, af, 3);
      return {
        chainID: uint(a.chainID, `${af}.chainID`),
        ethHolder: a.ethHolder as Hex,
        ccHolder: a.ccHolder as Hex,
      };
    }),
    backends: uints(o.backends, `${of}.backends`),
    balances: array(o.balances, `${of}.balances`).map((row, i) => uints(row, `${of}.balances[${i}]`)),
    locked: array(o.locked, `${of}.locked`).map((x, i) => {
      const lf = `${of}.locked[${i}]`;
      const l = record(x, lf);
      keys(l, lf, 3);
      return {
        ID: l.ID as Hex,
        balances: uints(l.balances, `${lf}.balances`),
        // -0 as 0 (see index()); the core's validateAllocation checks the entries.
        indexMap: array(l.indexMap, `${lf}.indexMap`).map((x) => (x === 0 ? 0 : x)) as number[],
      };
    }),
  };
  return {
    channelID: st.channelID as Hex,
    version: uint(st.version, `${f}.version`, MAX_UINT64),
    outcome,
    appData: st.appData as Hex,
    isFinal: st.isFinal as boolean,
  };
}

/**
 * Runs a core validator and turns its typed error into a MalformedMessageError at the message's
 * field path (the core names fields `state.*` / `params.*` / `outcome.*`).
 */
function core<T>(path: string, coreRoot: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof MalformedMessageError || !(e instanceof PerunError)) throw e;
    const field = typeof e.details.field === "string" ? e.details.field : coreRoot;
    const rel = field.startsWith(`${coreRoot}.`)
      ? field.slice(coreRoot.length)
      : field === coreRoot
        ? ""
        : `.${field}`;
    const expected = typeof e.details.expected === "string" ? e.details.expected : e.message.split("\n")[0];
    throw new MalformedMessageError(`${path}${rel}`, expected ?? "a valid value", e.details.got, e);
  }
}

function record(v: unknown, f: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new MalformedMessageError(f, "an object", v);
  return v as Obj;
}

function array(v: unknown, f: string): readonly unknown[] {
  if (!Array.isArray(v)) throw new MalformedMessageError(f, "an array", v);
  return v;
}

/**
 * Rejects objects with keys beyond the schema. Missing keys need no check here: a missing field
 * reads as undefined and fails its own type check; with the count equal, an extra key implies one.
 */
function keys(o: Obj, f: string, expected: number): void {
  let count = 0;
  for (const _ in o) count++;
  if (count !== expected) {
    throw new MalformedMessageError(f, `exactly ${expected} fields`, Object.keys(o));
  }
}

function hex(v: unknown, f: string, bytes: number): Hex {
  if (!isHex(v, bytes)) throw new MalformedMessageError(f, `0x-prefixed hex of ${bytes} bytes`, v);
  return v;
}

const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;

/** A non-negative integer sent as a decimal string (78 digits cover uint256). */
function uint(v: unknown, f: string, max?: bigint): bigint {
  if (typeof v !== "string" || !DECIMAL.test(v)) throw new MalformedMessageError(f, "a decimal string", v);
  const x = BigInt(v);
  if (max !== undefined && x > max) throw new MalformedMessageError(f, `an integer in 0..${max}`, v);
  return x;
}

function uints(v: unknown, f: string): bigint[] {
  const a = array(v, f);
  const out = new Array<bigint>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = uint(a[i], `${f}[${i}]`);
  return out;
}

/**
 * A participant index: at most 65535 participants, as in the contracts' uint16 index maps. JSON's
 * `-0` passes the range check; it is returned as 0, so that the message re-encodes to what it decoded
 * to (found by fuzzing).
 */
function index(v: unknown, f: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_UINT16) {
    throw new MalformedMessageError(f, `a participant index in 0..${MAX_UINT16}`, v);
  }
  return v + 0;
}

function reason(v: unknown, f: string): string {
  if (typeof v !== "string" || v.length > MAX_REASON_LENGTH) {
    throw new MalformedMessageError(f, `a string of at most ${MAX_REASON_LENGTH} characters`, v);
  }
  return v;
}
