import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertConserved, assetTotals } from "./allocation.js";
import { twoPartyChannel } from "./arbitraries.testutil.js";
import { AssetsChangedError, FundsNotConservedError, InsufficientBalanceError } from "./errors.js";
import { payment } from "./payment.js";
import type { Allocation, State } from "./types.js";

const { init } = twoPartyChannel();
const a: Allocation = {
  ...init.outcome,
  assets: [...init.outcome.assets, { chainID: 5n, ethHolder: `0x${"44".repeat(20)}`, ccHolder: "0x" }],
  backends: [0n, 0n],
  balances: [
    [100n, 50n],
    [7n, 3n],
  ],
  locked: [{ ID: `0x${"22".repeat(32)}`, balances: [10n, 0n], indexMap: [0, 1] }],
};

describe("assetTotals", () => {
  it("adds balances and locked funds per asset", () => {
    expect(assetTotals(a)).toEqual([160n, 10n]);
  });
});

describe("assertConserved", () => {
  const rows: [string, Allocation, (new (...args: never[]) => Error) | null][] = [
    ["identical", a, null],
    [
      "moved between participants",
      {
        ...a,
        balances: [
          [0n, 150n],
          [7n, 3n],
        ],
      },
      null,
    ],
    [
      "unlocked into balances",
      {
        ...a,
        balances: [
          [110n, 50n],
          [7n, 3n],
        ],
        locked: [],
      },
      null,
    ],
    [
      "created funds",
      {
        ...a,
        balances: [
          [101n, 50n],
          [7n, 3n],
        ],
      },
      FundsNotConservedError,
    ],
    [
      "burnt funds of asset 1",
      {
        ...a,
        balances: [
          [100n, 50n],
          [7n, 2n],
        ],
      },
      FundsNotConservedError,
    ],
    [
      "locked more than freed",
      { ...a, locked: [{ ID: `0x${"22".repeat(32)}`, balances: [11n, 0n], indexMap: [0, 1] }] },
      FundsNotConservedError,
    ],
    ["asset removed", { ...a, assets: a.assets.slice(0, 1) }, AssetsChangedError],
    [
      "holder changed",
      { ...a, assets: [a.assets[0]!, { ...a.assets[1]!, ethHolder: `0x${"45".repeat(20)}` }] },
      AssetsChangedError,
    ],
    ["chain changed", { ...a, assets: [{ ...a.assets[0]!, chainID: 2n }, a.assets[1]!] }, AssetsChangedError],
    ["backend changed", { ...a, backends: [0n, 1n] }, AssetsChangedError],
  ];
  it.each(rows)("%s", (_name, to, error) => {
    if (error === null) expect(() => assertConserved(a, to)).not.toThrow();
    else expect(() => assertConserved(a, to)).toThrow(error);
  });

  it("holder addresses compare case-insensitively", () => {
    const upper = {
      ...a,
      assets: a.assets.map((x) => ({
        ...x,
        ethHolder: x.ethHolder.toUpperCase().replace("0X", "0x") as `0x${string}`,
      })),
    };
    expect(() => assertConserved(a, upper)).not.toThrow();
  });
});

describe("random payments conserve funds", () => {
  it("never change totals, never go negative, and only grow the version", () => {
    const start: State = { ...init, outcome: a };
    const step = fc.record({
      asset: fc.nat({ max: 1 }),
      from: fc.nat({ max: 1 }),
      amount: fc.bigInt({ min: 1n, max: 200n }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        let s = start;
        for (const { asset, from, amount } of steps) {
          let next: State;
          try {
            next = payment(s, asset, from, 1 - from, amount);
          } catch (e) {
            expect(e).toBeInstanceOf(InsufficientBalanceError);
            continue;
          }
          assertConserved(s.outcome, next.outcome);
          expect(next.version).toBe(s.version + 1n);
          for (const row of next.outcome.balances) for (const b of row) expect(b >= 0n).toBe(true);
          s = next;
        }
        expect(assetTotals(s.outcome)).toEqual(assetTotals(start.outcome));
      }),
      { numRuns: 200 },
    );
  });
});
