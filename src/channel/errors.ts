/**
 * Typed errors of the channel core (house style rule 7).
 *
 * One small subclass of `PerunError` per failure, each with a stable `code`, the values that identify
 * it in `details`, and a hint saying what to do. Nothing here ever carries a private key.
 */
import { describe, PerunError } from "../errors.js";

/** An untrusted value (wire message, stored record, user input) does not have the expected shape. */
export class InvalidFieldError extends PerunError {
  readonly field: string;
  constructor(field: string, expected: string, got: unknown, hint?: string) {
    super("INVALID_FIELD", `Invalid ${field}: expected ${expected}, got ${describe(got)}.`, {
      details: { field, expected, got: describe(got) },
      hint:
        hint ?? "Reject the message or record that carried this value; it cannot be a valid channel object.",
    });
    this.field = field;
  }
}

/** Bytes handed to a decoder are not a canonical ABI encoding of the expected type. */
export class AbiDecodingError extends PerunError {
  constructor(what: string, reason: string, cause?: unknown) {
    super("ABI_DECODING", `Cannot decode ${what}: ${reason}.`, {
      details: { what, reason },
      hint: "The bytes must be exactly abi.encode(value) as the contracts produce it; reject the input.",
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** A private key is malformed or outside 1..n-1. The key itself is never echoed. */
export class InvalidPrivateKeyError extends PerunError {
  constructor(reason: string) {
    super("INVALID_PRIVATE_KEY", `Invalid private key: ${reason}.`, {
      details: { reason },
      hint: "Pass a 0x-prefixed 32-byte hex secp256k1 key in the range 1..n-1.",
    });
  }
}

/** A signature is malformed, not canonical (high s, v not 27/28) or does not recover to a key. */
export class InvalidSignatureError extends PerunError {
  constructor(reason: string, details: Record<string, unknown> = {}) {
    super("INVALID_SIGNATURE", `Invalid signature: ${reason}.`, {
      details: { reason, ...details },
      hint: "Signatures are 65 bytes r||s||v with v in {27, 28} and low s, as the Adjudicator accepts them.",
    });
  }
}

/** A well-formed signature was made by someone else than the participant it claims to be from. */
export class SignerMismatchError extends PerunError {
  readonly expected: string;
  readonly recovered: string;
  constructor(what: string, expected: string, recovered: string) {
    super("SIGNER_MISMATCH", `Signature on ${what} is not from ${expected}; it recovers to ${recovered}.`, {
      details: { what, expected, recovered },
      hint: "Drop the message: it was signed with another key or for other data.",
    });
    this.expected = expected;
    this.recovered = recovered;
  }
}

/** Allocation has the wrong dimensions (balances vs assets x participants, sub-allocations). */
export class AllocationShapeError extends PerunError {
  readonly field: string;
  constructor(field: string, expected: string, got: unknown) {
    super(
      "ALLOCATION_SHAPE",
      `Malformed allocation at ${field}: expected ${expected}, got ${describe(got)}.`,
      {
        details: { field, expected, got: describe(got) },
        hint: "balances must be [asset][participant], each SubAlloc must have one balance per asset.",
      },
    );
    this.field = field;
  }
}

/** A balance is negative or exceeds uint256. */
export class BalanceOutOfRangeError extends PerunError {
  constructor(field: string, got: bigint) {
    super("BALANCE_OUT_OF_RANGE", `Balance ${field} is out of range: ${got}.`, {
      details: { field, got: `${got}n` },
      hint: "Balances are uint256: 0 <= balance < 2^256.",
    });
  }
}

/** The assets (or their backends) of an update differ from the current state. */
export class AssetsChangedError extends PerunError {
  constructor(field: string) {
    super("ASSETS_CHANGED", `An update must not change the channel's assets, but ${field} differs.`, {
      details: { field },
      hint: "Keep outcome.assets and outcome.backends exactly as in the current state.",
    });
  }
}

/** The total of an asset (balances plus locked) differs between two allocations. */
export class FundsNotConservedError extends PerunError {
  constructor(asset: number, before: bigint, after: bigint) {
    super("FUNDS_NOT_CONSERVED", `Total of asset ${asset} changed from ${before} to ${after}.`, {
      details: { asset, before: `${before}n`, after: `${after}n` },
      hint: "An update may only move funds between participants and sub-allocations, never create or burn them.",
    });
  }
}

/** A payment asks for more than the payer holds. */
export class InsufficientBalanceError extends PerunError {
  constructor(asset: number, participant: number, balance: bigint, amount: bigint) {
    super(
      "INSUFFICIENT_BALANCE",
      `Participant ${participant} holds ${balance} of asset ${asset}, cannot pay ${amount}.`,
      {
        details: { asset, participant, balance: `${balance}n`, amount: `${amount}n` },
        hint: "Pay at most the payer's balance, or fund the channel with more.",
      },
    );
  }
}

/** An event arrived in a phase of the channel machine where it is not allowed. */
export class InvalidPhaseError extends PerunError {
  constructor(event: string, phase: string, allowed: readonly string[]) {
    super("INVALID_PHASE", `Cannot ${event} in phase ${phase}.`, {
      details: { event, phase, allowed: allowed.join("|") },
      hint: `${event} is only allowed in phase ${allowed.join(" or ")}.`,
    });
  }
}

/** A proposed state breaks a rule of valid updates (design.md section 4). */
export class InvalidTransitionError extends PerunError {
  readonly rule: string;
  constructor(rule: string, message: string, details: Record<string, unknown> = {}) {
    super("INVALID_TRANSITION", message, {
      details: { rule, ...details },
      hint: "Reject the proposal; an honest peer never sends it.",
    });
    this.rule = rule;
  }
}

/** A participant index is not one of the channel's participants. */
export class UnknownParticipantError extends PerunError {
  constructor(index: number, count: number) {
    super("UNKNOWN_PARTICIPANT", `Participant index ${index} is not in 0..${count - 1}.`, {
      details: { index, count },
      hint: "Use the index of the participant in params.participants.",
    });
  }
}

/** A channel with an app needs its rules handed in. */
export class MissingAppRulesError extends PerunError {
  constructor(app: string) {
    super("MISSING_APP_RULES", `Channel runs app ${app} but no AppRules were passed.`, {
      details: { app },
      hint: "Pass the app's AppRules to proposeUpdate/receiveUpdate.",
    });
  }
}
