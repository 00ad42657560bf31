/**
 * The same asset twice in one allocation (`assets: [ETH, ETH]`, same chain and
 * holder). Both balance rows were funded into the same funding-id slots of that
 * holder, so the Adjudicator pushes one outcome per holder with the
 * per-participant sums of the rows. Before, the second setOutcome reverted
 * AlreadySettled and every conclusion of such a channel failed: the deposits
 * were locked for good.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EthAssetHolder } from "../../src/chain/asset-holder.js";
import { increaseTime } from "../../src/chain/devtools.js";
import { type Asset, channelId, type Hex, type Params, type State } from "../../src/channel/index.js";
import {
  assetOf,
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
  withdraw,
} from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain, type Role } from "../fixtures/perun-chain.js";

const CD = 100n;
const MAX = 2n ** 256n - 1n;

describe("the same asset twice in one channel", () => {
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
    // Alice funds 2 + 1 (both ETH rows of the initial state), bob 3 + 2.
    await fund(f.ethHolder, id, parts, [3n * ETH, 5n * ETH]);
  });
  afterEach(async () => {
    await restore();
  });

  /** Each role withdraws exactly `amounts` from `holder` and receives it; the channel's holdings end at 0. */
  async function withdrawAll(holder: EthAssetHolder, amounts: readonly bigint[]): Promise<void> {
    for (const [i, p] of parts.entries()) {
      const amount = amounts[i] as bigint;
      const before = await holder.balanceOf(p.address);
      const w = await withdraw(holder, id, p, amount);
      const fee = holder.token === undefined ? gasCost(w) : 0n;
      expect(await holder.balanceOf(p.address)).toBe(before + amount - fee);
    }
    expect(await holdingsOf(holder, id, parts)).toEqual([0n, 0n]);
  }

  it("concludeFinal with [ETH, ETH] pays the per-participant sums of both rows; both withdraw them exactly", async () => {
    const fin = makeState(
      params,
      [eth, eth],
      [
        [1n * ETH, 2n * ETH],
        [3n * ETH, 2n * ETH],
      ],
      { version: 4n, isFinal: true },
    );
    await f.adjudicator.concludeFinal(params, fin, sign(fin, parts));
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([4n * ETH, 4n * ETH]);
    expect(await f.ethHolder.settled(id)).toBe(true);
    await withdrawAll(f.ethHolder, [4n * ETH, 4n * ETH]);
  });

  it("register, refute and conclude with [ETH, ETH] pay the sums of the concluded state's rows", async () => {
    const v1 = makeState(
      params,
      [eth, eth],
      [
        [2n * ETH, 3n * ETH],
        [1n * ETH, 2n * ETH],
      ],
      { version: 1n },
    );
    const v2 = next(v1, {
      balances: [
        [0n, 3n * ETH],
        [1n * ETH, 4n * ETH],
      ],
    });
    await f.adjudicator.register(signed(params, v1, parts));
    await f.adjudicator.register(signed(params, v2, parts));
    await increaseTime(f.conn, CD);
    await f.adjudicator.conclude(params, v2);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([1n * ETH, 7n * ETH]);
    await withdrawAll(f.ethHolder, [1n * ETH, 7n * ETH]);
  });

  it("[ETH, token, ETH] with a locked sub-channel: the ETH rows and the sub-channel's ETH shares are merged, the token paid on its own", async () => {
    const tok = assetOf(f.erc20Holder);
    await fund(f.erc20Holder, id, parts, [2n, 2n]);
    // ETH deposits: 3 + 5 = 8 = (1 + 1 + 3) + (1 + 0 + 2); tokens: 4 = 1 + 1 + 2.
    const subParams = makeParams(parts, { challengeDuration: CD, ledgerChannel: false });
    const sub = makeState(
      subParams,
      [eth, tok, eth],
      [
        [1n * ETH, 2n * ETH],
        [2n, 0n],
        [0n, 2n * ETH],
      ],
      { version: 2n },
    );
    const l = makeState(
      params,
      [eth, tok, eth],
      [
        [1n * ETH, 1n * ETH],
        [1n, 1n],
        [1n * ETH, 0n],
      ],
      {
        version: 3n,
        locked: [{ ID: channelId(subParams), balances: [3n * ETH, 2n, 2n * ETH], indexMap: [0, 1] }],
      },
    );
    await f.adjudicator.register(signed(params, l, parts), [signed(subParams, sub, parts)]);
    await increaseTime(f.conn, CD);
    await f.adjudicator.conclude(params, l, [sub]);
    // ETH: alice 1 + 1 + S's 1 + 0, bob 1 + 0 + S's 2 + 2; tokens: alice 1 + 2, bob 1 + 0.
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([3n * ETH, 5n * ETH]);
    expect(await holdingsOf(f.erc20Holder, id, parts)).toEqual([3n, 1n]);
    await withdrawAll(f.ethHolder, [3n * ETH, 5n * ETH]);
    await withdrawAll(f.erc20Holder, [3n, 1n]);
  });

  it("an asset of another chain with the same holder address is not merged (it pays out on its chain)", async () => {
    const remote = { ...eth, chainID: eth.chainID + 1n };
    const fin = makeState(
      params,
      [eth, remote],
      [
        [1n * ETH, 7n * ETH],
        [9n * ETH, 9n * ETH],
      ],
      { version: 4n, isFinal: true },
    );
    await f.adjudicator.concludeFinal(params, fin, sign(fin, parts));
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([1n * ETH, 7n * ETH]);
  });

  it("rows whose sums overflow saturate: the holder refunds every deposit and the conclusion does not revert", async () => {
    const fin = makeState(
      params,
      [eth, eth],
      [
        [MAX, 0n],
        [1n, 0n],
      ],
      { version: 4n, isFinal: true },
    );
    await f.adjudicator.concludeFinal(params, fin, sign(fin, parts));
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([3n * ETH, 5n * ETH]);
    await withdrawAll(f.ethHolder, [3n * ETH, 5n * ETH]);
  });

  it("a final state whose duplicate rows have other lengths reverts InvalidAllocationShape", async () => {
    const fin: State = makeState(
      params,
      [eth, eth],
      [
        [1n * ETH, 2n * ETH],
        [3n * ETH, 2n * ETH, 0n],
      ],
      { version: 4n, isFinal: true },
    );
    await expectRevert(f.adjudicator.concludeFinal(params, fin, sign(fin, parts)), "InvalidAllocationShape", [
      id,
    ]);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([3n * ETH, 5n * ETH]);
  });
});
