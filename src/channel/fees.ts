/**
 * Rent for a line of virtual-channel collateral (design.md section 5): an intermediary on a virtual
 * channel's path keeps collateral locked in both of its ledger channels for as long as V may live, and
 * charges `baseFee + ratePerSecondPerUnit * collateral * seconds / 1e18`, rounded up, in the asset of
 * the collateral. A V carries an expiry (start + rented seconds) after which an intermediary may close it.
 */
import { PerunError } from "../errors.js";
import { InvalidFieldError } from "./errors.js";
import { MAX_UINT256 } from "./types.js";

/** Units of collateral `ratePerSecondPerUnit` refers to (1e18: one ether/token with 18 decimals). */
export const FEE_RATE_UNIT = 10n ** 18n;

/** An intermediary's terms for renting out its collateral. */
export interface RentalTerms {
  /** Flat fee per virtual channel. */
  readonly baseFee: bigint;
  /** Fee per second per 1e18 units of collateral (wei per second per ether). */
  readonly ratePerSecondPerUnit: bigint;
  /** Longest validity the intermediary rents out. */
  readonly maxDurationSeconds: bigint;
}

/** A rental asks for longer than the intermediary's maximum. */
export class RentalDurationExceededError extends PerunError {
  constructor(seconds: bigint, max: bigint) {
    super("RENTAL_DURATION_EXCEEDED", `A rental of ${seconds} s exceeds the maximum of ${max} s.`, {
      details: { seconds: `${seconds}n`, max: `${max}n` },
      hint: "Ask for a shorter validity (expiry), or route through another intermediary.",
    });
  }
}

function nonNegative(v: unknown, field: string): asserts v is bigint {
  if (typeof v !== "bigint" || v < 0n || v > MAX_UINT256) {
    throw new InvalidFieldError(field, "a bigint in 0..2^256-1", v);
  }
}

/** Throws unless the terms are non-negative bigints. */
export function assertRentalTerms(terms: RentalTerms, field = "terms"): void {
  nonNegative(terms.baseFee, `${field}.baseFee`);
  nonNegative(terms.ratePerSecondPerUnit, `${field}.ratePerSecondPerUnit`);
  nonNegative(terms.maxDurationSeconds, `${field}.maxDurationSeconds`);
}

/**
 * Fee for locking `collateral` for `seconds`: baseFee + ceil(rate * collateral * seconds / 1e18).
 * Throws `RentalDurationExceededError` if `seconds` exceeds the terms' maximum.
 *
 * @example
 * rentalFee({ baseFee: 10n, ratePerSecondPerUnit: 1000n, maxDurationSeconds: 86400n }, 2n * 10n ** 18n, 60n)
 * // 10n + 1000n * 2n * 60n = 120010n
 */
export function rentalFee(terms: RentalTerms, collateral: bigint, seconds: bigint): bigint {
  assertRentalTerms(terms);
  nonNegative(collateral, "collateral");
  nonNegative(seconds, "seconds");
  if (seconds > terms.maxDurationSeconds)
    throw new RentalDurationExceededError(seconds, terms.maxDurationSeconds);
  const x = terms.ratePerSecondPerUnit * collateral * seconds;
  return terms.baseFee + (x + FEE_RATE_UNIT - 1n) / FEE_RATE_UNIT;
}

/** Expiry (chain time, seconds) of a V opened at `start` for `seconds`. */
export function rentalExpiry(start: bigint, seconds: bigint): bigint {
  nonNegative(start, "start");
  nonNegative(seconds, "seconds");
  return start + seconds;
}

/** Whether a V with `expiry` has expired at chain time `now`: an intermediary may then close it. */
export function isExpired(expiry: bigint, now: bigint): boolean {
  return now > expiry;
}
