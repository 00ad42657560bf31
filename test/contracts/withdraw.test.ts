/**
 * AssetHolder.withdraw after settlement: authorization, amounts, receivers,
 * failing ETH receivers; and the refund of an underfunded channel.
 */
import { type Abi, getAddress, parseEventLogs } from "viem";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { increaseTime } from "../../src/chain/devtools.js";
import { AssetHolderETHAbi, ReceiverAbi, ReceiverBytecode } from "../../src/chain/generated/index.js";
import { deploy } from "../../src/chain/transact.js";
import {
  type Asset,
  channelId,
  fundingId,
  type Hex,
  type Params,
  signWithdrawalAuth,
} from "../../src/channel/index.js";
import {
  assetOf,
  authFor,
  ETH,
  expectRevert,
  fund,
  gasCost,
  holdingsOf,
  makeParams,
  makeState,
  sign,
  signed,
  signerOf,
  withdraw,
} from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain, type Role } from "../fixtures/perun-chain.js";

describe("AssetHolder.withdraw", () => {
  let f: PerunChainFixture;
  let restore: () => Promise<void>;
  let parts: Role[];
  let params: Params;
  let id: Hex;
  let eth: Asset;
  let aliceFid: Hex;
  beforeAll(async () => {
    f = await perunChain();
  });
  beforeEach(async () => {
    restore = await f.checkpoint();
    parts = [f.alice, f.bob];
    params = makeParams(parts);
    id = channelId(params);
    eth = assetOf(f.ethHolder);
    aliceFid = fundingId(id, f.alice.address);
    await fund(f.ethHolder, id, parts, [5n * ETH, 5n * ETH]);
  });
  afterEach(async () => {
    await restore();
  });

  /** Concludes the funded channel cooperatively with alice 4, bob 6. */
  async function settle(): Promise<void> {
    const final = makeState(params, [eth], [[4n * ETH, 6n * ETH]], { version: 1n, isFinal: true });
    await f.adjudicator.concludeFinal(params, final, sign(final, parts));
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([4n * ETH, 6n * ETH]);
  }

  it("an authorization signed by someone else than the participant reverts InvalidAuthorization", async () => {
    await settle();
    const auth = authFor(id, f.alice, 4n * ETH, f.mallory.address);
    for (const forger of [f.mallory, f.bob]) {
      const sig = signWithdrawalAuth(auth, signerOf(forger));
      await expectRevert(f.ethHolder.withdraw(f.mallory.key, auth, sig), "InvalidAuthorization", [aliceFid]);
    }
    expect(await f.ethHolder.holdings(aliceFid)).toBe(4n * ETH);
  });

  it("a signature on another authorization (other amount) reverts InvalidAuthorization", async () => {
    await settle();
    const signedAuth = authFor(id, f.alice, 1n);
    const sig = signWithdrawalAuth(signedAuth, signerOf(f.alice));
    await expectRevert(
      f.ethHolder.withdraw(f.alice.key, { ...signedAuth, amount: 4n * ETH }, sig),
      "InvalidAuthorization",
    );
    expect(await f.ethHolder.holdings(aliceFid)).toBe(4n * ETH);
  });

  it("replaying the same authorization after withdrawing everything reverts InsufficientFunds", async () => {
    await settle();
    const auth = authFor(id, f.alice, 4n * ETH);
    const sig = signWithdrawalAuth(auth, signerOf(f.alice));
    await f.ethHolder.withdraw(f.alice.key, auth, sig);
    const before = await f.ethHolder.balanceOf(f.ethHolder.address);
    await expectRevert(f.ethHolder.withdraw(f.bob.key, auth, sig), "InsufficientFunds", [
      aliceFid,
      0n,
      4n * ETH,
    ]);
    expect(await f.ethHolder.balanceOf(f.ethHolder.address)).toBe(before);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([0n, 6n * ETH]);
  });

  it("withdrawing more than the holdings reverts InsufficientFunds", async () => {
    await settle();
    await expectRevert(withdraw(f.ethHolder, id, f.alice, 4n * ETH + 1n), "InsufficientFunds", [
      aliceFid,
      4n * ETH,
      4n * ETH + 1n,
    ]);
    expect(await f.ethHolder.holdings(aliceFid)).toBe(4n * ETH);
  });

  it("withdrawing before settlement reverts NotSettled (funded, and also registered)", async () => {
    await expectRevert(withdraw(f.ethHolder, id, f.alice, 1n), "NotSettled", [id]);
    const s = makeState(params, [eth], [[4n * ETH, 6n * ETH]], { version: 1n });
    await f.adjudicator.register(signed(params, s, parts));
    await expectRevert(withdraw(f.ethHolder, id, f.alice, 1n), "NotSettled", [id]);
    expect(await f.ethHolder.settled(id)).toBe(false);
    expect(await f.ethHolder.holdings(aliceFid)).toBe(5n * ETH);
  });

  it("a partial withdrawal, then the rest", async () => {
    await settle();
    const before = await f.ethHolder.balanceOf(f.alice.address);
    const w1 = await withdraw(f.ethHolder, id, f.alice, 1n * ETH);
    const ev = parseEventLogs({ abi: AssetHolderETHAbi as Abi, logs: w1.logs, eventName: "Withdrawn" });
    expect(ev.map((e) => e.args)).toEqual([
      { fundingID: aliceFid, amount: 1n * ETH, receiver: f.alice.address },
    ]);
    expect(await f.ethHolder.holdings(aliceFid)).toBe(3n * ETH);
    const w2 = await withdraw(f.ethHolder, id, f.alice, 3n * ETH);
    expect(await f.ethHolder.holdings(aliceFid)).toBe(0n);
    expect(await f.ethHolder.balanceOf(f.alice.address)).toBe(before + 4n * ETH - gasCost(w1) - gasCost(w2));
    await expectRevert(withdraw(f.ethHolder, id, f.alice, 1n), "InsufficientFunds", [aliceFid, 0n, 1n]);
  });

  it("withdrawing to a different receiver pays the receiver, sent by anyone", async () => {
    await settle();
    const auth = authFor(id, f.alice, 4n * ETH, f.mallory.address);
    const sig = signWithdrawalAuth(auth, signerOf(f.alice));
    const [alice, mallory] = [
      await f.ethHolder.balanceOf(f.alice.address),
      await f.ethHolder.balanceOf(f.mallory.address),
    ];
    const r = await f.ethHolder.withdraw(f.bob.key, auth, sig); // bob sends (and pays gas)
    expect(r.from.toLowerCase()).toBe(f.bob.address.toLowerCase());
    expect(await f.ethHolder.balanceOf(f.mallory.address)).toBe(mallory + 4n * ETH);
    expect(await f.ethHolder.balanceOf(f.alice.address)).toBe(alice);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([0n, 6n * ETH]);
  });

  it("a receiver contract that rejects ETH makes the withdrawal revert TransferFailed, holdings unchanged", async () => {
    await settle();
    const receiver = getAddress(
      (await deploy(f.conn, f.deployer.key, ReceiverAbi as Abi, ReceiverBytecode)).address,
    );
    const auth = authFor(id, f.alice, 4n * ETH, receiver);
    const sig = signWithdrawalAuth(auth, signerOf(f.alice));
    await expectRevert(f.ethHolder.withdraw(f.alice.key, auth, sig), "TransferFailed", [receiver, 4n * ETH]);
    expect(await f.ethHolder.holdings(aliceFid)).toBe(4n * ETH);
    expect(await f.ethHolder.balanceOf(receiver)).toBe(0n);
    // The funds are still there for a receiver that accepts them.
    await withdraw(f.ethHolder, id, f.alice, 4n * ETH);
    expect(await f.ethHolder.holdings(aliceFid)).toBe(0n);
  });

  it("ERC20 withdrawal moves exactly the tokens", async () => {
    await fund(f.erc20Holder, id, parts, [10n, 0n]);
    const final = makeState(
      params,
      [eth, assetOf(f.erc20Holder)],
      [
        [5n * ETH, 5n * ETH],
        [3n, 7n],
      ],
      {
        version: 1n,
        isFinal: true,
      },
    );
    await f.adjudicator.concludeFinal(params, final, sign(final, parts));
    const before = await f.erc20Holder.balanceOf(f.bob.address);
    await withdraw(f.erc20Holder, id, f.bob, 7n);
    expect(await f.erc20Holder.balanceOf(f.bob.address)).toBe(before + 7n);
    expect(await f.erc20Holder.balanceOf(f.erc20Holder.address)).toBe(3n);
    expect(await holdingsOf(f.erc20Holder, id, parts)).toEqual([3n, 0n]);
  });

  it("a deposit after settlement into an emptied slot is withdrawable", async () => {
    await settle();
    await withdraw(f.ethHolder, id, f.alice, 4n * ETH);
    await f.ethHolder.deposit(f.mallory.key, aliceFid, 2n);
    expect(await f.ethHolder.holdings(aliceFid)).toBe(2n);
    await withdraw(f.ethHolder, id, f.alice, 2n);
    expect(await f.ethHolder.holdings(aliceFid)).toBe(0n);
  });

  it("a participant with a zero outcome can withdraw 0 but nothing more", async () => {
    const final = makeState(params, [eth], [[10n * ETH, 0n]], { version: 1n, isFinal: true });
    await f.adjudicator.concludeFinal(params, final, sign(final, parts));
    await withdraw(f.ethHolder, id, f.bob, 0n);
    await expectRevert(withdraw(f.ethHolder, id, f.bob, 1n), "InsufficientFunds");
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([10n * ETH, 0n]);
  });

  describe("underfunded channel refund", () => {
    it("only alice deposits and the outcome gives bob more: after conclude each gets back exactly their deposit", async () => {
      const under = makeParams(parts);
      const uid = channelId(under);
      await fund(f.ethHolder, uid, parts, [3n * ETH, 0n]);
      const s = makeState(under, [eth], [[1n * ETH, 4n * ETH]], { version: 1n });
      await f.adjudicator.register(signed(under, s, parts));
      await increaseTime(f.conn, under.challengeDuration);
      await f.adjudicator.conclude(under, s);
      expect(await f.ethHolder.settled(uid)).toBe(true);
      expect(await holdingsOf(f.ethHolder, uid, parts)).toEqual([3n * ETH, 0n]);
      await expectRevert(withdraw(f.ethHolder, uid, f.bob, 1n), "InsufficientFunds", [
        fundingId(uid, f.bob.address),
        0n,
        1n,
      ]);
      const before = await f.ethHolder.balanceOf(f.alice.address);
      const w = await withdraw(f.ethHolder, uid, f.alice, 3n * ETH);
      expect(await f.ethHolder.balanceOf(f.alice.address)).toBe(before + 3n * ETH - gasCost(w));
    });

    it("a channel listing one address twice is refunded, never paid twice from the shared slot", async () => {
      const dup = makeParams([f.alice, f.alice]);
      const did = channelId(dup);
      await fund(f.ethHolder, did, [f.alice], [4n]);
      // Counting alice's one slot twice would make 8 "held" and cover this outcome.
      const s = makeState(dup, [eth], [[2n, 6n]], { version: 1n, isFinal: true });
      await f.adjudicator.concludeFinal(dup, s, sign(s, [f.alice, f.alice]));
      expect(await f.ethHolder.holdings(fundingId(did, f.alice.address))).toBe(4n);
      await expectRevert(withdraw(f.ethHolder, did, f.alice, 5n), "InsufficientFunds");
      expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([5n * ETH, 5n * ETH]);
    });

    it("an underfunded channel cannot take funds of another channel in the same holder", async () => {
      // The holder has 10 ETH of the main channel; the underfunded one must not touch them.
      const under = makeParams(parts);
      const uid = channelId(under);
      await fund(f.ethHolder, uid, parts, [1n * ETH, 1n * ETH]);
      const s = makeState(under, [eth], [[0n, 7n * ETH]], { version: 1n, isFinal: true });
      await f.adjudicator.concludeFinal(under, s, sign(s, parts));
      expect(await holdingsOf(f.ethHolder, uid, parts)).toEqual([1n * ETH, 1n * ETH]);
      expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([5n * ETH, 5n * ETH]);
    });
  });
});
