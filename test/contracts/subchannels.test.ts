/**
 * Sub-channels and virtual channels in disputes: register a ledger channel with
 * the channels its state locks funds in (depth-first), conclude them together
 * and pay the sub-channel balances through the indexMap; a virtual channel
 * between alice and bob funded by two ledger channels with ingrid.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { SignedState } from "../../src/chain/adjudicator.js";
import { DisputePhase } from "../../src/chain/adjudicator.js";
import { increaseTime } from "../../src/chain/devtools.js";
import {
  type Asset,
  channelId,
  type Hex,
  hashState,
  type Params,
  type State,
  type SubAlloc,
  signState,
} from "../../src/channel/index.js";
import {
  assetOf,
  blockTime,
  concludeCall,
  ETH,
  expectRevert,
  fund,
  holdingsOf,
  inOneTransaction,
  makeParams,
  makeState,
  next,
  registerCall,
  signed,
  signerOf,
  tttData,
  updatesIn,
} from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain, type Role } from "../fixtures/perun-chain.js";

const CD = 100n;

describe("Adjudicator with sub-channels", () => {
  let f: PerunChainFixture;
  let restore: () => Promise<void>;
  let eth: Asset;
  beforeAll(async () => {
    f = await perunChain();
  });
  beforeEach(async () => {
    restore = await f.checkpoint();
    eth = assetOf(f.ethHolder);
  });
  afterEach(async () => {
    await restore();
  });

  describe("sub-channel of a ledger channel", () => {
    // L (alice, bob) funded 6/4 keeps 3/2 and locks 5 in S. S has the participants
    // in the other order (bob, alice), so its indexMap is [1, 0]; S gives bob 4, alice 1.
    let lParts: Role[];
    let sParts: Role[];
    let lParams: Params;
    let sParams: Params;
    let lID: Hex;
    let sID: Hex;
    let sState: State;
    let lState: State;
    const lockS = (changes: Partial<SubAlloc> = {}): SubAlloc => ({
      ID: sID,
      balances: [5n],
      indexMap: [1, 0],
      ...changes,
    });
    const lWith = (sub: SubAlloc): State => next(lState, { version: lState.version, locked: [sub] });
    const signedL = (s: State = lState): SignedState => signed(lParams, s, lParts);
    const signedS = (s: State = sState): SignedState => signed(sParams, s, sParts);

    beforeEach(async () => {
      lParts = [f.alice, f.bob];
      sParts = [f.bob, f.alice];
      lParams = makeParams(lParts, { challengeDuration: CD });
      sParams = makeParams(sParts, { challengeDuration: CD, ledgerChannel: false });
      lID = channelId(lParams);
      sID = channelId(sParams);
      await fund(f.ethHolder, lID, lParts, [6n, 4n]);
      sState = makeState(sParams, [eth], [[4n, 1n]], { version: 3n });
      lState = makeState(lParams, [eth], [[3n, 2n]], { version: 2n, locked: [lockS()] });
    });

    it("register(L, [S]) registers both", async () => {
      const r = await f.adjudicator.register(signedL(), [signedS()]);
      expect(updatesIn(r).map((u) => [u.channelID, u.version, u.phase])).toEqual([
        [lID, 2n, DisputePhase.DISPUTE],
        [sID, 3n, DisputePhase.DISPUTE],
      ]);
      expect(await f.adjudicator.dispute(lID)).toMatchObject({
        phase: DisputePhase.DISPUTE,
        stateHash: hashState(lState),
      });
      expect(await f.adjudicator.dispute(sID)).toMatchObject({
        phase: DisputePhase.DISPUTE,
        stateHash: hashState(sState),
      });
    });

    it("conclude(L, [S]) after the timeout pays L's balances plus S's through the indexMap", async () => {
      await f.adjudicator.register(signedL(), [signedS()]);
      await expectRevert(f.adjudicator.conclude(lParams, lState, [sState]), "TimeoutNotPassed");
      await increaseTime(f.conn, CD);
      const r = await f.adjudicator.conclude(lParams, lState, [sState]);
      expect(updatesIn(r).map((u) => [u.channelID, u.phase])).toEqual([
        [lID, DisputePhase.CONCLUDED],
        [sID, DisputePhase.CONCLUDED],
      ]);
      // alice: 3 + S's 1; bob: 2 + S's 4.
      expect(await holdingsOf(f.ethHolder, lID, lParts)).toEqual([4n, 6n]);
      expect((await f.adjudicator.dispute(sID))?.phase).toBe(DisputePhase.CONCLUDED);
    });

    it("a sub-channel refuted by registering the parent again is concluded at the refuted state", async () => {
      await f.adjudicator.register(signedL(), [signedS()]);
      const s4 = next(sState, { balances: [[0n, 5n]] });
      const r = await f.adjudicator.register(signedL(), [signedS(s4)]);
      // L is unchanged (skipped), only S is updated.
      expect(updatesIn(r).map((u) => [u.channelID, u.version])).toEqual([[sID, 4n]]);
      await increaseTime(f.conn, CD);
      await expectRevert(f.adjudicator.conclude(lParams, lState, [sState]), "InvalidState", [sID]);
      await f.adjudicator.conclude(lParams, lState, [s4]);
      expect(await holdingsOf(f.ethHolder, lID, lParts)).toEqual([8n, 2n]);
    });

    it("a SubAlloc whose balances differ from the sub-channel's total reverts SubAllocMismatch", async () => {
      const l = lWith(lockS({ balances: [4n] }));
      const s = next(sState, { version: sState.version }); // total 5
      await expectRevert(f.adjudicator.register(signedL(l), [signedS(s)]), "SubAllocMismatch", [sID, 0n]);
      expect(await f.adjudicator.dispute(lID)).toBeUndefined();
    });

    it("a sub-channel with other assets than its parent reverts AllocationMismatch", async () => {
      const s = makeState(sParams, [assetOf(f.erc20Holder)], [[4n, 1n]], { version: 3n });
      await expectRevert(f.adjudicator.register(signedL(), [signedS(s)]), "AllocationMismatch", [sID]);
    });

    it("a sub-channel with another id than the SubAlloc reverts InvalidSubChannel", async () => {
      const otherParams = makeParams(sParts, { challengeDuration: CD, ledgerChannel: false });
      const other = makeState(otherParams, [eth], [[4n, 1n]], { version: 3n });
      await expectRevert(
        f.adjudicator.register(signedL(), [signed(otherParams, other, sParts)]),
        "InvalidSubChannel",
        [lID, sID],
      );
    });

    it("a ledger channel as sub-channel reverts InvalidSubChannel", async () => {
      const ledgerSub = makeParams(sParts, { challengeDuration: CD });
      const subState = makeState(ledgerSub, [eth], [[4n, 1n]], { version: 3n });
      const l = lWith(lockS({ ID: channelId(ledgerSub) }));
      await expectRevert(
        f.adjudicator.register(signedL(l), [signed(ledgerSub, subState, sParts)]),
        "InvalidSubChannel",
        [lID, channelId(ledgerSub)],
      );
    });

    it("a missing sub-channel reverts SubChannelCountMismatch (register and conclude)", async () => {
      await expectRevert(f.adjudicator.register(signedL(), []), "SubChannelCountMismatch", [1n, 0n]);
      await f.adjudicator.register(signedL(), [signedS()]);
      await increaseTime(f.conn, CD);
      await expectRevert(f.adjudicator.conclude(lParams, lState, []), "SubChannelCountMismatch", [1n, 0n]);
      expect(await f.ethHolder.settled(lID)).toBe(false);
    });

    it("extra sub-channels revert SubChannelCountMismatch (register and conclude)", async () => {
      await expectRevert(
        f.adjudicator.register(signedL(), [signedS(), signedS()]),
        "SubChannelCountMismatch",
        [1n, 2n],
      );
      await f.adjudicator.register(signedL(), [signedS()]);
      await increaseTime(f.conn, CD);
      await expectRevert(
        f.adjudicator.conclude(lParams, lState, [sState, sState]),
        "SubChannelCountMismatch",
        [1n, 2n],
      );
    });

    it.each([
      ["an entry out of range", [1, 2]],
      ["too short", [1]],
      ["too long", [1, 0, 0]],
    ])("an indexMap %s reverts InvalidIndexMap", async (_what, indexMap) => {
      const l = lWith(lockS({ indexMap }));
      await expectRevert(f.adjudicator.register(signedL(l), [signedS()]), "InvalidIndexMap", [sID]);
      expect(await f.adjudicator.dispute(lID)).toBeUndefined();
    });

    it("conclude with a sub-state that is not the registered one reverts InvalidState", async () => {
      await f.adjudicator.register(signedL(), [signedS()]);
      await increaseTime(f.conn, CD);
      await expectRevert(f.adjudicator.conclude(lParams, lState, [next(sState)]), "InvalidState", [sID]);
      expect((await f.adjudicator.dispute(lID))?.phase).toBe(DisputePhase.DISPUTE);
    });

    it("an app sub-channel delays its parent's conclusion like its own: + one duration in DISPUTE, its FORCEEXEC timeout after progress", async () => {
      const appS = makeParams(sParts, { challengeDuration: CD, ledgerChannel: false, app: f.apps.trivial });
      const appID = channelId(appS);
      const s = makeState(appS, [eth], [[4n, 1n]], { version: 3n });
      const l = lWith(lockS({ ID: appID }));
      const r = await f.adjudicator.register(signedL(l), [signed(appS, s, sParts)]);
      const t = await blockTime(f.conn, r);
      await increaseTime(f.conn, CD);
      // L's timeout passed; the app sub-channel still has one duration for progress.
      await expectRevert(f.adjudicator.conclude(lParams, l, [s]), "TimeoutNotPassed", [appID, t + 2n * CD]);
      const s4 = next(s, { balances: [[2n, 3n]] });
      const p = await f.adjudicator.progress(appS, s, s4, 0, signState(s4, signerOf(f.bob)));
      const tp = (await blockTime(f.conn, p)) + CD;
      await expectRevert(f.adjudicator.conclude(lParams, l, [s4]), "TimeoutNotPassed", [appID, tp]);
      await increaseTime(f.conn, CD);
      await f.adjudicator.conclude(lParams, l, [s4]);
      // alice: 3 + S's 3; bob: 2 + S's 2.
      expect(await holdingsOf(f.ethHolder, lID, lParts)).toEqual([6n, 4n]);
      expect(await f.adjudicator.dispute(appID)).toMatchObject({
        phase: DisputePhase.CONCLUDED,
        timeout: tp,
      });
    });
  });

  describe("virtual channel", () => {
    // L1 (alice, ingrid) and L2 (ingrid, bob) each 10/10. V (alice, bob) was funded
    // with alice 3 / bob 2 and ends at alice 1 / bob 4.
    let l1Params: Params;
    let l2Params: Params;
    let vParams: Params;
    let l1: State;
    let l2: State;
    let v: State;
    let l1ID: Hex;
    let l2ID: Hex;
    let vID: Hex;
    let vParts: Role[];

    beforeEach(async () => {
      vParts = [f.alice, f.bob];
      l1Params = makeParams([f.alice, f.ingrid], { challengeDuration: CD });
      l2Params = makeParams([f.ingrid, f.bob], { challengeDuration: CD });
      vParams = makeParams(vParts, { challengeDuration: CD, ledgerChannel: false, virtualChannel: true });
      [l1ID, l2ID, vID] = [channelId(l1Params), channelId(l2Params), channelId(vParams)];
      await fund(f.ethHolder, l1ID, [f.alice, f.ingrid], [10n * ETH, 10n * ETH]);
      await fund(f.ethHolder, l2ID, [f.ingrid, f.bob], [10n * ETH, 10n * ETH]);
      const lockV = { ID: vID, balances: [5n * ETH], indexMap: [0, 1] };
      // L1: alice put in V.alice (3), ingrid V.bob (2). L2: ingrid put in V.alice (3), bob V.bob (2).
      l1 = makeState(l1Params, [eth], [[7n * ETH, 8n * ETH]], { version: 4n, locked: [lockV] });
      l2 = makeState(l2Params, [eth], [[7n * ETH, 8n * ETH]], { version: 6n, locked: [lockV] });
      v = makeState(vParams, [eth], [[1n * ETH, 4n * ETH]], { version: 9n });
    });

    it("register(L1,[V]) then register(L2,[V]) reuses V's record; concluding both pays everyone, ingrid loses nothing", async () => {
      const r1 = await f.adjudicator.register(signed(l1Params, l1, [f.alice, f.ingrid]), [
        signed(vParams, v, vParts),
      ]);
      expect(updatesIn(r1).map((u) => u.channelID)).toEqual([l1ID, vID]);
      const vRecord = await f.adjudicator.dispute(vID);
      await increaseTime(f.conn, 10);
      const r2 = await f.adjudicator.register(signed(l2Params, l2, [f.ingrid, f.bob]), [
        signed(vParams, v, vParts),
      ]);
      // Only L2 is new; V is already on record with this very state.
      expect(updatesIn(r2).map((u) => u.channelID)).toEqual([l2ID]);
      expect(await f.adjudicator.dispute(vID)).toEqual(vRecord);

      await increaseTime(f.conn, CD);
      const c1 = await f.adjudicator.conclude(l1Params, l1, [v]);
      expect(updatesIn(c1).map((u) => [u.channelID, u.phase])).toEqual([
        [l1ID, DisputePhase.CONCLUDED],
        [vID, DisputePhase.CONCLUDED],
      ]);
      const c2 = await f.adjudicator.conclude(l2Params, l2, [v]);
      // V was concluded through L1 already: no second event for it.
      expect(updatesIn(c2).map((u) => [u.channelID, u.phase])).toEqual([[l2ID, DisputePhase.CONCLUDED]]);

      const [alice, ingrid1] = await holdingsOf(f.ethHolder, l1ID, [f.alice, f.ingrid]);
      const [ingrid2, bob] = await holdingsOf(f.ethHolder, l2ID, [f.ingrid, f.bob]);
      expect(alice).toBe(7n * ETH + 1n * ETH); // L1.alice + V.alice
      expect(ingrid1).toBe(8n * ETH + 4n * ETH); // L1.ingrid + V.bob
      expect(ingrid2).toBe(7n * ETH + 1n * ETH); // L2.ingrid + V.alice
      expect(bob).toBe(8n * ETH + 4n * ETH); // L2.bob + V.bob
      expect((ingrid1 as bigint) + (ingrid2 as bigint)).toBe(20n * ETH);
    });

    it("V cannot be refuted through L2 once it was concluded through L1", async () => {
      await f.adjudicator.register(signed(l1Params, l1, [f.alice, f.ingrid]), [signed(vParams, v, vParts)]);
      await increaseTime(f.conn, CD);
      await f.adjudicator.conclude(l1Params, l1, [v]);
      const v10 = next(v, { balances: [[5n * ETH, 0n]] });
      await expectRevert(
        f.adjudicator.register(signed(l2Params, l2, [f.ingrid, f.bob]), [signed(vParams, v10, vParts)]),
        "InvalidPhase",
      );
      // With the concluded state, L2 registers and pays the same V outcome.
      await f.adjudicator.register(signed(l2Params, l2, [f.ingrid, f.bob]), [signed(vParams, v, vParts)]);
      await increaseTime(f.conn, CD);
      await f.adjudicator.conclude(l2Params, l2, [v]);
      expect(await holdingsOf(f.ethHolder, l2ID, [f.ingrid, f.bob])).toEqual([8n * ETH, 12n * ETH]);
    });

    it("parents locking different amounts for V cannot both register it (SubAllocMismatch)", async () => {
      await f.adjudicator.register(signed(l1Params, l1, [f.alice, f.ingrid]), [signed(vParams, v, vParts)]);
      const l2Less = next(l2, {
        version: l2.version,
        balances: [[8n * ETH, 8n * ETH]],
        locked: [{ ID: vID, balances: [4n * ETH], indexMap: [0, 1] }],
      });
      await expectRevert(
        f.adjudicator.register(signed(l2Params, l2Less, [f.ingrid, f.bob]), [signed(vParams, v, vParts)]),
        "SubAllocMismatch",
        [vID, 0n],
      );
    });

    it("a virtual app channel: registered through L1, won on chain by progress, L2 registers with the last V both signed; both parents pay the game's result and ingrid nets nothing", async () => {
      const appParams = makeParams(vParts, {
        challengeDuration: CD,
        ledgerChannel: false,
        virtualChannel: true,
        app: f.apps.ticTacToe,
      });
      const aID = channelId(appParams);
      const lock = { ID: aID, balances: [5n * ETH], indexMap: [0, 1] };
      const l1a = next(l1, { version: l1.version, locked: [lock] });
      const l2a = next(l2, { version: l2.version, locked: [lock] });
      // Alice (X) staked 3, Bob (O) 2; X has cells 0 and 1, O 3 and 4; Alice to move: cell 2 wins.
      const v4 = makeState(appParams, [eth], [[3n * ETH, 2n * ETH]], {
        version: 4n,
        appData: tttData(0, [1, 1, 0, 2, 2, 0, 0, 0, 0]),
      });
      await f.adjudicator.register(signed(l1Params, l1a, [f.alice, f.ingrid]), [
        signed(appParams, v4, vParts),
      ]);
      await increaseTime(f.conn, CD);
      const won = next(v4, {
        appData: tttData(1, [1, 1, 1, 2, 2, 0, 0, 0, 0]),
        balances: [[5n * ETH, 0n]],
        isFinal: true,
      });
      await f.adjudicator.progress(appParams, v4, won, 0, signState(won, signerOf(f.alice)));
      // L2 can still be registered: with V's last fully signed state (checked: signed by both) ...
      await expectRevert(
        f.adjudicator.register(signed(l2Params, l2a, [f.ingrid, f.bob]), [
          signed(appParams, v4, [f.alice, f.alice]),
        ]),
        "InvalidSignature",
        [aID, 1n],
      );
      const r2 = await f.adjudicator.register(signed(l2Params, l2a, [f.ingrid, f.bob]), [
        signed(appParams, v4, vParts),
      ]);
      // ... which leaves V's record as the chain has it: the won game.
      expect(updatesIn(r2).map((u) => u.channelID)).toEqual([l2ID]);
      expect(await f.adjudicator.dispute(aID)).toMatchObject({ version: 5n, phase: DisputePhase.FORCEEXEC });
      await increaseTime(f.conn, CD);
      await f.adjudicator.conclude(l1Params, l1a, [won]);
      await f.adjudicator.conclude(l2Params, l2a, [won]);
      const [alice, ingrid1] = await holdingsOf(f.ethHolder, l1ID, [f.alice, f.ingrid]);
      const [ingrid2, bob] = await holdingsOf(f.ethHolder, l2ID, [f.ingrid, f.bob]);
      expect([alice, ingrid1, ingrid2, bob]).toEqual([12n * ETH, 8n * ETH, 12n * ETH, 8n * ETH]);
      expect((ingrid1 as bigint) + (ingrid2 as bigint)).toBe(20n * ETH);
    });

    it("a parent registered with an older state of V than V's record: its signatures are checked, then the record stays", async () => {
      const appParams = makeParams(vParts, {
        challengeDuration: CD,
        ledgerChannel: false,
        virtualChannel: true,
        app: f.apps.ticTacToe,
      });
      const aID = channelId(appParams);
      const lock = { ID: aID, balances: [5n * ETH], indexMap: [0, 1] };
      const v3 = makeState(appParams, [eth], [[3n * ETH, 2n * ETH]], {
        version: 3n,
        appData: tttData(1, [1, 1, 0, 0, 2, 0, 0, 0, 0]),
      });
      const v4 = next(v3, { appData: tttData(0, [1, 1, 0, 2, 2, 0, 0, 0, 0]) });
      await f.adjudicator.register(
        signed(l1Params, next(l1, { version: l1.version, locked: [lock] }), [f.alice, f.ingrid]),
        [signed(appParams, v4, vParts)],
      );
      const record = await f.adjudicator.dispute(aID);
      const l2a = next(l2, { version: l2.version, locked: [lock] });
      await expectRevert(
        f.adjudicator.register(signed(l2Params, l2a, [f.ingrid, f.bob]), [
          signed(appParams, v3, [f.bob, f.bob]),
        ]),
        "InvalidSignature",
        [aID, 0n],
      );
      const r = await f.adjudicator.register(signed(l2Params, l2a, [f.ingrid, f.bob]), [
        signed(appParams, v3, vParts),
      ]);
      expect(updatesIn(r).map((u) => u.channelID)).toEqual([l2ID]);
      expect(await f.adjudicator.dispute(aID)).toEqual(record);
    });

    it("a virtual channel with locked funds reverts InvalidVirtualChannel", async () => {
      const inner = channelId(makeParams(vParts, { ledgerChannel: false }));
      const lockedV = makeState(vParams, [eth], [[1n * ETH, 3n * ETH]], {
        version: 9n,
        locked: [{ ID: inner, balances: [1n * ETH], indexMap: [0, 1] }],
      });
      await expectRevert(
        f.adjudicator.register(signed(l1Params, l1, [f.alice, f.ingrid]), [signed(vParams, lockedV, vParts)]),
        "InvalidVirtualChannel",
        [vID],
      );
    });
  });
  describe("virtual channel: a final parent that still locks V is not final", () => {
    // The layout of "virtual channel" above. Alice and ingrid hold a final L1 state that still locks V
    // (a state the policy never signs, but the contracts must not trust that). V's newest state gives
    // bob 4; its first state v0 only 2.
    let l1Params: Params;
    let l2Params: Params;
    let vParams: Params;
    let l1Final: State;
    let l2: State;
    let v0: State;
    let v: State;
    let l1ID: Hex;
    let l2ID: Hex;
    let vID: Hex;
    const vParts = (): Role[] => [f.alice, f.bob];

    beforeEach(async () => {
      l1Params = makeParams([f.alice, f.ingrid], { challengeDuration: CD });
      l2Params = makeParams([f.ingrid, f.bob], { challengeDuration: CD });
      vParams = makeParams(vParts(), { challengeDuration: CD, ledgerChannel: false, virtualChannel: true });
      [l1ID, l2ID, vID] = [channelId(l1Params), channelId(l2Params), channelId(vParams)];
      await fund(f.ethHolder, l1ID, [f.alice, f.ingrid], [10n * ETH, 10n * ETH]);
      await fund(f.ethHolder, l2ID, [f.ingrid, f.bob], [10n * ETH, 10n * ETH]);
      const lockV = { ID: vID, balances: [5n * ETH], indexMap: [0, 1] };
      l1Final = makeState(l1Params, [eth], [[7n * ETH, 8n * ETH]], {
        version: 4n,
        locked: [lockV],
        isFinal: true,
      });
      l2 = makeState(l2Params, [eth], [[7n * ETH, 8n * ETH]], { version: 6n, locked: [lockV] });
      v0 = makeState(vParams, [eth], [[3n * ETH, 2n * ETH]], { version: 0n });
      v = next(v0, { version: 9n, balances: [[1n * ETH, 4n * ETH]] });
    });

    it("register(L1 final with V locked, [V v0]) and conclude in one transaction reverts TimeoutNotPassed(L1)", async () => {
      const atOnce = await inOneTransaction(f, f.mallory);
      const l1Signed = signed(l1Params, l1Final, [f.alice, f.ingrid]);
      const err = await atOnce([
        registerCall(l1Signed, [signed(vParams, v0, vParts())]),
        concludeCall(l1Params, l1Final, [v0]),
      ]).then(
        () => undefined,
        (e: unknown) => e,
      );
      // L1 itself is not concludable (with only the sub-channel rule it would be V that stops it).
      expect(err).toMatchObject({ errorName: "TimeoutNotPassed", args: [l1ID, expect.any(BigInt)] });
      expect(await f.adjudicator.dispute(l1ID)).toBeUndefined();
    });

    it("a final L1 with V locked registers with timeout = block time + duration; bob refutes V in time and both parents pay V's newest state", async () => {
      const r = await f.adjudicator.register(signed(l1Params, l1Final, [f.alice, f.ingrid]), [
        signed(vParams, v0, vParts()),
      ]);
      const t = (await blockTime(f.conn, r)) + CD;
      expect(updatesIn(r).map((u) => [u.channelID, u.timeout])).toEqual([
        [l1ID, t],
        [vID, t],
      ]);
      await expectRevert(f.adjudicator.conclude(l1Params, l1Final, [v0]), "TimeoutNotPassed", [l1ID, t]);
      // Bob registers L2 with V's newest state: a refutation of V within its timeout.
      const r2 = await f.adjudicator.register(signed(l2Params, l2, [f.ingrid, f.bob]), [
        signed(vParams, v, vParts()),
      ]);
      expect(updatesIn(r2).map((u) => [u.channelID, u.version])).toEqual([
        [l2ID, 6n],
        [vID, 9n],
      ]);
      await increaseTime(f.conn, CD);
      await expectRevert(f.adjudicator.conclude(l1Params, l1Final, [v0]), "InvalidState", [vID]);
      await f.adjudicator.conclude(l1Params, l1Final, [v]);
      await f.adjudicator.conclude(l2Params, l2, [v]);
      expect(await holdingsOf(f.ethHolder, l1ID, [f.alice, f.ingrid])).toEqual([8n * ETH, 12n * ETH]);
      expect(await holdingsOf(f.ethHolder, l2ID, [f.ingrid, f.bob])).toEqual([8n * ETH, 12n * ETH]);
    });

    it("a final L1 without locks still registers and concludes in one transaction", async () => {
      const atOnce = await inOneTransaction(f, f.mallory);
      const fin = makeState(l1Params, [eth], [[12n * ETH, 8n * ETH]], { version: 5n, isFinal: true });
      const r = await atOnce([
        registerCall(signed(l1Params, fin, [f.alice, f.ingrid])),
        concludeCall(l1Params, fin),
      ]);
      expect(updatesIn(r).map((u) => [u.channelID, u.phase])).toEqual([
        [l1ID, DisputePhase.DISPUTE],
        [l1ID, DisputePhase.CONCLUDED],
      ]);
      expect(await holdingsOf(f.ethHolder, l1ID, [f.alice, f.ingrid])).toEqual([12n * ETH, 8n * ETH]);
    });
  });

  describe("virtual channel: a parent's conclusion waits for V's own timeout", () => {
    // L1 (alice, ingrid) has challenge duration 1 s, V (alice, bob) 60 s, L2 (ingrid, bob) 30 s. Alice
    // registers L1 with V's first state v0 (alice 3, bob 2); V's newest state v9 gives alice 1, bob 4.
    // In the reference, L1 concludes one block later and settles V at v0 there, before bob can refute.
    const L1_CD = 1n;
    const V_CD = 60n;
    const L2_CD = 30n;
    let l1Params: Params;
    let l2Params: Params;
    let vParams: Params;
    let l1: State;
    let l2: State;
    let v0: State;
    let v9: State;
    let l1ID: Hex;
    let l2ID: Hex;
    let vID: Hex;
    const vParts = (): Role[] => [f.alice, f.bob];

    beforeEach(async () => {
      l1Params = makeParams([f.alice, f.ingrid], { challengeDuration: L1_CD });
      l2Params = makeParams([f.ingrid, f.bob], { challengeDuration: L2_CD });
      vParams = makeParams(vParts(), { challengeDuration: V_CD, ledgerChannel: false, virtualChannel: true });
      [l1ID, l2ID, vID] = [channelId(l1Params), channelId(l2Params), channelId(vParams)];
      await fund(f.ethHolder, l1ID, [f.alice, f.ingrid], [10n * ETH, 10n * ETH]);
      await fund(f.ethHolder, l2ID, [f.ingrid, f.bob], [10n * ETH, 10n * ETH]);
      const lockV = { ID: vID, balances: [5n * ETH], indexMap: [0, 1] };
      l1 = makeState(l1Params, [eth], [[7n * ETH, 8n * ETH]], { version: 4n, locked: [lockV] });
      l2 = makeState(l2Params, [eth], [[7n * ETH, 8n * ETH]], { version: 6n, locked: [lockV] });
      v0 = makeState(vParams, [eth], [[3n * ETH, 2n * ETH]], { version: 0n });
      v9 = next(v0, { version: 9n, balances: [[1n * ETH, 4n * ETH]] });
    });

    it("conclude(L1) after L1's timeout reverts TimeoutNotPassed(V) until V's timeout; bob refutes V through L2 meanwhile; both parents pay v9", async () => {
      const r = await f.adjudicator.register(signed(l1Params, l1, [f.alice, f.ingrid]), [
        signed(vParams, v0, vParts()),
      ]);
      const t0 = await blockTime(f.conn, r);
      await increaseTime(f.conn, 2);
      await expectRevert(f.adjudicator.conclude(l1Params, l1, [v0]), "TimeoutNotPassed", [vID, t0 + V_CD]);
      expect((await f.adjudicator.dispute(vID))?.phase).toBe(DisputePhase.DISPUTE);

      // Bob, within V's 60 s, registers L2 with v9: V is refuted (its timeout is kept).
      await f.adjudicator.register(signed(l2Params, l2, [f.ingrid, f.bob]), [signed(vParams, v9, vParts())]);
      expect(await f.adjudicator.dispute(vID)).toMatchObject({ version: 9n, timeout: t0 + V_CD });

      await increaseTime(f.conn, V_CD);
      await expectRevert(f.adjudicator.conclude(l1Params, l1, [v0]), "InvalidState", [vID]);
      const c1 = await f.adjudicator.conclude(l1Params, l1, [v9]);
      expect(updatesIn(c1).map((u) => [u.channelID, u.version, u.phase, u.timeout])).toEqual([
        [l1ID, 4n, DisputePhase.CONCLUDED, t0 + L1_CD],
        [vID, 9n, DisputePhase.CONCLUDED, t0 + V_CD],
      ]);
      await f.adjudicator.conclude(l2Params, l2, [v9]);
      const [alice, ingrid1] = await holdingsOf(f.ethHolder, l1ID, [f.alice, f.ingrid]);
      const [ingrid2, bob] = await holdingsOf(f.ethHolder, l2ID, [f.ingrid, f.bob]);
      expect([alice, ingrid1, ingrid2, bob]).toEqual([8n * ETH, 12n * ETH, 8n * ETH, 12n * ETH]);
      // Ingrid's net position is zero; bob got V's newest 4, not v0's 2.
      expect((ingrid1 as bigint) + (ingrid2 as bigint)).toBe(20n * ETH);
    });

    it("once V is concluded through L2, L1 concludes without waiting again", async () => {
      await f.adjudicator.register(signed(l2Params, l2, [f.ingrid, f.bob]), [signed(vParams, v9, vParts())]);
      await increaseTime(f.conn, V_CD);
      await f.adjudicator.conclude(l2Params, l2, [v9]);
      // L1 registered only now, with a 1 s duration: V's record is CONCLUDED, so only L1's timeout counts.
      await f.adjudicator.register(signed(l1Params, l1, [f.alice, f.ingrid]), [
        signed(vParams, v9, vParts()),
      ]);
      await increaseTime(f.conn, L1_CD);
      const c1 = await f.adjudicator.conclude(l1Params, l1, [v9]);
      expect(updatesIn(c1).map((u) => u.channelID)).toEqual([l1ID]);
      expect(await holdingsOf(f.ethHolder, l1ID, [f.alice, f.ingrid])).toEqual([8n * ETH, 12n * ETH]);
    });
  });
});
