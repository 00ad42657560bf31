/**
 * Typed errors of virtual channels (design.md section 5): locking a virtual channel V in a ledger
 * channel, unlocking it, and checking a peer's proposed lock or unlock. Same style as `errors.ts`: one
 * `PerunError` subclass per failure with a stable `code`, identifying `details` and a `hint`.
 */
import { describe, PerunError } from "../errors.js";

/** Parameters or a state handed in as a virtual channel's are not those of a valid virtual channel. */
export class InvalidVirtualChannelError extends PerunError {
  readonly field: string;
  constructor(field: string, expected: string, got: unknown) {
    super(
      "INVALID_VIRTUAL_CHANNEL",
      `Not a valid virtual channel at ${field}: expected ${expected}, got ${describe(got)}.`,
      {
        details: { field, expected, got: describe(got) },
        hint:
          "A virtual channel has exactly two participants (Alice, Bob), virtualChannel = true, " +
          "ledgerChannel = false, no app, no locked funds, and the same assets as its ledger channels.",
      },
    );
    this.field = field;
  }
}

/** The ledger channel already locks a sub-channel with this id. */
export class SubChannelAlreadyLockedError extends PerunError {
  constructor(id: string) {
    super("SUB_CHANNEL_ALREADY_LOCKED", `Sub-channel ${id} is already locked in this ledger channel.`, {
      details: { id },
      hint: "Each channel id may be locked once per ledger channel; use a fresh nonce for a new virtual channel.",
    });
  }
}

/** The ledger channel locks no sub-channel with this id. */
export class SubChannelNotLockedError extends PerunError {
  constructor(id: string) {
    super("SUB_CHANNEL_NOT_LOCKED", `No sub-channel ${id} is locked in this ledger channel.`, {
      details: { id },
      hint: "Unlock only a virtual channel that this ledger channel funds.",
    });
  }
}

/** Unlocking needs V's final state; a non-final state could still be replaced by a newer one. */
export class VirtualStateNotFinalError extends PerunError {
  constructor(id: string, version: bigint) {
    super("VIRTUAL_STATE_NOT_FINAL", `State version ${version} of virtual channel ${id} is not final.`, {
      details: { id, version: `${version}n` },
      hint: "Alice and Bob must first sign a final state of V (isFinal = true); or settle V on chain.",
    });
  }
}

/** V's final state distributes a different total than the ledger channel locked for it. */
export class VirtualTotalsMismatchError extends PerunError {
  constructor(id: string, asset: number, locked: bigint, final: bigint) {
    super(
      "VIRTUAL_TOTALS_MISMATCH",
      `Virtual channel ${id} has ${final} of asset ${asset} in its final state, but ${locked} is locked for it.`,
      {
        details: { id, asset, locked: `${locked}n`, final: `${final}n` },
        hint: "V's balances must add up to exactly what its ledger channels locked (the Adjudicator's SubAllocMismatch).",
      },
    );
  }
}

/**
 * A proposed lock or unlock update of a ledger channel differs from the one the protocol prescribes.
 * `rule` names what differs: channel-id, version, final, app-data, assets, sub-alloc-count,
 * sub-alloc-id, sub-alloc-amounts, index-map, other-sub-allocs, fee-missing, balances.
 */
export class LockMismatchError extends PerunError {
  readonly rule: string;
  constructor(what: "lock" | "unlock", rule: string, message: string, details: Record<string, unknown> = {}) {
    super("LOCK_MISMATCH", `Proposed ${what} update rejected (${rule}): ${message}`, {
      details: { what, rule, ...details },
      hint: "Reject the proposal: it does not lock/unlock the virtual channel exactly as agreed.",
    });
    this.rule = rule;
  }
}
