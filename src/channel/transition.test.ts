/**
 * The rules of a valid update (`checkTransition`), each on its own: the machine reaches most of them
 * only behind other checks (validateState refuses a foreign channel id first), so here every rule is
 * hit directly, with the rule name and the details a caller (a log, a peer's error) gets.
 */
import { describe, expect, it } from "vitest";
import type { AppRules } from "./app.js";
import { invalid, VALID } from "./app.js";
import { twoPartyChannel } from "./arbitraries.testutil.js";
import { FundsNotConservedError, InvalidTransitionError, MissingAppRulesError } from "./errors.js";
import { checkTransition, rulesFor } from "./transition.js";
import type { Hex, State } from "./types.js";

const { params, init } = twoPartyChannel();
const id = init.channelID;
const next: State = { ...init, version: 1n, outcome: { ...init.outcome, balances: [[90n, 60n]] } };

function refusal(from: State, to: State, rules?: AppRules): InvalidTransitionError {
  try {
    checkTransition(params, id, from, to, 0, rules);
  } catch (e) {
    if (e instanceof InvalidTransitionError) return e;
    throw e;
  }
  throw new Error("the transition was accepted");
}

describe("checkTransition", () => {
  it("accepts a conserving payment at version + 1, whatever the hex case of the id", () => {
    expect(() =>
      checkTransition(params, id.toUpperCase().replace("0X", "0x") as Hex, init, next, 0),
    ).not.toThrow();
  });

  it("channel-id: a state of another channel", () => {
    const other = `0x${"00".repeat(32)}` as Hex;
    const e = refusal(init, { ...next, channelID: other });
    expect(e.rule).toBe("channel-id");
    expect(e.details).toMatchObject({ expected: id, got: other });
  });

  it("final: nothing follows a final state (the previous state is final)", () => {
    const e = refusal({ ...init, isFinal: true }, next);
    expect(e.rule).toBe("final");
    expect(e.details).toMatchObject({ version: "0n" });
  });

  it("version: exactly current + 1, and says which it expected", () => {
    for (const v of [0n, 2n, 7n]) {
      const e = refusal(init, { ...next, version: v });
      expect(e.rule).toBe("version");
      expect(e.details).toMatchObject({ expected: "1n", got: `${v}n` });
      expect(e.message).toContain("Version must be 1 (current + 1)");
    }
  });

  it("final-locked: a final state that locks funds, naming what it locks", () => {
    const sub = { ID: `0x${"5e".repeat(32)}` as Hex, balances: [10n], indexMap: [0, 1] };
    const locking: State = {
      ...next,
      isFinal: true,
      outcome: { ...next.outcome, balances: [[80n, 60n]], locked: [sub] },
    };
    const e = refusal(init, locking);
    expect(e.rule).toBe("final-locked");
    expect(e.details).toMatchObject({ locked: sub.ID });
    // Not final: the same lock is a valid update.
    expect(() => checkTransition(params, id, init, { ...locking, isFinal: false }, 0)).not.toThrow();
  });

  it("funds must be conserved", () => {
    expect(() =>
      checkTransition(params, id, init, { ...next, outcome: { ...next.outcome, balances: [[90n, 61n]] } }, 0),
    ).toThrow(FundsNotConservedError);
  });

  it("app: the app's verdict, with its reason", () => {
    const no: AppRules = { validTransition: () => invalid("not your turn") };
    const e = refusal(init, next, no);
    expect(e.rule).toBe("app");
    expect(e.details).toMatchObject({ reason: "not your turn" });
    const yes: AppRules = { validTransition: () => VALID };
    expect(() => checkTransition(params, id, init, next, 0, yes)).not.toThrow();
  });

  it("rulesFor: payment rules without an app; an app without rules cannot be checked", () => {
    expect(rulesFor(params, undefined).validTransition(params, init, next, 0)).toEqual(VALID);
    expect(() => rulesFor({ ...params, app: `0x${"a9".repeat(20)}` }, undefined)).toThrow(
      MissingAppRulesError,
    );
  });
});
