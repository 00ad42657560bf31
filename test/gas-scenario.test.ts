/**
 * The gas benchmark scenario on our contracts: a correctness test of the whole
 * lifecycle (deposits, cooperative close, dispute, refute, app progress,
 * conclude, withdrawals, the cooperative close that pays out in the same
 * transaction) on the real EVM. measureGas asserts each step's effect itself;
 * this only checks it completes and every figure is real.
 */
import { describe, expect, it } from "vitest";
import { type GasRecord, measureGas } from "../bench/gas-scenario.js";
import {
  AdjudicatorBytecode,
  AssetHolderERC20Bytecode,
  AssetHolderETHBytecode,
  TestTokenBytecode,
  TrivialAppBytecode,
} from "../src/chain/generated/index.js";

const KEYS: readonly (keyof GasRecord)[] = [
  "depositETH",
  "depositERC20",
  "concludeFinal",
  "register",
  "refute",
  "progress",
  "conclude",
  "withdraw",
  "deployAdjudicator",
  "deployAssetHolderETH",
  "cooperative",
  "dispute",
  "concludeFinalAndPayout",
  "cooperativeWithPayout",
];

describe("gas scenario", () => {
  it("runs the whole lifecycle on our contracts and measures every operation", async () => {
    const gas = await measureGas({
      adjudicator: AdjudicatorBytecode,
      assetHolderETH: AssetHolderETHBytecode,
      assetHolderERC20: AssetHolderERC20Bytecode,
      token: TestTokenBytecode,
      trivialApp: TrivialAppBytecode,
    });
    expect(Object.keys(gas).sort()).toEqual([...KEYS].sort());
    for (const key of KEYS) {
      expect(Number.isInteger(gas[key]), key).toBe(true);
      expect(gas[key], key).toBeGreaterThan(0);
    }
    expect(gas.cooperative).toBe(2 * gas.depositETH + gas.concludeFinal + 2 * gas.withdraw);
    expect(gas.dispute).toBe(gas.register + gas.refute + gas.conclude + 2 * gas.withdraw);
    expect(gas.cooperativeWithPayout).toBe(2 * gas.depositETH + (gas.concludeFinalAndPayout ?? 0));
  });

  it("leaves the payout out for contracts without it (the reference)", async () => {
    const gas = await measureGas(
      {
        adjudicator: AdjudicatorBytecode,
        assetHolderETH: AssetHolderETHBytecode,
        assetHolderERC20: AssetHolderERC20Bytecode,
        token: TestTokenBytecode,
        trivialApp: TrivialAppBytecode,
      },
      { withPayout: false },
    );
    expect(gas.concludeFinalAndPayout).toBeUndefined();
    expect(gas.cooperativeWithPayout).toBeUndefined();
  });
});
