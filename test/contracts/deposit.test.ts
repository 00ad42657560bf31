/**
 * AssetHolder deposits: ETH (msg.value must equal the amount), ERC20 (approve +
 * transferFrom; tokens returning false fail, tokens returning nothing work),
 * holdings per funding id and the Deposited event.
 */
import { type Abi, getAddress } from "viem";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EthAssetHolder } from "../../src/chain/asset-holder.js";
import { deployAssetHolderERC20 } from "../../src/chain/deploy.js";
import { AssetHolderERC20Abi, AssetHolderETHAbi } from "../../src/chain/generated/index.js";
import { transact } from "../../src/chain/transact.js";
import { channelId, fundingId, type Hex } from "../../src/channel/index.js";
import { depositsIn, ETH, expectRevert, gasCost, makeParams } from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain } from "../fixtures/perun-chain.js";

describe("AssetHolder deposits", () => {
  let f: PerunChainFixture;
  let restore: () => Promise<void>;
  let fid: Hex;
  beforeAll(async () => {
    f = await perunChain();
  });
  beforeEach(async () => {
    restore = await f.checkpoint();
    fid = fundingId(channelId(makeParams([f.alice, f.bob])), f.alice.address);
  });
  afterEach(async () => {
    await restore();
  });

  describe("ETH", () => {
    it("deposit credits the funding id, moves exactly the amount and emits Deposited", async () => {
      const before = await f.ethHolder.balanceOf(f.alice.address);
      const holderBefore = await f.ethHolder.balanceOf(f.ethHolder.address);
      const r = await f.ethHolder.deposit(f.alice.key, fid, 3n * ETH);
      expect(await f.ethHolder.holdings(fid)).toBe(3n * ETH);
      expect(await f.ethHolder.balanceOf(f.alice.address)).toBe(before - 3n * ETH - gasCost(r));
      expect(await f.ethHolder.balanceOf(f.ethHolder.address)).toBe(holderBefore + 3n * ETH);
      expect(depositsIn(r)).toEqual([{ fundingID: fid, amount: 3n * ETH }]);
    });

    it("deposits to the same funding id add up, also from someone else", async () => {
      await f.ethHolder.deposit(f.alice.key, fid, 2n);
      await f.ethHolder.deposit(f.mallory.key, fid, 5n);
      expect(await f.ethHolder.holdings(fid)).toBe(7n);
    });

    it.each([
      ["less", 1n],
      ["more", 3n],
      ["no", 0n],
    ])("a deposit with %s msg.value than the amount reverts WrongDepositValue", async (_what, value) => {
      const p = transact(f.conn, f.alice.key, {
        address: f.ethHolder.address,
        abi: AssetHolderETHAbi as Abi,
        functionName: "deposit",
        args: [fid, 2n],
        value,
      });
      await expectRevert(p, "WrongDepositValue", [2n, value]);
      expect(await f.ethHolder.holdings(fid)).toBe(0n);
    });
  });

  it("setOutcome from anyone but the Adjudicator reverts NotAdjudicator", async () => {
    const p = transact(f.conn, f.mallory.key, {
      address: f.ethHolder.address,
      abi: AssetHolderETHAbi as Abi,
      functionName: "setOutcome",
      args: [
        channelId(makeParams([f.alice, f.mallory])),
        [{ ethAddress: f.mallory.address, ccAddress: "0x" }],
        [1n],
      ],
    });
    await expectRevert(p, "NotAdjudicator", [f.mallory.address]);
  });

  describe("ERC20", () => {
    it("approve + deposit moves the tokens into the holder and credits the funding id", async () => {
      const before = await f.erc20Holder.balanceOf(f.alice.address);
      const r = await f.erc20Holder.deposit(f.alice.key, fid, 1234n);
      expect(await f.erc20Holder.holdings(fid)).toBe(1234n);
      expect(await f.erc20Holder.balanceOf(f.alice.address)).toBe(before - 1234n);
      expect(await f.erc20Holder.balanceOf(f.erc20Holder.address)).toBe(1234n);
      expect(depositsIn(r)).toEqual([{ fundingID: fid, amount: 1234n }]);
    });

    it("a deposit without allowance reverts TokenTransferFailed", async () => {
      const p = transact(f.conn, f.alice.key, {
        address: f.erc20Holder.address,
        abi: AssetHolderERC20Abi as Abi,
        functionName: "deposit",
        args: [fid, 10n],
      });
      await expectRevert(p, "TokenTransferFailed", [f.token]);
      expect(await f.erc20Holder.holdings(fid)).toBe(0n);
    });

    it("a deposit with ETH attached reverts NonZeroValue", async () => {
      const p = transact(f.conn, f.alice.key, {
        address: f.erc20Holder.address,
        abi: AssetHolderERC20Abi as Abi,
        functionName: "deposit",
        args: [fid, 0n],
        value: 1n,
      });
      await expectRevert(p, "NonZeroValue", [1n]);
    });

    it("a token whose transferFrom returns false makes the deposit revert TokenTransferFailed", async () => {
      const before = await f.falseHolder.balanceOf(f.alice.address);
      await expectRevert(f.falseHolder.deposit(f.alice.key, fid, 10n), "TokenTransferFailed", [f.falseToken]);
      expect(await f.falseHolder.holdings(fid)).toBe(0n);
      expect(await f.falseHolder.balanceOf(f.alice.address)).toBe(before);
    });

    it("a token address without code makes the deposit revert TokenTransferFailed", async () => {
      // A call to an account without code "succeeds" with no return data; the holder must not credit it.
      const holder = new EthAssetHolder(
        f.conn,
        getAddress(
          await deployAssetHolderERC20(f.conn, f.deployer.key, f.adjudicator.address, f.mallory.address),
        ),
        f.mallory.address,
      );
      const p = transact(f.conn, f.alice.key, {
        address: holder.address,
        abi: AssetHolderERC20Abi as Abi,
        functionName: "deposit",
        args: [fid, 10n],
      });
      await expectRevert(p, "TokenTransferFailed", [f.mallory.address]);
      expect(await holder.holdings(fid)).toBe(0n);
    });

    it("a token that returns nothing (USDT style) is accepted", async () => {
      const before = await f.noReturnHolder.balanceOf(f.alice.address);
      const r = await f.noReturnHolder.deposit(f.alice.key, fid, 77n);
      expect(await f.noReturnHolder.holdings(fid)).toBe(77n);
      expect(await f.noReturnHolder.balanceOf(f.alice.address)).toBe(before - 77n);
      expect(await f.noReturnHolder.balanceOf(f.noReturnHolder.address)).toBe(77n);
      expect(depositsIn(r)).toEqual([{ fundingID: fid, amount: 77n }]);
    });
  });
});
