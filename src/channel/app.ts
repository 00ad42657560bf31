/**
 * App rules: the off-chain twin of an app contract's `validTransition` (perun-eth-contracts `App.sol`,
 * go-perun `channel.StateApp`). The channel machine checks the generic rules (id, version, assets,
 * conservation) itself and asks the app only about app-specific ones. Implementations must be pure.
 */
import type { Hex, Params, State } from "./types.js";

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

/**
 * An app a client can play: its rules (the twin of the contract at the app's address), how a player
 * makes a move, and the state in people's terms. Registered by contract address; a channel whose
 * params name that address runs it.
 */
export interface AppDefinition {
  /** A short name for people and the API, e.g. "tictactoe". */
  readonly name: string;
  readonly rules: AppRules;
  /** The app data of a new channel (`options` as the app documents them). */
  initialData(options: unknown): Hex;
  /**
   * The state after participant `actor` makes `move` (as the app documents it) in `from`, version + 1;
   * throws an error in the player's terms if the move is not allowed.
   */
  move(params: Params, from: State, actor: number, move: unknown): State;
  /** The app state in people's terms (JSON-safe). */
  view(state: State): unknown;
  /**
   * Every state participant `actor` can move `from` to, for an app with few moves per turn
   * (tic-tac-toe: one per empty cell). A node that cannot read a move made on chain (a `progress`
   * sent through another contract does not show in the transaction's calldata) finds it among these
   * by the hash the Adjudicator records. Optional: without it such a move must be learned otherwise.
   */
  successors?(params: Params, from: State, actor: number): State[];
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
