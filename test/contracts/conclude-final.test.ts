/**
 * Adjudicator.concludeFinal: the cooperative close with a fully signed final
 * state, its payout through the asset holders, and every reason to refuse it.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DisputePhase } from "../../src/chain/adjudicator.js";
import { type Asset, channelId, type Hex, hashState, type Params } from "../../src/channel/index.js";
import {
  assetOf,
  blockTime,
  ETH,
  expectRevert,
  fund,
  gasCost,
  holdingsOf,
  makeParams,
  makeState,
  next,
  sign,
  signed,
  updatesIn,
  withdraw,
} from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain, type Role } from "../fixtures/perun-chain.js";

describe("Adjudicator.concludeFinal", () => {
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
    params = makeParams(parts);
    id = channelId(params);
    eth = assetOf(f.ethHolder);
    await fund(f.ethHolder, id, parts, [5n * ETH, 3n * ETH]);
  });
  afterEach(async () => {
    await restore();
  });

  it("pays out a final state: holdings become the final balances, settled, then both withdraw exactly", async () => {
    const final = makeState(params, [eth], [[2n * ETH, 6n * ETH]], { version: 7n, isFinal: true });
    const r = await f.adjudicator.concludeFinal(params, final, sign(final, parts));
    const t = await blockTime(f.conn, r);
    expect(updatesIn(r)).toEqual([{ channelID: id, version: 7n, phase: DisputePhase.CONCLUDED, timeout: t }]);
    expect(await f.adjudicator.dispute(id)).toMatchObject({
      phase: DisputePhase.CONCLUDED,
      version: 7n,
      timeout: t,
    });
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([2n * ETH, 6n * ETH]);
    expect(await f.ethHolder.settled(id)).toBe(true);

    const holderBefore = await f.ethHolder.balanceOf(f.ethHolder.address);
    for (const [i, p] of parts.entries()) {
      const amount = [2n * ETH, 6n * ETH][i] as bigint;
      const before = await f.ethHolder.balanceOf(p.address);
      const w = await withdraw(f.ethHolder, id, p, amount);
      expect(await f.ethHolder.balanceOf(p.address)).toBe(before + amount - gasCost(w));
    }
    expect(await f.ethHolder.balanceOf(f.ethHolder.address)).toBe(holderBefore - 8n * ETH);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([0n, 0n]);
  });

  it("pays out every asset of the channel (ETH and ERC20)", async () => {
    const tok = assetOf(f.erc20Holder);
    await fund(f.erc20Holder, id, parts, [100n, 50n]);
    const final = makeState(
      params,
      [eth, tok],
      [
        [4n * ETH, 4n * ETH],
        [30n, 120n],
      ],
      { version: 1n, isFinal: true },
    );
    await f.adjudicator.concludeFinal(params, final, sign(final, parts));
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([4n * ETH, 4n * ETH]);
    expect(await holdingsOf(f.erc20Holder, id, parts)).toEqual([30n, 120n]);
    const before = await f.erc20Holder.balanceOf(f.bob.address);
    await withdraw(f.erc20Holder, id, f.bob, 120n);
    expect(await f.erc20Holder.balanceOf(f.bob.address)).toBe(before + 120n);
  });

  it("a non-final state reverts NotFinal", async () => {
    const s = makeState(params, [eth], [[4n * ETH, 4n * ETH]], { version: 3n });
    await expectRevert(f.adjudicator.concludeFinal(params, s, sign(s, parts)), "NotFinal", [id]);
    expect(await f.adjudicator.dispute(id)).toBeUndefined();
    expect(await f.ethHolder.settled(id)).toBe(false);
  });

  it("a signature by the wrong participant reverts InvalidSignature", async () => {
    const final = makeState(params, [eth], [[0n, 8n * ETH]], { version: 1n, isFinal: true });
    const sigs = sign(final, [f.bob, f.bob]);
    await expectRevert(f.adjudicator.concludeFinal(params, final, sigs), "InvalidSignature", [id, 0n]);
    expect(await f.adjudicator.dispute(id)).toBeUndefined();
  });

  it("a signature on another state reverts InvalidSignature", async () => {
    const final = makeState(params, [eth], [[0n, 8n * ETH]], { version: 1n, isFinal: true });
    const other = next(final, { balances: [[8n * ETH, 0n]], version: 1n });
    const sigs = [sign(other, [f.alice])[0] as Hex, sign(final, [f.bob])[0] as Hex];
    await expectRevert(f.adjudicator.concludeFinal(params, final, sigs), "InvalidSignature", [id, 0n]);
  });

  it("a missing signature reverts SignatureCountMismatch", async () => {
    const final = makeState(params, [eth], [[0n, 8n * ETH]], { version: 1n, isFinal: true });
    await expectRevert(
      f.adjudicator.concludeFinal(params, final, sign(final, [f.alice])),
      "SignatureCountMismatch",
      [id, 2n, 1n],
    );
  });

  it("bypasses a running dispute: register v1, then concludeFinal v2 before the timeout", async () => {
    const v1 = makeState(params, [eth], [[5n * ETH, 3n * ETH]], { version: 1n });
    await f.adjudicator.register(signed(params, v1, parts));
    const v2 = next(v1, { balances: [[1n * ETH, 7n * ETH]], isFinal: true });
    const r = await f.adjudicator.concludeFinal(params, v2, sign(v2, parts));
    const t = await blockTime(f.conn, r);
    expect(await f.adjudicator.dispute(id)).toMatchObject({
      phase: DisputePhase.CONCLUDED,
      version: 2n,
      timeout: t,
      stateHash: hashState(v2),
    });
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([1n * ETH, 7n * ETH]);
  });

  it("concludeFinal after concludeFinal reverts ChannelConcluded", async () => {
    const final = makeState(params, [eth], [[5n * ETH, 3n * ETH]], { version: 1n, isFinal: true });
    await f.adjudicator.concludeFinal(params, final, sign(final, parts));
    const later = next(final, { balances: [[0n, 8n * ETH]] });
    await expectRevert(f.adjudicator.concludeFinal(params, later, sign(later, parts)), "ChannelConcluded", [
      id,
    ]);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([5n * ETH, 3n * ETH]);
  });

  it("concludeFinal after a dispute was concluded reverts ChannelConcluded", async () => {
    const v1 = makeState(params, [eth], [[5n * ETH, 3n * ETH]], { version: 1n, isFinal: true });
    await f.adjudicator.register(signed(params, v1, parts));
    await f.adjudicator.conclude(params, v1);
    const v2 = next(v1, { balances: [[0n, 8n * ETH]] });
    await expectRevert(f.adjudicator.concludeFinal(params, v2, sign(v2, parts)), "ChannelConcluded", [id]);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([5n * ETH, 3n * ETH]);
  });

  it("a final state with locked sub-allocations reverts HasLockedFunds", async () => {
    const sub = channelId(makeParams(parts, { ledgerChannel: false }));
    const final = makeState(params, [eth], [[4n * ETH, 3n * ETH]], {
      version: 1n,
      isFinal: true,
      locked: [{ ID: sub, balances: [1n * ETH], indexMap: [0, 1] }],
    });
    await expectRevert(f.adjudicator.concludeFinal(params, final, sign(final, parts)), "HasLockedFunds", [
      id,
    ]);
    expect(await f.ethHolder.settled(id)).toBe(false);
  });

  it("a non-ledger channel reverts NotLedgerChannel", async () => {
    const sub = makeParams(parts, { ledgerChannel: false });
    const final = makeState(sub, [eth], [[1n, 1n]], { version: 1n, isFinal: true });
    await expectRevert(f.adjudicator.concludeFinal(sub, final, sign(final, parts)), "NotLedgerChannel");
  });

  it("params that do not match the state's channel id revert InvalidParams", async () => {
    const final = makeState(params, [eth], [[5n * ETH, 3n * ETH]], { version: 1n, isFinal: true });
    const other = makeParams(parts);
    await expectRevert(f.adjudicator.concludeFinal(other, final, sign(final, parts)), "InvalidParams", [
      channelId(other),
      id,
    ]);
  });
});
