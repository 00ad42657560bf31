/**
 * App rules: the off-chain twin of an app contract's `validTransition` (perun-eth-contracts `App.sol`,
 * go-perun `channel.StateApp`). The channel machine checks the generic rules (id, version, assets,
 * conservation) itself and asks the app only about app-specific ones. Implementations must be pure.
 */
import type { Params, State } from "./types.js";

/** Verdict of an app rule: valid, or the reason it is not. */
export type RuleVerdict = { readonly valid: true } | { readonly valid: false; readonly reason: string };

export interface AppRules {
  /**
   * Whether `actor` (participant index) may move the channel from `from` to `to`. Called only after
   * the generic rules passed (same channel, version + 1, assets unchanged, funds conserved).
   */
  validTransition(params: Params, from: State, to: State, actor: number): RuleVerdict;
  /** Whether `state` is an acceptable initial state (optional; default: any). */
  validInit?(params: Params, state: State): RuleVerdict;
}

export const VALID: RuleVerdict = { valid: true };
export const invalid = (reason: string): RuleVerdict => ({ valid: false, reason });

/**
 * Rules of a plain payment channel (app = zero address): no app data, ever. Who pays whom is the
 * responder's decision (see `payment.ts`), not a validity rule: both sign every state.
 */
export const paymentRules: AppRules = {
  validTransition(_params, _from, to) {
    return to.appData === "0x" ? VALID : invalid("a payment channel carries no app data");
  },
  validInit(_params, state) {
    return state.appData === "0x" ? VALID : invalid("a payment channel carries no app data");
  },
};
