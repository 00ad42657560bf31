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

/** One payment of a batch (see `batchPayments`). */
export interface BatchedPayment {
  readonly asset: number;
  readonly amount: bigint;
}

/**
 * Several payments from `from` to `to` as one update (version + 1): concurrent payments of one channel
 * share one round of signatures instead of queueing for one each. Applied in order; a payment that
 * cannot be made on the balances left by the earlier ones (too much, bad asset or amount) is left out
 * and its error returned in its place, so it fails alone. `state` is null when none could be made.
 *
 * @example
 * const { state, errors } = batchPayments(current, 0, 1, [{ asset: 0, amount: 5n }, { asset: 0, amount: 7n }]);
 */
export function batchPayments(
  current: State,
  from: number,
  to: number,
  batch: readonly BatchedPayment[],
): { state: State | null; errors: (Error | undefined)[] } {
  let state: State | null = null;
  const errors = batch.map((p) => {
    try {
      const next = payment(state ?? current, p.asset, from, to, p.amount);
      state = { ...next, version: current.version + 1n };
      return undefined;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  });
  return { state, errors };
}
