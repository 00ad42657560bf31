/**
 * The dispute path of a ledger channel: register, refute within the challenge
 * duration, conclude after the timeout and pay out; the ChannelUpdate events of
 * every change.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DisputePhase } from "../../src/chain/adjudicator.js";
import { increaseTime } from "../../src/chain/devtools.js";
import {
  type Asset,
  channelId,
  type Hex,
  hashState,
  type Params,
  type State,
} from "../../src/channel/index.js";
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

const CD = 100n;

describe("Adjudicator dispute", () => {
  let f: PerunChainFixture;
  let restore: () => Promise<void>;
  let parts: Role[];
  let params: Params;
  let id: Hex;
  let eth: Asset;
  let v1: State;
  let v2: State;
  beforeAll(async () => {
    f = await perunChain();
  });
  beforeEach(async () => {
    restore = await f.checkpoint();
    parts = [f.alice, f.bob];
    params = makeParams(parts, { challengeDuration: CD });
    id = channelId(params);
    eth = assetOf(f.ethHolder);
    await fund(f.ethHolder, id, parts, [5n * ETH, 5n * ETH]);
    v1 = makeState(params, [eth], [[4n * ETH, 6n * ETH]], { version: 1n });
    v2 = next(v1, { balances: [[3n * ETH, 7n * ETH]] });
  });
  afterEach(async () => {
    await restore();
  });

  describe("register / refute", () => {
    it("register v1 starts DISPUTE with timeout = block time + challengeDuration and emits ChannelUpdate", async () => {
      const r = await f.adjudicator.register(signed(params, v1, parts));
      const t = (await blockTime(f.conn, r)) + CD;
      expect(await f.adjudicator.dispute(id)).toEqual({
        timeout: t,
        challengeDuration: CD,
        version: 1n,
        hasApp: false,
        phase: DisputePhase.DISPUTE,
        stateHash: hashState(v1),
      });
      expect(updatesIn(r)).toEqual([{ channelID: id, version: 1n, phase: DisputePhase.DISPUTE, timeout: t }]);
      // Registering pays out nothing.
      expect(await f.ethHolder.settled(id)).toBe(false);
    });

    it("refuting with v2 replaces the state but keeps the timeout", async () => {
      const r1 = await f.adjudicator.register(signed(params, v1, parts));
      const t = (await blockTime(f.conn, r1)) + CD;
      await increaseTime(f.conn, 10);
      const r2 = await f.adjudicator.register(signed(params, v2, parts));
      expect(await f.adjudicator.dispute(id)).toMatchObject({
        timeout: t,
        version: 2n,
        phase: DisputePhase.DISPUTE,
        stateHash: hashState(v2),
      });
      expect(updatesIn(r2)).toEqual([
        { channelID: id, version: 2n, phase: DisputePhase.DISPUTE, timeout: t },
      ]);
    });

    it("an older version after a newer one reverts StaleVersion", async () => {
      await f.adjudicator.register(signed(params, v2, parts));
      await expectRevert(f.adjudicator.register(signed(params, v1, parts)), "StaleVersion", [id, 2n, 1n]);
      expect((await f.adjudicator.dispute(id))?.stateHash).toBe(hashState(v2));
    });

    it("a different state with the registered version reverts StaleVersion", async () => {
      await f.adjudicator.register(signed(params, v1, parts));
      const twin = next(v1, { version: 1n, balances: [[9n * ETH, 1n * ETH]] });
      await expectRevert(f.adjudicator.register(signed(params, twin, parts)), "StaleVersion", [id, 1n, 1n]);
    });

    it("registering the registered state again is a no-op (no event, record unchanged)", async () => {
      await f.adjudicator.register(signed(params, v1, parts));
      const before = await f.adjudicator.dispute(id);
      await increaseTime(f.conn, 10);
      const r = await f.adjudicator.register(signed(params, v1, parts));
      expect(updatesIn(r)).toEqual([]);
      expect(await f.adjudicator.dispute(id)).toEqual(before);
    });

    it("refuting after the timeout reverts RefutationTimeoutPassed", async () => {
      const r = await f.adjudicator.register(signed(params, v1, parts));
      const t = (await blockTime(f.conn, r)) + CD;
      await increaseTime(f.conn, CD);
      await expectRevert(f.adjudicator.register(signed(params, v2, parts)), "RefutationTimeoutPassed", [
        id,
        t,
      ]);
      expect((await f.adjudicator.dispute(id))?.version).toBe(1n);
    });

    it("a corrupted signature reverts InvalidSignature", async () => {
      const sigs = sign(v1, parts);
      const bob = sigs[1] as Hex;
      // Flip one bit of r: recovers some other address (or none).
      const bad =
        `${bob.slice(0, 10)}${(Number.parseInt(bob.slice(10, 12), 16) ^ 1).toString(16).padStart(2, "0")}${bob.slice(12)}` as Hex;
      await expectRevert(
        f.adjudicator.register({ params, state: v1, sigs: [sigs[0] as Hex, bad] }),
        "InvalidSignature",
        [id, 1n],
      );
      expect(await f.adjudicator.dispute(id)).toBeUndefined();
    });

    it("the malleable high-s twin of a valid signature reverts InvalidSignature", async () => {
      const sigs = sign(v1, parts);
      const sig = sigs[1] as Hex;
      const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      const s = BigInt(`0x${sig.slice(66, 130)}`);
      const v = Number.parseInt(sig.slice(130, 132), 16);
      // (r, n - s, v ^ 1) recovers the same address, but only low-s signatures are accepted (EIP-2).
      const twin =
        `${sig.slice(0, 66)}${(N - s).toString(16).padStart(64, "0")}${(v === 27 ? 28 : 27).toString(16)}` as Hex;
      await expectRevert(
        f.adjudicator.register({ params, state: v1, sigs: [sigs[0] as Hex, twin] }),
        "InvalidSignature",
        [id, 1n],
      );
    });

    it("a challenge duration beyond uint64 reverts ChallengeDurationTooLarge", async () => {
      const huge = makeParams(parts, { challengeDuration: 1n << 64n });
      const s = makeState(huge, [eth], [[1n, 1n]], { version: 1n });
      await expectRevert(f.adjudicator.register(signed(huge, s, parts)), "ChallengeDurationTooLarge", [
        channelId(huge),
      ]);
    });

    it("a signature by the wrong participant reverts InvalidSignature", async () => {
      await expectRevert(
        f.adjudicator.register(signed(params, v1, [f.alice, f.mallory])),
        "InvalidSignature",
        [id, 1n],
      );
      await expectRevert(f.adjudicator.register(signed(params, v1, [f.bob, f.alice])), "InvalidSignature", [
        id,
        0n,
      ]);
      expect(await f.adjudicator.dispute(id)).toBeUndefined();
    });

    it("a refutation with a bad signature reverts InvalidSignature and keeps the registered state", async () => {
      await f.adjudicator.register(signed(params, v1, parts));
      await expectRevert(f.adjudicator.register(signed(params, v2, [f.alice, f.alice])), "InvalidSignature", [
        id,
        1n,
      ]);
      expect((await f.adjudicator.dispute(id))?.stateHash).toBe(hashState(v1));
    });

    it("a missing signature reverts SignatureCountMismatch", async () => {
      await expectRevert(
        f.adjudicator.register({ params, state: v1, sigs: sign(v1, [f.alice]) }),
        "SignatureCountMismatch",
        [id, 2n, 1n],
      );
    });

    it("params that do not match the state's channel id revert InvalidParams", async () => {
      const other = makeParams(parts, { challengeDuration: 1n });
      await expectRevert(
        f.adjudicator.register({ params: other, state: v1, sigs: sign(v1, parts) }),
        "InvalidParams",
        [channelId(other), id],
      );
    });

    it("a non-ledger channel reverts NotLedgerChannel", async () => {
      const sub = makeParams(parts, { ledgerChannel: false });
      const s = makeState(sub, [eth], [[1n, 1n]], { version: 1n });
      await expectRevert(f.adjudicator.register(signed(sub, s, parts)), "NotLedgerChannel");
      expect(await f.adjudicator.dispute(channelId(sub))).toBeUndefined();
    });

    it("a balance matrix that is not assets x participants reverts InvalidAllocationShape", async () => {
      const s = makeState(params, [eth], [[10n * ETH]], { version: 1n });
      await expectRevert(f.adjudicator.register(signed(params, s, parts)), "InvalidAllocationShape", [id]);
    });

    it("a final state registers with timeout = block time and is concludable at once", async () => {
      const fin = next(v1, { isFinal: true });
      const r = await f.adjudicator.register(signed(params, fin, parts));
      const t = await blockTime(f.conn, r);
      expect(await f.adjudicator.dispute(id)).toMatchObject({ timeout: t, phase: DisputePhase.DISPUTE });
      await f.adjudicator.conclude(params, fin);
      expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([4n * ETH, 6n * ETH]);
    });
  });

  describe("conclude", () => {
    it("conclude before the timeout reverts TimeoutNotPassed", async () => {
      const r = await f.adjudicator.register(signed(params, v1, parts));
      const t = (await blockTime(f.conn, r)) + CD;
      await increaseTime(f.conn, CD / 2n);
      await expectRevert(f.adjudicator.conclude(params, v1), "TimeoutNotPassed", [id, t]);
      expect((await f.adjudicator.dispute(id))?.phase).toBe(DisputePhase.DISPUTE);
      expect(await f.ethHolder.settled(id)).toBe(false);
    });

    it("conclude after the timeout concludes, pushes the outcome, and both withdraw it", async () => {
      const r1 = await f.adjudicator.register(signed(params, v1, parts));
      const t = (await blockTime(f.conn, r1)) + CD;
      await f.adjudicator.register(signed(params, v2, parts));
      await increaseTime(f.conn, CD);
      const r = await f.adjudicator.conclude(params, v2);
      expect(updatesIn(r)).toEqual([
        { channelID: id, version: 2n, phase: DisputePhase.CONCLUDED, timeout: t },
      ]);
      expect(await f.adjudicator.dispute(id)).toMatchObject({
        phase: DisputePhase.CONCLUDED,
        version: 2n,
        timeout: t,
        stateHash: hashState(v2),
      });
      expect(await f.ethHolder.settled(id)).toBe(true);
      expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([3n * ETH, 7n * ETH]);
      for (const [p, amount] of [
        [f.alice, 3n * ETH],
        [f.bob, 7n * ETH],
      ] as const) {
        const before = await f.ethHolder.balanceOf(p.address);
        const w = await withdraw(f.ethHolder, id, p, amount);
        expect(await f.ethHolder.balanceOf(p.address)).toBe(before + amount - gasCost(w));
      }
      expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([0n, 0n]);
    });

    it("a second conclude reverts ChannelConcluded", async () => {
      await f.adjudicator.register(signed(params, v1, parts));
      await increaseTime(f.conn, CD);
      await f.adjudicator.conclude(params, v1);
      await expectRevert(f.adjudicator.conclude(params, v1), "ChannelConcluded", [id]);
      expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([4n * ETH, 6n * ETH]);
    });

    it("conclude with a state other than the registered one reverts InvalidState", async () => {
      await f.adjudicator.register(signed(params, v1, parts));
      await f.adjudicator.register(signed(params, v2, parts));
      await increaseTime(f.conn, CD);
      // The refuted state, and a newer state that was never registered.
      await expectRevert(f.adjudicator.conclude(params, v1), "InvalidState", [id]);
      await expectRevert(f.adjudicator.conclude(params, next(v2)), "InvalidState", [id]);
      expect((await f.adjudicator.dispute(id))?.phase).toBe(DisputePhase.DISPUTE);
      expect(await f.ethHolder.settled(id)).toBe(false);
    });

    it("conclude of a channel that was never registered reverts NotRegistered", async () => {
      await expectRevert(f.adjudicator.conclude(params, v1), "NotRegistered", [id]);
    });

    it("conclude with sub-states for a channel without locked funds reverts SubChannelCountMismatch", async () => {
      await f.adjudicator.register(signed(params, v1, parts));
      await increaseTime(f.conn, CD);
      await expectRevert(f.adjudicator.conclude(params, v1, [v1]), "SubChannelCountMismatch", [0n, 1n]);
    });
  });

  describe("ChannelUpdate events", () => {
    it("one event per change of the record: register, refute, conclude; none for a no-op", async () => {
      const from = await f.conn.publicClient.getBlockNumber();
      const r1 = await f.adjudicator.register(signed(params, v1, parts));
      const t = (await blockTime(f.conn, r1)) + CD;
      await f.adjudicator.register(signed(params, v2, parts));
      await f.adjudicator.register(signed(params, v2, parts)); // no-op
      await increaseTime(f.conn, CD);
      await f.adjudicator.conclude(params, v2);
      const ups = await f.adjudicator.channelUpdates(from, id);
      expect(
        ups.map(({ channelID, version, phase, timeout }) => ({ channelID, version, phase, timeout })),
      ).toEqual([
        { channelID: id, version: 1n, phase: DisputePhase.DISPUTE, timeout: t },
        { channelID: id, version: 2n, phase: DisputePhase.DISPUTE, timeout: t },
        { channelID: id, version: 2n, phase: DisputePhase.CONCLUDED, timeout: t },
      ]);
      // Only this channel's events: another channel's update is filtered out.
      const other = makeParams(parts);
      const os = makeState(other, [eth], [[0n, 0n]], { version: 1n });
      await f.adjudicator.register(signed(other, os, parts));
      expect(await f.adjudicator.channelUpdates(from, id)).toHaveLength(3);
      expect(await f.adjudicator.channelUpdates(from)).toHaveLength(4);
    });

    it("a failed call emits nothing", async () => {
      const from = await f.conn.publicClient.getBlockNumber();
      await expectRevert(f.adjudicator.conclude(params, v1), "NotRegistered");
      expect(await f.adjudicator.channelUpdates(from, id)).toEqual([]);
    });
  });
});
