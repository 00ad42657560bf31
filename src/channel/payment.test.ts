import { describe, expect, it } from "vitest";
import { twoPartyChannel } from "./arbitraries.testutil.js";
import { InsufficientBalanceError, InvalidFieldError, UnknownParticipantError } from "./errors.js";
import { balanceDelta, batchPayments, payment } from "./payment.js";

const { init } = twoPartyChannel();

describe("payment", () => {
  it("moves the amount and raises the version", () => {
    const next = payment(init, 0, 0, 1, 30n);
    expect(next.outcome.balances).toEqual([[70n, 80n]]);
    expect(next.version).toBe(1n);
    expect(init.outcome.balances).toEqual([[100n, 50n]]); // input untouched
    expect(balanceDelta(init, next, 1)).toEqual([30n]);
    expect(balanceDelta(init, next, 0)).toEqual([-30n]);
  });

  it("may pay the whole balance", () => {
    expect(payment(init, 0, 1, 0, 50n).outcome.balances).toEqual([[150n, 0n]]);
  });

  const bad: [string, number, number, number, bigint, new (...args: never[]) => Error][] = [
    ["more than the balance", 0, 1, 0, 51n, InsufficientBalanceError],
    ["unknown asset", 1, 0, 1, 1n, InvalidFieldError],
    ["unknown payer", 0, 2, 1, 1n, UnknownParticipantError],
    ["unknown payee", 0, 0, -1, 1n, UnknownParticipantError],
    ["to oneself", 0, 0, 0, 1n, InvalidFieldError],
    ["zero amount", 0, 0, 1, 0n, InvalidFieldError],
    ["negative amount", 0, 0, 1, -5n, InvalidFieldError],
  ];
  it.each(bad)("rejects paying %s", (_name, asset, from, to, amount, error) => {
    expect(() => payment(init, asset, from, to, amount)).toThrow(error);
  });

  it("rejects an amount that is not a bigint", () => {
    expect(() => payment(init, 0, 0, 1, 5 as unknown as bigint)).toThrow(InvalidFieldError);
  });

  it("leaves the other participants' balances as they were", () => {
    const three = { ...init, outcome: { ...init.outcome, balances: [[10n, 20n, 30n]] } };
    expect(payment(three, 0, 0, 1, 5n).outcome.balances).toEqual([[5n, 25n, 30n]]);
  });

  it("counts an asset the later state lacks as all lost", () => {
    const none = { ...init, outcome: { ...init.outcome, balances: [] } };
    expect(balanceDelta(init, none, 0)).toEqual([-100n]);
  });

  it("says who lacks how much", () => {
    try {
      payment(init, 0, 1, 0, 51n);
    } catch (e) {
      expect((e as InsufficientBalanceError).code).toBe("INSUFFICIENT_BALANCE");
      expect((e as InsufficientBalanceError).details).toMatchObject({
        participant: 1,
        balance: "50n",
        amount: "51n",
      });
    }
  });
});

describe("batchPayments", () => {
  it("makes every payment in one update of version + 1", () => {
    const { state, errors } = batchPayments(init, 0, 1, [
      { asset: 0, amount: 30n },
      { asset: 0, amount: 20n },
      { asset: 0, amount: 50n },
    ]);
    expect(state?.outcome.balances).toEqual([[0n, 150n]]);
    expect(state?.version).toBe(init.version + 1n);
    expect(errors).toEqual([undefined, undefined, undefined]);
  });

  it("leaves out, alone, a payment the balance left by the earlier ones cannot cover", () => {
    const { state, errors } = batchPayments(init, 1, 0, [
      { asset: 0, amount: 30n },
      { asset: 0, amount: 30n },
      { asset: 1, amount: 1n },
      { asset: 0, amount: 20n },
    ]);
    expect(state?.outcome.balances).toEqual([[150n, 0n]]);
    expect(state?.version).toBe(1n);
    expect(errors[0]).toBeUndefined();
    expect(errors[1]).toBeInstanceOf(InsufficientBalanceError);
    expect(errors[2]).toBeInstanceOf(InvalidFieldError);
    expect(errors[3]).toBeUndefined();
  });

  it("gives no state when no payment can be made", () => {
    const { state, errors } = batchPayments(init, 1, 0, [{ asset: 0, amount: 51n }]);
    expect(state).toBeNull();
    expect(errors[0]).toBeInstanceOf(InsufficientBalanceError);
    expect(batchPayments(init, 1, 0, []).state).toBeNull();
  });
});
