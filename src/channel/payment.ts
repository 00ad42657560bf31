/**
 * Payments: the everyday update of a ledger or virtual payment channel (design.md section 4), moving
 * `amount` of one asset from participant `from` to participant `to` at version + 1. Pure: builds the
 * next state, which then goes through `proposeUpdate` like any other.
 */
import { InsufficientBalanceError, InvalidFieldError, UnknownParticipantError } from "./errors.js";
import type { State } from "./types.js";

/**
 * The state after paying `amount` of asset `asset` from participant `from` to `to`.
 *
 * @example
 * const next = payment(current, 0, 0, 1, 10n ** 15n); // Alice pays Bob 0.001 ETH
 */
export function payment(current: State, asset: number, from: number, to: number, amount: bigint): State {
  const bals = current.outcome.balances;
  const row = bals[asset];
  if (!Number.isInteger(asset) || row === undefined) {
    throw new InvalidFieldError("asset", `an asset index in 0..${bals.length - 1}`, asset);
  }
  for (const p of [from, to]) {
    if (!Number.isInteger(p) || p < 0 || p >= row.length) throw new UnknownParticipantError(p, row.length);
  }
  if (from === to) throw new InvalidFieldError("to", "a participant other than the payer", to);
  if (typeof amount !== "bigint" || amount <= 0n) {
    throw new InvalidFieldError("amount", "a positive bigint", amount);
  }
  const balance = row[from] as bigint;
  if (balance < amount) throw new InsufficientBalanceError(asset, from, balance, amount);
  const newRow = [...row];
  newRow[from] = balance - amount;
  newRow[to] = (row[to] as bigint) + amount;
  return {
    ...current,
    version: current.version + 1n,
    outcome: { ...current.outcome, balances: bals.map((r, a) => (a === asset ? newRow : r)) },
  };
}

/**
 * How much participant `idx` gains (positive) or loses (negative) of each asset from `from` to `to`:
 * what a responder looks at to decide whether to sign (e.g. auto-accept anything >= 0).
 */
export function balanceDelta(from: State, to: State, idx: number): bigint[] {
  return from.outcome.balances.map((row, a) => (to.outcome.balances[a]?.[idx] ?? 0n) - (row[idx] ?? 0n));
}
