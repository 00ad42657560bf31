/**
 * Which state an app channel was moved to on chain (Adjudicator.progress), as a node decides it before
 * adopting it as the base of its next move: a state read from a transaction is taken only if it is a
 * valid move from the one we hold (the contract checks less than our rules: a state our machine would
 * refuse must never become our record); a move we cannot read (made through another contract, or
 * several in one transaction) is searched among the app's moves from our state, matched against the
 * hash the Adjudicator records.
 */
import type { AppDefinition } from "./app.js";
import { hashState } from "./hash.js";
import { checkTransition } from "./transition.js";
import type { Hex, Params, State } from "./types.js";
import { validateState } from "./validation.js";

/** Whether `to` is a valid move from `from` by any participant, by every rule we sign by. */
export function isValidMove(
  params: Params,
  channelID: Hex,
  from: State,
  to: State,
  def: AppDefinition,
): boolean {
  return params.participants.some((_, actor) => {
    try {
      validateState(to, params, channelID);
      checkTransition(params, channelID, from, to, actor, def.rules);
      return true;
    } catch {
      return false;
    }
  });
}

/** At most this many candidate states are hashed in one search (tic-tac-toe: 9 x 8 x 7 x 6 after four moves). */
export const MAX_CANDIDATES = 20_000;

/**
 * The state `version` moves after `from` whose hash is `stateHash`, among the app's possible moves
 * (`successors`, every participant as actor); undefined if the app cannot list its moves, the version
 * is not ahead of ours, or more than `maxCandidates` states would have to be tried.
 */
export function findProgressed(
  params: Params,
  def: AppDefinition,
  from: State,
  target: { readonly version: bigint; readonly stateHash: Hex },
  maxCandidates = MAX_CANDIDATES,
): State | undefined {
  const successors = def.successors;
  if (successors === undefined || target.version <= from.version) return undefined;
  let frontier: State[] = [from];
  let tried = 0;
  for (let v = from.version; v < target.version; v++) {
    frontier = frontier.flatMap((s) =>
      params.participants.flatMap((_, actor) => successors(params, s, actor)),
    );
    tried += frontier.length;
    if (tried > maxCandidates) return undefined;
  }
  const want = target.stateHash.toLowerCase();
  return frontier.find((s) => hashState(s).toLowerCase() === want);
}
