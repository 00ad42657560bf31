/**
 * Force execution of app channels (Adjudicator.progress) with TrivialApp,
 * PaymentApp and TicTacToeApp: when progress is allowed, what a valid move is,
 * how FORCEEXEC times out, and that conclude pays the progressed outcome.
 */
import { type Abi, decodeEventLog, encodeFunctionData } from "viem";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DisputePhase } from "../../src/chain/adjudicator.js";
import { increaseTime } from "../../src/chain/devtools.js";
import { AdjudicatorAbi } from "../../src/chain/generated/index.js";
import {
  type Address,
  type Asset,
  channelId,
  type Hex,
  hashState,
  type Params,
  type State,
  signState,
} from "../../src/channel/index.js";
import {
  assetOf,
  blockTime,
  ETH,
  expectAppRevert,
  expectRevert,
  fund,
  gasCost,
  holdingsOf,
  inOneTransaction,
  makeParams,
  makeState,
  next,
  sign,
  signed,
  signerOf,
  tttData,
  updatesIn,
  withdraw,
} from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain, type Role } from "../fixtures/perun-chain.js";

const CD = 100n;
type AppName = "trivial" | "payment" | "ticTacToe";

describe("Adjudicator.progress", () => {
  let f: PerunChainFixture;
  let restore: () => Promise<void>;
  let parts: Role[];
  let eth: Asset;
  beforeAll(async () => {
    f = await perunChain();
  });
  beforeEach(async () => {
    restore = await f.checkpoint();
    parts = [f.alice, f.bob];
    eth = assetOf(f.ethHolder);
  });
  afterEach(async () => {
    await restore();
  });

  interface AppChannel {
    params: Params;
    id: Hex;
    s1: State;
  }

  /** A funded (5/5 ETH) app channel whose state v1 is registered. */
  async function registered(app: Address, appData: Hex = "0x", isFinal = false): Promise<AppChannel> {
    const params = makeParams(parts, { challengeDuration: CD, app });
    const id = channelId(params);
    await fund(f.ethHolder, id, parts, [5n * ETH, 5n * ETH]);
    const s1 = makeState(params, [eth], [[5n * ETH, 5n * ETH]], { version: 1n, appData, isFinal });
    await f.adjudicator.register(signed(params, s1, parts));
    return { params, id, s1 };
  }

  const actorSig = (s: State, r: Role): Hex => signState(s, signerOf(r));

  /** Initial app data and a valid first move of alice (actor 0) for each app. */
  const moves: Record<AppName, { init: Hex; move: (s: State) => State }> = {
    trivial: { init: "0x", move: (s) => next(s, { balances: [[2n * ETH, 8n * ETH]] }) },
    payment: { init: "0x", move: (s) => next(s, { balances: [[4n * ETH, 6n * ETH]] }) },
    ticTacToe: {
      init: tttData(0),
      move: (s) => next(s, { appData: tttData(1, [0, 0, 0, 0, 1, 0, 0, 0, 0]) }),
    },
  };
  const appNames: AppName[] = ["trivial", "payment", "ticTacToe"];

  describe.each(appNames)("%s app channel", (name) => {
    it("progress before the registration timeout reverts TimeoutNotPassed", async () => {
      const c = await registered(f.apps[name], moves[name].init);
      const s2 = moves[name].move(c.s1);
      await expectRevert(
        f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice)),
        "TimeoutNotPassed",
      );
      expect((await f.adjudicator.dispute(c.id))?.phase).toBe(DisputePhase.DISPUTE);
    });

    it("after the timeout, a valid move by the right actor enters FORCEEXEC with timeout = block time + duration", async () => {
      const c = await registered(f.apps[name], moves[name].init);
      await increaseTime(f.conn, CD);
      const s2 = moves[name].move(c.s1);
      const r = await f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice));
      const t = (await blockTime(f.conn, r)) + CD;
      expect(await f.adjudicator.dispute(c.id)).toEqual({
        timeout: t,
        challengeDuration: CD,
        version: 2n,
        hasApp: true,
        phase: DisputePhase.FORCEEXEC,
        stateHash: hashState(s2),
      });
      expect(updatesIn(r)).toEqual([
        { channelID: c.id, version: 2n, phase: DisputePhase.FORCEEXEC, timeout: t },
      ]);
    });
  });

  it("after the FORCEEXEC timeout progress reverts TimeoutPassed and conclude pays the progressed outcome", async () => {
    const c = await registered(f.apps.payment);
    await increaseTime(f.conn, CD);
    const s2 = next(c.s1, { balances: [[4n * ETH, 6n * ETH]] });
    const r = await f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice));
    const t = (await blockTime(f.conn, r)) + CD;
    const s3 = next(s2, { balances: [[5n * ETH, 5n * ETH]] });
    await increaseTime(f.conn, CD / 2n);
    // Still in FORCEEXEC: conclude has to wait, another move restarts the timeout.
    await expectRevert(f.adjudicator.conclude(c.params, s2), "TimeoutNotPassed", [c.id, t]);
    const r3 = await f.adjudicator.progress(c.params, s2, s3, 1, actorSig(s3, f.bob));
    const t3 = (await blockTime(f.conn, r3)) + CD;
    expect(t3).toBeGreaterThan(t);
    await increaseTime(f.conn, CD);
    const s4 = next(s3, { balances: [[3n * ETH, 7n * ETH]] });
    await expectRevert(f.adjudicator.progress(c.params, s3, s4, 0, actorSig(s4, f.alice)), "TimeoutPassed", [
      c.id,
      t3,
    ]);
    const rc = await f.adjudicator.conclude(c.params, s3);
    expect(updatesIn(rc)).toEqual([
      { channelID: c.id, version: 3n, phase: DisputePhase.CONCLUDED, timeout: t3 },
    ]);
    expect(await holdingsOf(f.ethHolder, c.id, parts)).toEqual([5n * ETH, 5n * ETH]);
  });

  it("conclude pays the progressed outcome, not the registered one", async () => {
    const c = await registered(f.apps.payment);
    await increaseTime(f.conn, CD);
    const s2 = next(c.s1, { balances: [[1n * ETH, 9n * ETH]] });
    await f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice));
    await increaseTime(f.conn, CD);
    await expectRevert(f.adjudicator.conclude(c.params, c.s1), "InvalidState", [c.id]);
    await f.adjudicator.conclude(c.params, s2);
    expect(await holdingsOf(f.ethHolder, c.id, parts)).toEqual([1n * ETH, 9n * ETH]);
    const before = await f.ethHolder.balanceOf(f.bob.address);
    const w = await withdraw(f.ethHolder, c.id, f.bob, 9n * ETH);
    expect(await f.ethHolder.balanceOf(f.bob.address)).toBe(before + 9n * ETH - gasCost(w));
  });

  it("an app channel left in DISPUTE is concludable only one challenge duration after the timeout", async () => {
    const c = await registered(f.apps.trivial);
    const d = await f.adjudicator.dispute(c.id);
    const t = (d?.timeout ?? 0n) + CD;
    await increaseTime(f.conn, CD + CD / 2n);
    await expectRevert(f.adjudicator.conclude(c.params, c.s1), "TimeoutNotPassed", [c.id, t]);
    await increaseTime(f.conn, CD / 2n);
    const r = await f.adjudicator.conclude(c.params, c.s1);
    // The extended timeout is stored.
    expect(updatesIn(r)).toEqual([
      { channelID: c.id, version: 1n, phase: DisputePhase.CONCLUDED, timeout: t },
    ]);
    expect(await holdingsOf(f.ethHolder, c.id, parts)).toEqual([5n * ETH, 5n * ETH]);
  });

  it("registering a newer state during FORCEEXEC reverts InvalidPhase", async () => {
    const c = await registered(f.apps.trivial);
    await increaseTime(f.conn, CD);
    const s2 = next(c.s1);
    await f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice));
    await expectRevert(f.adjudicator.register(signed(c.params, next(s2), parts)), "InvalidPhase", [
      c.id,
      DisputePhase.FORCEEXEC,
    ]);
  });

  it("concludeFinal supersedes force execution", async () => {
    const c = await registered(f.apps.trivial);
    await increaseTime(f.conn, CD);
    const s2 = next(c.s1, { balances: [[1n * ETH, 9n * ETH]] });
    await f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice));
    const fin = next(s2, { version: 10n, balances: [[6n * ETH, 4n * ETH]], isFinal: true });
    await f.adjudicator.concludeFinal(c.params, fin, sign(fin, parts));
    expect(await f.adjudicator.dispute(c.id)).toMatchObject({ phase: DisputePhase.CONCLUDED, version: 10n });
    expect(await holdingsOf(f.ethHolder, c.id, parts)).toEqual([6n * ETH, 4n * ETH]);
  });

  it("PaymentApp: a move that decreases a non-actor's balance reverts BalanceDecreased", async () => {
    const c = await registered(f.apps.payment);
    await increaseTime(f.conn, CD);
    const s2 = next(c.s1, { balances: [[6n * ETH, 4n * ETH]] });
    await expectAppRevert(
      f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice)),
      "BalanceDecreased",
      [0n, 1n],
    );
    // The same payment made by bob is fine.
    await f.adjudicator.progress(c.params, c.s1, s2, 1, actorSig(s2, f.bob));
    expect((await f.adjudicator.dispute(c.id))?.stateHash).toBe(hashState(s2));
  });

  it("a move signed by someone else than the actor reverts InvalidSignature", async () => {
    const c = await registered(f.apps.payment);
    await increaseTime(f.conn, CD);
    const s2 = next(c.s1, { balances: [[4n * ETH, 6n * ETH]] });
    await expectRevert(
      f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.bob)),
      "InvalidSignature",
      [c.id, 0n],
    );
    await expectRevert(
      f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.mallory)),
      "InvalidSignature",
    );
    expect((await f.adjudicator.dispute(c.id))?.phase).toBe(DisputePhase.DISPUTE);
  });

  it("a version that is not the old one + 1 reverts InvalidVersion", async () => {
    const c = await registered(f.apps.trivial);
    await increaseTime(f.conn, CD);
    for (const version of [3n, 1n]) {
      const s = next(c.s1, { version });
      await expectRevert(
        f.adjudicator.progress(c.params, c.s1, s, 0, actorSig(s, f.alice)),
        "InvalidVersion",
        [c.id, 1n, version],
      );
    }
  });

  it("a move that does not conserve funds reverts BalanceSumMismatch", async () => {
    const c = await registered(f.apps.trivial);
    await increaseTime(f.conn, CD);
    const s2 = next(c.s1, { balances: [[5n * ETH, 6n * ETH]] });
    await expectRevert(
      f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice)),
      "BalanceSumMismatch",
      [c.id, 0n],
    );
  });

  it("a move that changes the locked funds or the assets reverts AllocationMismatch", async () => {
    const c = await registered(f.apps.trivial);
    await increaseTime(f.conn, CD);
    const otherAssets: State = {
      ...next(c.s1),
      outcome: { ...c.s1.outcome, assets: [assetOf(f.erc20Holder)] },
    };
    await expectRevert(
      f.adjudicator.progress(c.params, c.s1, otherAssets, 0, actorSig(otherAssets, f.alice)),
      "AllocationMismatch",
      [c.id],
    );
  });

  it("every progress emits the state it moved to (Progressed), also when several come in one transaction through a contract", async () => {
    const c = await registered(f.apps.ticTacToe, tttData(0));
    await increaseTime(f.conn, CD);
    const s2 = next(c.s1, { appData: tttData(1, [0, 0, 0, 0, 1, 0, 0, 0, 0]) });
    const s3 = next(s2, { appData: tttData(0, [2, 0, 0, 0, 1, 0, 0, 0, 0]) });
    const send = await inOneTransaction(f, f.mallory);
    const r = await send([
      encodeFunctionData({
        abi: AdjudicatorAbi as Abi,
        functionName: "progress",
        args: [c.params, c.s1, s2, 0n, actorSig(s2, f.alice)],
      }),
      encodeFunctionData({
        abi: AdjudicatorAbi as Abi,
        functionName: "progress",
        args: [c.params, s2, s3, 1n, actorSig(s3, f.bob)],
      }),
    ]);
    const moved = r.logs.flatMap((l) => {
      try {
        const e = decodeEventLog({ abi: AdjudicatorAbi as Abi, data: l.data, topics: l.topics });
        return e.eventName === "Progressed" ? [e.args as unknown as { channelID: Hex; state: State }] : [];
      } catch {
        return [];
      }
    });
    expect(moved).toEqual([
      { channelID: c.id, state: s2 },
      { channelID: c.id, state: s3 },
    ]);
    expect((await f.adjudicator.dispute(c.id))?.stateHash).toBe(hashState(s3));
  });

  it("a move that changes the backends (another value, one more, one less) reverts AllocationMismatch", async () => {
    const c = await registered(f.apps.trivial);
    await increaseTime(f.conn, CD);
    for (const backends of [[1n], [0n, 0n], []]) {
      const s2: State = { ...next(c.s1), outcome: { ...c.s1.outcome, backends } };
      await expectRevert(
        f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice)),
        "AllocationMismatch",
        [c.id],
      );
    }
    // The same move with the backends kept is fine.
    const ok = next(c.s1);
    await f.adjudicator.progress(c.params, c.s1, ok, 0, actorSig(ok, f.alice));
  });

  it("a stateOld that is not the registered state reverts InvalidOldState", async () => {
    const c = await registered(f.apps.trivial);
    await increaseTime(f.conn, CD);
    const fake = next(c.s1, { version: 1n, balances: [[10n * ETH, 0n]] });
    const s2 = next(fake);
    await expectRevert(
      f.adjudicator.progress(c.params, fake, s2, 0, actorSig(s2, f.alice)),
      "InvalidOldState",
      [c.id],
    );
  });

  it("a final move that still locks a sub-channel keeps the challenge duration; only a final state without locks ends force execution at once", async () => {
    const params = makeParams(parts, { challengeDuration: CD, app: f.apps.trivial });
    const id = channelId(params);
    await fund(f.ethHolder, id, parts, [5n * ETH, 5n * ETH]);
    const subParams = makeParams(parts, { challengeDuration: CD, ledgerChannel: false });
    const sub = makeState(subParams, [eth], [[1n * ETH, 1n * ETH]], { version: 1n });
    const locked = [{ ID: channelId(subParams), balances: [2n * ETH], indexMap: [0, 1] }];
    const s1 = makeState(params, [eth], [[4n * ETH, 4n * ETH]], { version: 1n, locked });
    await f.adjudicator.register(signed(params, s1, parts), [signed(subParams, sub, parts)]);
    await increaseTime(f.conn, CD);
    const s2 = next(s1, { balances: [[3n * ETH, 5n * ETH]], isFinal: true });
    const r = await f.adjudicator.progress(params, s1, s2, 0, actorSig(s2, f.alice));
    const t = (await blockTime(f.conn, r)) + CD;
    expect(await f.adjudicator.dispute(id)).toMatchObject({ phase: DisputePhase.FORCEEXEC, timeout: t });
    await expectRevert(f.adjudicator.conclude(params, s2, [sub]), "TimeoutNotPassed", [id, t]);
    await increaseTime(f.conn, CD);
    await f.adjudicator.conclude(params, s2, [sub]);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([4n * ETH, 6n * ETH]);
  });

  it("progress from a registered final state reverts ProgressFromFinal", async () => {
    const c = await registered(f.apps.trivial, "0x", true);
    const s2 = next(c.s1, { isFinal: false });
    await expectRevert(
      f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice)),
      "ProgressFromFinal",
      [c.id],
    );
  });

  it("progress with an actor index out of range reverts ActorIdxOutOfRange", async () => {
    const c = await registered(f.apps.trivial);
    await increaseTime(f.conn, CD);
    const s2 = next(c.s1);
    await expectRevert(
      f.adjudicator.progress(c.params, c.s1, s2, 2, actorSig(s2, f.alice)),
      "ActorIdxOutOfRange",
      [2n, 2n],
    );
  });

  it("progress on a channel without app reverts NoApp", async () => {
    const params = makeParams(parts, { challengeDuration: CD });
    const s1 = makeState(params, [eth], [[1n, 1n]], { version: 1n });
    await f.adjudicator.register(signed(params, s1, parts));
    await increaseTime(f.conn, CD);
    const s2 = next(s1);
    await expectRevert(f.adjudicator.progress(params, s1, s2, 0, actorSig(s2, f.alice)), "NoApp", [
      channelId(params),
    ]);
  });

  it("progress on an unregistered channel reverts NotRegistered", async () => {
    const params = makeParams(parts, { challengeDuration: CD, app: f.apps.trivial });
    const s1 = makeState(params, [eth], [[1n, 1n]], { version: 1n });
    const s2 = next(s1);
    await expectRevert(f.adjudicator.progress(params, s1, s2, 0, actorSig(s2, f.alice)), "NotRegistered");
  });

  it("progress on a concluded channel reverts ChannelConcluded", async () => {
    const c = await registered(f.apps.trivial);
    await increaseTime(f.conn, 2n * CD);
    await f.adjudicator.conclude(c.params, c.s1);
    const s2 = next(c.s1);
    await expectRevert(
      f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice)),
      "ChannelConcluded",
    );
  });

  describe("TicTacToe", () => {
    const grid = (cells: Record<number, number>): number[] =>
      Array.from({ length: 9 }, (_, i) => cells[i] ?? 0);

    it("a move out of turn reverts NotYourTurn", async () => {
      const c = await registered(f.apps.ticTacToe, tttData(0));
      await increaseTime(f.conn, CD);
      const s2 = next(c.s1, { appData: tttData(0, grid({ 4: 2 })) });
      await expectAppRevert(
        f.adjudicator.progress(c.params, c.s1, s2, 1, actorSig(s2, f.bob)),
        "NotYourTurn",
        [1n],
      );
    });

    it("a move placing two marks reverts InvalidMove", async () => {
      const c = await registered(f.apps.ticTacToe, tttData(0));
      await increaseTime(f.conn, CD);
      const s2 = next(c.s1, { appData: tttData(1, grid({ 0: 1, 4: 1 })) });
      await expectAppRevert(
        f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice)),
        "InvalidMove",
      );
    });

    it("a move on an occupied cell reverts InvalidMove", async () => {
      const c = await registered(f.apps.ticTacToe, tttData(1, grid({ 0: 1 })));
      await increaseTime(f.conn, CD);
      const s2 = next(c.s1, { appData: tttData(0, grid({ 0: 2 })) });
      await expectAppRevert(
        f.adjudicator.progress(c.params, c.s1, s2, 1, actorSig(s2, f.bob)),
        "InvalidMove",
      );
    });

    it("a move that changes balances before the game is over reverts InvalidBalances", async () => {
      const c = await registered(f.apps.ticTacToe, tttData(0));
      await increaseTime(f.conn, CD);
      const s2 = next(c.s1, { appData: tttData(1, grid({ 0: 1 })), balances: [[6n * ETH, 4n * ETH]] });
      await expectAppRevert(
        f.adjudicator.progress(c.params, c.s1, s2, 0, actorSig(s2, f.alice)),
        "InvalidBalances",
        [0n],
      );
    });

    it("a game played to a win via progress: the winner takes the pot via conclude", async () => {
      const c = await registered(f.apps.ticTacToe, tttData(0));
      await increaseTime(f.conn, CD);
      // alice (1) takes the top row; bob (2) plays the middle row.
      const plays: [number, number][] = [
        [0, 0],
        [1, 3],
        [0, 1],
        [1, 4],
        [0, 2],
      ];
      const cells: Record<number, number> = {};
      let s = c.s1;
      for (const [i, [actor, cell]] of plays.entries()) {
        cells[cell] = actor + 1;
        const last = i === plays.length - 1;
        const to = next(s, {
          appData: tttData(1 - actor, grid(cells)),
          ...(last ? { isFinal: true, balances: [[10n * ETH, 0n]] } : {}),
        });
        if (last) {
          // The winning move must declare the state final and give the winner the pot.
          const notFinal = next(to, { version: to.version, isFinal: false });
          await expectAppRevert(
            f.adjudicator.progress(c.params, s, notFinal, actor, actorSig(notFinal, parts[actor] as Role)),
            "InvalidFinality",
            [true],
          );
          const stingy = next(to, { version: to.version, balances: [[9n * ETH, 1n * ETH]] });
          await expectAppRevert(
            f.adjudicator.progress(c.params, s, stingy, actor, actorSig(stingy, parts[actor] as Role)),
            "InvalidBalances",
            [0n],
          );
        }
        const r = await f.adjudicator.progress(c.params, s, to, actor, actorSig(to, parts[actor] as Role));
        const t = await blockTime(f.conn, r);
        expect(await f.adjudicator.dispute(c.id)).toMatchObject({
          phase: DisputePhase.FORCEEXEC,
          version: to.version,
          // A final state ends force execution at once.
          timeout: last ? t : t + CD,
        });
        s = to;
      }
      // Final: concludable right away, no waiting.
      await f.adjudicator.conclude(c.params, s);
      expect(await holdingsOf(f.ethHolder, c.id, parts)).toEqual([10n * ETH, 0n]);
      const before = await f.ethHolder.balanceOf(f.alice.address);
      const w = await withdraw(f.ethHolder, c.id, f.alice, 10n * ETH);
      expect(await f.ethHolder.balanceOf(f.alice.address)).toBe(before + 10n * ETH - gasCost(w));
      await expectRevert(withdraw(f.ethHolder, c.id, f.bob, 1n), "InsufficientFunds");
    });
  });
});
