/**
 * Validation of untrusted channel data (house style rule 8): wire messages, stored records and user
 * input go through these before protocol code sees them. Each check throws a typed error naming the
 * field, what was expected and what arrived.
 *
 * Checks the ranges of the Solidity types of perun-eth-contracts `Channel.sol` (bytes32, address,
 * uint64 version, uint256 amounts, uint16 indexMap) and the protocol's own rules (go-perun
 * `channel.Params`/`State` validity): at least two distinct participants, non-zero challenge
 * duration, allocation dimensions matching assets x participants.
 */
import { assertAllocationConsistent } from "./allocation.js";
import { InvalidFieldError } from "./errors.js";
import { channelId } from "./hash.js";
import { isHex } from "./hex.js";
import type { Allocation, Asset, Hex, Params, Participant, State, SubAlloc } from "./types.js";
import { MAX_UINT16, MAX_UINT64, MAX_UINT256 } from "./types.js";

function record(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new InvalidFieldError(field, "an object", v);
  return v as Record<string, unknown>;
}

function array(v: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(v)) throw new InvalidFieldError(field, "an array", v);
  return v;
}

function hex(v: unknown, field: string, bytes?: number): void {
  if (!isHex(v, bytes)) {
    throw new InvalidFieldError(
      field,
      bytes === undefined ? "0x-prefixed hex bytes" : `0x-prefixed hex of ${bytes} bytes`,
      v,
    );
  }
}

function uint(v: unknown, field: string, max: bigint, what: string): void {
  if (typeof v !== "bigint" || v < 0n || v > max)
    throw new InvalidFieldError(field, `a bigint in 0..${what}`, v);
}

function uints(v: unknown, field: string): void {
  array(v, field).forEach((b, i) => {
    uint(b, `${field}[${i}]`, MAX_UINT256, "2^256-1");
  });
}

function bool(v: unknown, field: string): void {
  if (typeof v !== "boolean") throw new InvalidFieldError(field, "a boolean", v);
}

function participant(v: unknown, field: string): Participant {
  const p = record(v, field);
  hex(p.ethAddress, `${field}.ethAddress`, 20);
  hex(p.ccAddress, `${field}.ccAddress`);
  return p as unknown as Participant;
}

/**
 * Checks untrusted channel parameters.
 *
 * @example
 * const params = validateParams(JSON.parse(text, reviver)); // throws InvalidFieldError
 */
export function validateParams(value: unknown): Params {
  const p = record(value, "params");
  uint(p.challengeDuration, "params.challengeDuration", MAX_UINT256, "2^256-1");
  if (p.challengeDuration === 0n) {
    throw new InvalidFieldError(
      "params.challengeDuration",
      "a positive number of seconds",
      0n,
      "With a zero challenge duration a stale state could be concluded before anyone can refute it.",
    );
  }
  uint(p.nonce, "params.nonce", MAX_UINT256, "2^256-1");
  const parts = array(p.participants, "params.participants").map((x, i) =>
    participant(x, `params.participants[${i}]`),
  );
  if (parts.length > MAX_UINT16)
    throw new InvalidFieldError("params.participants", "at most 65535 entries", parts.length);
  hex(p.app, "params.app", 20);
  bool(p.ledgerChannel, "params.ledgerChannel");
  bool(p.virtualChannel, "params.virtualChannel");
  if (parts.length < 2) {
    throw new InvalidFieldError("params.participants", "at least 2 participants", parts.length);
  }
  if (p.ledgerChannel && p.virtualChannel) {
    throw new InvalidFieldError("params.virtualChannel", "false for a ledger channel", true);
  }
  const seen = new Set<string>();
  parts.forEach((x, i) => {
    const a = x.ethAddress.toLowerCase();
    if (seen.has(a)) {
      throw new InvalidFieldError(
        `params.participants[${i}].ethAddress`,
        "an address not already a participant",
        x.ethAddress,
      );
    }
    seen.add(a);
  });
  return p as unknown as Params;
}

/** Checks an untrusted allocation among `numParts` participants. */
export function validateAllocation(value: unknown, numParts: number, field = "outcome"): Allocation {
  const a = record(value, field);
  array(a.assets, `${field}.assets`).forEach((x, i) => {
    const f = `${field}.assets[${i}]`;
    const asset = record(x, f) as Partial<Record<keyof Asset, unknown>>;
    uint(asset.chainID, `${f}.chainID`, MAX_UINT256, "2^256-1");
    hex(asset.ethHolder, `${f}.ethHolder`, 20);
    hex(asset.ccHolder, `${f}.ccHolder`);
  });
  uints(a.backends, `${field}.backends`);
  array(a.balances, `${field}.balances`).forEach((row, i) => {
    uints(row, `${field}.balances[${i}]`);
  });
  array(a.locked, `${field}.locked`).forEach((x, i) => {
    const f = `${field}.locked[${i}]`;
    const sub = record(x, f) as Partial<Record<keyof SubAlloc, unknown>>;
    hex(sub.ID, `${f}.ID`, 32);
    uints(sub.balances, `${f}.balances`);
    array(sub.indexMap, `${f}.indexMap`).forEach((ix, j) => {
      if (typeof ix !== "number" || !Number.isInteger(ix) || ix < 0 || ix > MAX_UINT16 || ix >= numParts) {
        throw new InvalidFieldError(
          `${f}.indexMap[${j}]`,
          `a participant index in 0..${Math.min(numParts - 1, MAX_UINT16)}`,
          ix,
        );
      }
    });
  });
  const alloc = a as unknown as Allocation;
  assertAllocationConsistent(alloc, numParts);
  return alloc;
}

/**
 * Checks an untrusted state; with `params`, also that it belongs to that channel (id and number of
 * participants). Pass the channel id if known, to save hashing the params again.
 */
export function validateState(value: unknown, params?: Params, channelID?: Hex): State {
  const s = record(value, "state");
  hex(s.channelID, "state.channelID", 32);
  uint(s.version, "state.version", MAX_UINT64, "2^64-1");
  hex(s.appData, "state.appData");
  bool(s.isFinal, "state.isFinal");
  let numParts: number;
  if (params !== undefined) {
    const id = (channelID ?? channelId(params)).toLowerCase();
    if ((s.channelID as string).toLowerCase() !== id) {
      throw new InvalidFieldError("state.channelID", `the channel id ${id} of the params`, s.channelID);
    }
    numParts = params.participants.length;
  } else {
    // Without params, the first balance row fixes the number of participants.
    const rows = array(record(s.outcome, "state.outcome").balances, "state.outcome.balances");
    numParts = rows.length > 0 ? array(rows[0], "state.outcome.balances[0]").length : 0;
  }
  validateAllocation(s.outcome, numParts, "state.outcome");
  return s as unknown as State;
}
