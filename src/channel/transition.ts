/**
 * The rules of a valid off-chain update (design.md section 4; go-perun `channel.machine.validTransition`;
 * the checks the perun-eth-contracts Adjudicator applies in `progress`): same channel (hence same app:
 * the app is part of the params the id hashes), previous state not final, version raised by exactly
 * one, a final state locks nothing, assets unchanged, funds per asset conserved, and the app's own rule.
 */
import { assertConserved } from "./allocation.js";
import type { AppRules } from "./app.js";
import { paymentRules } from "./app.js";
import { InvalidTransitionError, MissingAppRulesError } from "./errors.js";
import type { Hex, Params, State } from "./types.js";
import { ZERO_ADDRESS } from "./types.js";
import { validateAllocation } from "./validation.js";

/** The rules to apply for `params`: the given ones, or the payment rules for an app-less channel. */
export function rulesFor(params: Params, rules: AppRules | undefined): AppRules {
  if (rules !== undefined) return rules;
  if (params.app.toLowerCase() === ZERO_ADDRESS) return paymentRules;
  throw new MissingAppRulesError(params.app);
}

/**
 * Throws a typed error unless `actor` may move channel `channelID` (with `params`) from `from` to `to`.
 * `to` must already have passed shape validation of its hex fields and integers (`validateState`).
 */
export function checkTransition(
  params: Params,
  channelID: Hex,
  from: State,
  to: State,
  actor: number,
  rules?: AppRules,
): void {
  if (to.channelID.toLowerCase() !== channelID.toLowerCase()) {
    throw new InvalidTransitionError(
      "channel-id",
      `State is for channel ${to.channelID}, not ${channelID}.`,
      {
        expected: channelID,
        got: to.channelID,
      },
    );
  }
  if (from.isFinal) {
    throw new InvalidTransitionError(
      "final",
      `State version ${from.version} is final; it cannot be updated.`,
      {
        version: `${from.version}n`,
      },
    );
  }
  if (to.version !== from.version + 1n) {
    throw new InvalidTransitionError(
      "version",
      `Version must be ${from.version + 1n} (current + 1), got ${to.version}.`,
      { expected: `${from.version + 1n}n`, got: `${to.version}n` },
    );
  }
  validateAllocation(to.outcome, params.participants.length, "state.outcome");
  if (to.isFinal && to.outcome.locked.length > 0) {
    // A final state registers with an immediate timeout: together with a stale state of a locked
    // sub-channel it would settle that sub-channel before anyone could refute (and concludeFinal
    // refuses it anyway). Unlock first, then finalise.
    throw new InvalidTransitionError(
      "final-locked",
      `A final state must lock nothing; this one still locks ${to.outcome.locked.length} sub-channel(s).`,
      { locked: to.outcome.locked.map((l) => l.ID).join(",") },
    );
  }
  assertConserved(from.outcome, to.outcome);
  const verdict = rulesFor(params, rules).validTransition(params, from, to, actor);
  if (!verdict.valid) {
    throw new InvalidTransitionError("app", `App rejects the transition: ${verdict.reason}.`, {
      reason: verdict.reason,
    });
  }
}
