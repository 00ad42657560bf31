import { describe, expect, it } from "vitest";
import { twoPartyChannel } from "./arbitraries.testutil.js";
import { InsufficientBalanceError, InvalidFieldError, UnknownParticipantError } from "./errors.js";
import { balanceDelta, payment } from "./payment.js";

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
