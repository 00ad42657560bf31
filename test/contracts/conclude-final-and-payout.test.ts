/**
 * Adjudicator.concludeFinalAndPayout (and AssetHolder.setOutcomeAndPayout): the
 * cooperative close that pays every participant in the same transaction. Its
 * checks are concludeFinal's; each payment gets bounded gas, and one that fails
 * stays credited to the payee's holdings for the normal withdraw. Played here
 * by hostile payees too: an account that rejects ETH, burns the gas it gets,
 * re-enters the holder, needs more gas than a tight limit would leave it, and
 * tokens that return false, revert or burn gas for one recipient.
 *
 * Transactions to the Adjudicator are sent by the deployer, so a participant's
 * balance changes by exactly what it is paid.
 */
import { type Abi, getAddress, pad, parseEventLogs, type TransactionReceipt, toFunctionSelector } from "viem";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DisputePhase } from "../../src/chain/adjudicator.js";
import { EthAssetHolder } from "../../src/chain/asset-holder.js";
import { deployAssetHolderERC20 } from "../../src/chain/deploy.js";
import { increaseTime } from "../../src/chain/devtools.js";
import {
  AdjudicatorAbi,
  AssetHolderETHAbi,
  BlockingTokenAbi,
  BlockingTokenBytecode,
  GasBurnerAbi,
  GasBurnerBytecode,
  GasHungryReceiverAbi,
  GasHungryReceiverBytecode,
  ReceiverAbi,
  ReceiverBytecode,
  RedepositorAbi,
  RedepositorBytecode,
} from "../../src/chain/generated/index.js";
import { deploy, transact } from "../../src/chain/transact.js";
import {
  type Address,
  type Asset,
  channelId,
  fundingId,
  type Hex,
  hashState,
  type Params,
  type State,
  signWithdrawalAuth,
} from "../../src/channel/index.js";
import {
  assetOf,
  authFor,
  blockTime,
  ETH,
  expectRevert,
  fund,
  holdingsOf,
  makeParams,
  makeState,
  next,
  sign,
  signed,
  signerOf,
  updatesIn,
  withdraw,
} from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain, type Role } from "../fixtures/perun-chain.js";

const CD = 100n;

/** Withdrawn events (fundingID, amount, receiver) in a receipt, from any asset holder. */
function withdrawalsIn(r: TransactionReceipt): { fundingID: Hex; amount: bigint; receiver: Address }[] {
  return parseEventLogs({ abi: AssetHolderETHAbi as Abi, logs: r.logs, eventName: "Withdrawn" }).map((l) => {
    const a = l.args as unknown as { fundingID: Hex; amount: bigint; receiver: Address };
    return { fundingID: a.fundingID, amount: a.amount, receiver: getAddress(a.receiver) };
  });
}

describe("Adjudicator.concludeFinalAndPayout", () => {
  let f: PerunChainFixture;
  let restore: () => Promise<void>;
  let parts: Role[];
  let params: Params;
  let id: Hex;
  let eth: Asset;
  beforeAll(async () => {
    f = await perunChain();
  });
  beforeEach(async () => {
    restore = await f.checkpoint();
    parts = [f.alice, f.bob];
    params = makeParams(parts, { challengeDuration: CD });
    id = channelId(params);
    eth = assetOf(f.ethHolder);
    await fund(f.ethHolder, id, parts, [5n * ETH, 3n * ETH]);
  });
  afterEach(async () => {
    await restore();
  });

  const balances = (holder: EthAssetHolder, roles: readonly Role[]) =>
    Promise.all(roles.map((r) => holder.balanceOf(r.address)));
  const finalState = (bals: readonly (readonly bigint[])[], assets: readonly Asset[] = [eth], p = params) =>
    makeState(p, assets, bals, { version: 3n, isFinal: true });
  const payout = (state: State, roles: readonly Role[] = parts, p = params) =>
    f.adjudicator.concludeFinalAndPayout(p, state, sign(state, roles));

  /**
   * Installs the runtime code of a test contract at `role`'s address (as an EIP-7702 delegation
   * would): the account keeps its key, so it still signs states, but runs that code on receiving ETH.
   * `slot0` is written to its storage slot 0.
   */
  async function installCode(role: Role, abi: Abi, bytecode: Hex, slot0?: Hex): Promise<void> {
    const { address } = await deploy(f.conn, f.deployer.key, abi, bytecode);
    const code = await f.conn.publicClient.getCode({ address });
    await f.conn.provider.request({ method: "hardhat_setCode", params: [role.address, code] } as never);
    if (slot0 !== undefined) {
      await f.conn.provider.request({
        method: "hardhat_setStorageAt",
        params: [role.address, pad("0x0", { size: 32 }), slot0],
      } as never);
    }
  }

  it("pays both participants in the conclusion: ETH arrives, holdings 0, settled, CONCLUDED", async () => {
    const final = finalState([[2n * ETH, 6n * ETH]]);
    const before = await balances(f.ethHolder, parts);
    const held = await f.ethHolder.balanceOf(f.ethHolder.address);
    const r = await payout(final);
    const t = await blockTime(f.conn, r);
    expect(updatesIn(r)).toEqual([{ channelID: id, version: 3n, phase: DisputePhase.CONCLUDED, timeout: t }]);
    expect(await f.adjudicator.dispute(id)).toMatchObject({ phase: DisputePhase.CONCLUDED, version: 3n });
    expect(await balances(f.ethHolder, parts)).toEqual([
      (before[0] as bigint) + 2n * ETH,
      (before[1] as bigint) + 6n * ETH,
    ]);
    expect(await f.ethHolder.balanceOf(f.ethHolder.address)).toBe(held - 8n * ETH);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([0n, 0n]);
    expect(await f.ethHolder.settled(id)).toBe(true);
    expect(withdrawalsIn(r)).toEqual([
      { fundingID: fundingId(id, f.alice.address), amount: 2n * ETH, receiver: f.alice.address },
      { fundingID: fundingId(id, f.bob.address), amount: 6n * ETH, receiver: f.bob.address },
    ]);
    // Nothing is left to withdraw, and nobody can conclude again.
    await expectRevert(withdraw(f.ethHolder, id, f.alice, 1n), "InsufficientFunds");
    await expectRevert(payout(next(final)), "ChannelConcluded", [id]);
  });

  it("a participant with a zero outcome is paid nothing and its deposit goes to the other", async () => {
    const final = finalState([[8n * ETH, 0n]]);
    const before = await balances(f.ethHolder, parts);
    const r = await payout(final);
    expect(await balances(f.ethHolder, parts)).toEqual([(before[0] as bigint) + 8n * ETH, before[1]]);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([0n, 0n]);
    expect(withdrawalsIn(r)).toHaveLength(1);
  });

  it("pays every asset: ETH, a standard ERC20 and a token without return values", async () => {
    await fund(f.erc20Holder, id, parts, [100n, 50n]);
    await fund(f.noReturnHolder, id, parts, [7n, 0n]);
    const assets = [eth, assetOf(f.erc20Holder), assetOf(f.noReturnHolder)];
    const final = finalState(
      [
        [4n * ETH, 4n * ETH],
        [30n, 120n],
        [2n, 5n],
      ],
      assets,
    );
    const before = await Promise.all(
      [f.ethHolder, f.erc20Holder, f.noReturnHolder].map((h) => balances(h, parts)),
    );
    await payout(final);
    const after = await Promise.all(
      [f.ethHolder, f.erc20Holder, f.noReturnHolder].map((h) => balances(h, parts)),
    );
    const paid = after.map((row, a) => row.map((v, p) => v - (before[a]?.[p] as bigint)));
    expect(paid).toEqual([
      [4n * ETH, 4n * ETH],
      [30n, 120n],
      [2n, 5n],
    ]);
    for (const h of [f.ethHolder, f.erc20Holder, f.noReturnHolder]) {
      expect(await holdingsOf(h, id, parts)).toEqual([0n, 0n]);
    }
    expect(await f.erc20Holder.balanceOf(f.erc20Holder.address)).toBe(0n);
  });

  it("the same asset twice ([ETH, ETH]) is paid once, with the per-participant sums of the rows", async () => {
    const final = finalState(
      [
        [1n * ETH, 2n * ETH],
        [3n * ETH, 2n * ETH],
      ],
      [eth, eth],
    );
    const before = await balances(f.ethHolder, parts);
    const held = await f.ethHolder.balanceOf(f.ethHolder.address);
    const r = await payout(final);
    expect(await balances(f.ethHolder, parts)).toEqual([
      (before[0] as bigint) + 4n * ETH,
      (before[1] as bigint) + 4n * ETH,
    ]);
    expect(await f.ethHolder.balanceOf(f.ethHolder.address)).toBe(held - 8n * ETH);
    expect(withdrawalsIn(r)).toHaveLength(2);
  });

  it("deposits that do not cover the outcome: each participant is paid its own deposit back", async () => {
    const final = finalState([[6n * ETH, 6n * ETH]]);
    const before = await balances(f.ethHolder, parts);
    await payout(final);
    expect(await balances(f.ethHolder, parts)).toEqual([
      (before[0] as bigint) + 5n * ETH,
      (before[1] as bigint) + 3n * ETH,
    ]);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([0n, 0n]);
  });

  it("two equal participant addresses: the deposit is refunded into the holdings, nothing is paid out", async () => {
    const twice = makeParams([f.alice, f.alice], { challengeDuration: CD });
    const tid = channelId(twice);
    await f.ethHolder.deposit(f.alice.key, fundingId(tid, f.alice.address), 2n * ETH);
    const final = finalState([[1n * ETH, 3n * ETH]], [eth], twice);
    const before = await f.ethHolder.balanceOf(f.alice.address);
    const r = await payout(final, [f.alice, f.alice], twice);
    expect(withdrawalsIn(r)).toEqual([]);
    expect(await f.ethHolder.balanceOf(f.alice.address)).toBe(before);
    expect(await f.ethHolder.holdings(fundingId(tid, f.alice.address))).toBe(2n * ETH);
    await withdraw(f.ethHolder, tid, f.alice, 2n * ETH);
  });

  it("a non-final state reverts NotFinal; nothing concluded or paid", async () => {
    const s = makeState(params, [eth], [[4n * ETH, 4n * ETH]], { version: 3n });
    await expectRevert(payout(s), "NotFinal", [id]);
    expect(await f.adjudicator.dispute(id)).toBeUndefined();
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([5n * ETH, 3n * ETH]);
  });

  it("wrong signatures revert: a wrong signer, a signature on another state, a missing one", async () => {
    const final = finalState([[0n, 8n * ETH]]);
    await expectRevert(
      f.adjudicator.concludeFinalAndPayout(params, final, sign(final, [f.bob, f.bob])),
      "InvalidSignature",
      [id, 0n],
    );
    const other = next(final, { balances: [[8n * ETH, 0n]], version: final.version });
    const mixed = [sign(final, [f.alice])[0] as Hex, sign(other, [f.bob])[0] as Hex];
    await expectRevert(f.adjudicator.concludeFinalAndPayout(params, final, mixed), "InvalidSignature", [
      id,
      1n,
    ]);
    await expectRevert(
      f.adjudicator.concludeFinalAndPayout(params, final, sign(final, [f.alice])),
      "SignatureCountMismatch",
      [id, 2n, 1n],
    );
    expect(await f.adjudicator.dispute(id)).toBeUndefined();
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([5n * ETH, 3n * ETH]);
  });

  it("a final state that locks sub-channels reverts HasLockedFunds: registered, it gets the whole challenge duration", async () => {
    const subParams = makeParams(parts, { ledgerChannel: false, challengeDuration: CD });
    const subId = channelId(subParams);
    const final = makeState(params, [eth], [[4n * ETH, 3n * ETH]], {
      version: 1n,
      isFinal: true,
      locked: [{ ID: subId, balances: [1n * ETH], indexMap: [0, 1] }],
    });
    await expectRevert(payout(final), "HasLockedFunds", [id]);
    expect(await f.adjudicator.dispute(id)).toBeUndefined();
    // The way such a state goes: register (with the sub-channel's state) and wait the challenge
    // duration, so that the sub-channel can still be refuted.
    const subState = makeState(subParams, [eth], [[1n * ETH, 0n]], { version: 1n });
    const r = await f.adjudicator.register(signed(params, final, parts), [
      signed(subParams, subState, parts),
    ]);
    const t = await blockTime(f.conn, r);
    expect(await f.adjudicator.dispute(id)).toMatchObject({ phase: DisputePhase.DISPUTE, timeout: t + CD });
  });

  it("a non-ledger channel reverts NotLedgerChannel; wrong params revert InvalidParams", async () => {
    const virt = makeParams(parts, { ledgerChannel: false });
    const vs = finalState([[1n, 1n]], [eth], virt);
    await expectRevert(payout(vs, parts, virt), "NotLedgerChannel");
    const final = finalState([[5n * ETH, 3n * ETH]]);
    const other = makeParams(parts);
    await expectRevert(
      f.adjudicator.concludeFinalAndPayout(other, final, sign(final, parts)),
      "InvalidParams",
      [channelId(other), id],
    );
  });

  it("after concludeFinal, or a second time, it reverts ChannelConcluded", async () => {
    const final = finalState([[5n * ETH, 3n * ETH]]);
    await f.adjudicator.concludeFinal(params, final, sign(final, parts));
    await expectRevert(payout(next(final)), "ChannelConcluded", [id]);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([5n * ETH, 3n * ETH]);
  });

  it("supersedes a registered dispute (before its timeout) and pays the final state", async () => {
    const v1 = makeState(params, [eth], [[5n * ETH, 3n * ETH]], { version: 1n });
    await f.adjudicator.register(signed(params, v1, parts));
    const v2 = next(v1, { balances: [[1n * ETH, 7n * ETH]], isFinal: true });
    const before = await balances(f.ethHolder, parts);
    await payout(v2);
    expect(await f.adjudicator.dispute(id)).toMatchObject({
      phase: DisputePhase.CONCLUDED,
      version: 2n,
      stateHash: hashState(v2),
    });
    expect(await balances(f.ethHolder, parts)).toEqual([
      (before[0] as bigint) + 1n * ETH,
      (before[1] as bigint) + 7n * ETH,
    ]);
  });

  it("after a dispute was concluded it reverts ChannelConcluded", async () => {
    const v1 = makeState(params, [eth], [[5n * ETH, 3n * ETH]], { version: 1n });
    await f.adjudicator.register(signed(params, v1, parts));
    await increaseTime(f.conn, CD + 1n);
    await f.adjudicator.conclude(params, v1);
    const v2 = next(v1, { balances: [[0n, 8n * ETH]], isFinal: true });
    await expectRevert(payout(v2), "ChannelConcluded", [id]);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([5n * ETH, 3n * ETH]);
  });

  describe("hostile payees (code at a participant's address, as with an EIP-7702 delegation)", () => {
    let mParts: Role[];
    let mParams: Params;
    let mid: Hex;
    beforeEach(async () => {
      mParts = [f.alice, f.mallory];
      mParams = makeParams(mParts, { challengeDuration: CD });
      mid = channelId(mParams);
      await fund(f.ethHolder, mid, mParts, [5n * ETH, 3n * ETH]);
    });
    const mFinal = () => finalState([[2n * ETH, 6n * ETH]], [eth], mParams);

    /** Alice was paid 2 ETH; Mallory's 6 ETH stay credited and can be withdrawn to another address. */
    async function alicePaidMalloryCredited(r: TransactionReceipt, aliceBefore: bigint): Promise<void> {
      expect(await f.adjudicator.dispute(mid)).toMatchObject({ phase: DisputePhase.CONCLUDED });
      expect(await f.ethHolder.balanceOf(f.alice.address)).toBe(aliceBefore + 2n * ETH);
      expect(await holdingsOf(f.ethHolder, mid, mParts)).toEqual([0n, 6n * ETH]);
      expect(withdrawalsIn(r).map((w) => w.receiver)).toEqual([f.alice.address]);
      // Mallory's account has code and cannot send transactions; anyone can send her signed withdrawal.
      const auth = authFor(mid, f.mallory, 6n * ETH, f.ingrid.address);
      const ingrid = await f.ethHolder.balanceOf(f.ingrid.address);
      await f.ethHolder.withdraw(f.bob.key, auth, signWithdrawalAuth(auth, signerOf(f.mallory)));
      expect(await f.ethHolder.balanceOf(f.ingrid.address)).toBe(ingrid + 6n * ETH);
      expect(await holdingsOf(f.ethHolder, mid, mParts)).toEqual([0n, 0n]);
    }

    it("a payee that rejects ETH cannot block the conclusion or Alice's payment: its share stays credited", async () => {
      await installCode(f.mallory, ReceiverAbi as Abi, ReceiverBytecode);
      const alice = await f.ethHolder.balanceOf(f.alice.address);
      const r = await payout(mFinal(), mParts, mParams);
      await alicePaidMalloryCredited(r, alice);
    });

    it("a payee that burns all its gas costs the sender at most the payment's gas bound", async () => {
      // The same payout with two ordinary payees, for comparison.
      const plain = await payout(finalState([[2n * ETH, 6n * ETH]]));
      await installCode(f.mallory, GasBurnerAbi as Abi, GasBurnerBytecode);
      const alice = await f.ethHolder.balanceOf(f.alice.address);
      const r = await payout(mFinal(), mParts, mParams);
      await alicePaidMalloryCredited(r, alice);
      // 20,000 gas for the payee (AssetHolderETH.PAYOUT_GAS); crediting it back costs a little more.
      expect(r.gasUsed - plain.gasUsed).toBeLessThan(30_000n);
    });

    it("a payee that re-enters the holder and deposits what it got into another payee's emptied slot: all of it stays accounted", async () => {
      // Alice, Mallory (re-deposits her payment into Bob's funding id), Bob (rejects ETH).
      const three = [f.alice, f.mallory, f.bob];
      const p3 = makeParams(three, { challengeDuration: CD });
      const id3 = channelId(p3);
      await fund(f.ethHolder, id3, three, [1n * ETH, 2n * ETH, 3n * ETH]);
      await installCode(f.mallory, RedepositorAbi as Abi, RedepositorBytecode, fundingId(id3, f.bob.address));
      const held = await f.ethHolder.balanceOf(f.ethHolder.address);
      const alice = await f.ethHolder.balanceOf(f.alice.address);
      // Bob cannot receive either: installed last, after his deposit.
      await installCode(f.bob, ReceiverAbi as Abi, ReceiverBytecode);
      const final = finalState([[1n * ETH, 4n * ETH, 1n * ETH]], [eth], p3);
      await payout(final, three, p3);
      expect(await f.ethHolder.balanceOf(f.alice.address)).toBe(alice + 1n * ETH);
      // Mallory's 4 ETH went back into Bob's slot; Bob's own 1 ETH failed and was credited on top.
      expect(await holdingsOf(f.ethHolder, id3, three)).toEqual([0n, 0n, 5n * ETH]);
      expect(await f.ethHolder.balanceOf(f.ethHolder.address)).toBe(held - 1n * ETH);
      const auth = authFor(id3, f.bob, 5n * ETH, f.ingrid.address);
      await f.ethHolder.withdraw(f.alice.key, auth, signWithdrawalAuth(auth, signerOf(f.bob)));
      expect(await holdingsOf(f.ethHolder, id3, three)).toEqual([0n, 0n, 0n]);
    });

    it("a payee that needs 15,000 gas is paid with the estimated gas limit; a tighter limit reverts instead of starving it", async () => {
      await installCode(f.mallory, GasHungryReceiverAbi as Abi, GasHungryReceiverBytecode);
      const final = mFinal();
      const sigs = sign(final, mParts);
      const request = {
        address: f.adjudicator.address,
        abi: AdjudicatorAbi as Abi,
        functionName: "concludeFinalAndPayout",
        args: [mParams, final, sigs],
      } as const;
      const wallet = f.conn.wallet(f.deployer.key);
      const estimate = await f.conn.publicClient.estimateContractGas({ ...request, account: wallet.account });
      // 40,000 below the estimate: enough for everything but Mallory's full allowance. The
      // embedded chain reports the revert when the transaction is sent.
      const tight = wallet.writeContract({ ...request, gas: estimate - 40_000n } as never);
      await expect(tight).rejects.toThrow(toFunctionSelector("PayoutGasTooLow(uint256)").slice(2));
      expect(await f.adjudicator.dispute(mid)).toBeUndefined();

      const before = await f.ethHolder.balanceOf(f.mallory.address);
      await transact(f.conn, f.deployer.key, request as never);
      expect(await f.ethHolder.balanceOf(f.mallory.address)).toBe(before + 6n * ETH);
      expect(await holdingsOf(f.ethHolder, mid, mParts)).toEqual([0n, 0n]);
    });
  });

  describe.each([
    ["returns false", 1],
    ["reverts (blocklist)", 2],
    ["burns all its gas", 3],
  ] as const)("a token whose transfer to Bob %s", (_what, mode) => {
    it("pays Alice, credits Bob, and Bob withdraws once the token lets him", async () => {
      const holders = [f.alice.address, f.bob.address, f.ingrid.address, f.mallory.address];
      const { address: token } = await deploy(
        f.conn,
        f.deployer.key,
        BlockingTokenAbi as Abi,
        BlockingTokenBytecode,
        [holders, 10n ** 24n],
      );
      const holder = new EthAssetHolder(
        f.conn,
        getAddress(await deployAssetHolderERC20(f.conn, f.deployer.key, f.adjudicator.address, token)),
        token,
      );
      await fund(holder, id, parts, [100n, 50n]);
      const setBlocked = (m: number) =>
        transact(f.conn, f.deployer.key, {
          address: token,
          abi: BlockingTokenAbi as Abi,
          functionName: "setBlocked",
          args: [f.bob.address, m],
        });
      await setBlocked(mode);
      const before = await balances(holder, parts);
      const final = finalState(
        [
          [5n * ETH, 3n * ETH],
          [30n, 120n],
        ],
        [eth, assetOf(holder)],
      );
      const r = await payout(final);
      expect(await balances(holder, parts)).toEqual([(before[0] as bigint) + 30n, before[1]]);
      expect(await holdingsOf(holder, id, parts)).toEqual([0n, 120n]);
      expect(await holder.balanceOf(holder.address)).toBe(120n);
      // ETH was paid to both regardless.
      expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([0n, 0n]);
      expect(withdrawalsIn(r)).toHaveLength(3);
      await setBlocked(0);
      await withdraw(holder, id, f.bob, 120n);
      expect(await holder.balanceOf(f.bob.address)).toBe((before[1] as bigint) + 120n);
    });
  });
});
