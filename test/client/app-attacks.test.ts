import { type Abi, encodeFunctionData, parseEther } from "viem";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EthChain } from "../../src/chain/chain-port.js";
import { devKey } from "../../src/chain/embedded.js";
import { AdjudicatorAbi, MulticallAbi, MulticallBytecode } from "../../src/chain/generated/index.js";
import { deploy, transact } from "../../src/chain/transact.js";
import { channelId, fundingId } from "../../src/channel/hash.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner, type Signer } from "../../src/channel/signer.js";
import { encodeTicTacToe, ticTacToeMove, ticTacToeStart } from "../../src/channel/tictactoe.js";
import type { Address, Asset, Hex, Params, State } from "../../src/channel/types.js";
import { ZERO_ADDRESS } from "../../src/channel/types.js";
import type { WireMsg } from "../../src/wire/messages.js";
import { type Party, until, type World, world } from "./harness.js";

let w: World;
beforeAll(async () => {
  w = await world();
});
beforeEach(() => w.resetNetwork());

/** Stops parties and closes stores even when a test (an `it.fails` one above all) throws midway. */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const STAKE = parseEther("1");
const TOKENS = 10n ** 18n;
const CD = 60n;
const EMPTY = [0, 0, 0, 0, 0, 0, 0, 0, 0];

async function bobParty(opts: Parameters<World["party"]>[2] = {}): Promise<Party> {
  const bob = await w.party("Bob", 2, {
    ...opts,
    options: { peerTimeoutMs: 500, ...opts.options },
  });
  cleanups.push(() => bob.stop());
  return bob;
}

const withdrawn = (p: Party, id: Hex) =>
  p.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));
const board = (p: Party, id: Hex) => (p.client.channel(id).app?.state as { board: string[] }).board;

/** Mallory's state `s` with a backends array the Adjudicator ignores but Bob's node cannot validate. */
const oddBackends = (s: State): State => ({ ...s, outcome: { ...s.outcome, backends: [0n, 0n] } });

let nonce = 90_000n;
let proposalNo = 0;
const proposalID = (): Hex => `0x${(++proposalNo).toString(16).padStart(64, "a")}`;

interface Signed {
  readonly state: State;
  readonly sigs: readonly [Hex, Hex];
}

/** Mallory on the wire with her own key (participant 0); Bob is participant 1. */
function mallory(bob: Party, keyIndex = 9) {
  const key = devKey(keyIndex);
  const signer = privateKeyToSigner(key);
  const net = w.net.transport(signer);
  const inbox: WireMsg[] = [];
  net.onMessage(({ msg }) => inbox.push(msg));
  const chain = new EthChain(w.conn, w.adjudicator, key);
  const count = (type: WireMsg["type"]) => inbox.filter((m) => m.type === type).length;
  const paramsFor = (app: Address = w.apps.ticTacToe): Params => ({
    challengeDuration: CD,
    nonce: nonce++,
    participants: [
      { ethAddress: signer.address, ccAddress: "0x" },
      { ethAddress: bob.address, ccAddress: "0x" },
    ],
    app,
    ledgerChannel: true,
    virtualChannel: false,
  });
  /** Proposes a channel; resolves with Bob's signature, or his refusal's reason. */
  const proposeChannel = async (
    params: Params,
    initial: State,
  ): Promise<{ sig: Hex } | { refused: string }> => {
    const pid = proposalID();
    const nErr = count("error");
    await net.send(bob.address, {
      type: "channelProposal",
      proposalID: pid,
      params,
      initial,
      sig: signState(initial, signer),
      fundingTimeout: 600n,
    });
    const answer = () =>
      inbox.find((m) => (m.type === "channelAccept" || m.type === "channelReject") && m.proposalID === pid);
    await until(() => answer() !== undefined || count("error") > nErr, 5_000, "Bob's answer");
    const a = answer();
    if (a?.type === "channelAccept") return { sig: a.sig };
    if (a?.type === "channelReject") return { refused: a.reason };
    return { refused: (inbox.filter((m) => m.type === "error").at(-1) as { reason: string }).reason };
  };
  return { key, signer, net, inbox, chain, count, paramsFor, proposeChannel };
}

/**
 * A funded tic-tac-toe channel between Mallory (player 0, X, moves first) and Bob (player 1, O), each
 * staking `balances[a][p]` of asset `a`; with helpers for Mallory's side of the game.
 */
async function game(bob: Party, opts: { keyIndex?: number; assets?: Asset[]; balances?: bigint[][] } = {}) {
  const m = mallory(bob, opts.keyIndex);
  const assets = opts.assets ?? [w.eth];
  const balances = opts.balances ?? [[STAKE, STAKE]];
  const params = m.paramsFor();
  const id = channelId(params);
  const v0: State = {
    channelID: id,
    version: 0n,
    outcome: { assets, backends: assets.map(() => 0n), balances, locked: [] },
    appData: ticTacToeStart(0),
    isFinal: false,
  };
  const answer = await m.proposeChannel(params, v0);
  if (!("sig" in answer)) throw new Error(`Bob refused the game: ${answer.refused}`);
  for (const [a, asset] of assets.entries())
    await m.chain.deposit(asset, fundingId(id, m.signer.address), balances[a]?.[0] as bigint);
  await until(() => bob.client.channel(id).phase === "Acting", 10_000, "the game funded");

  let cur: Signed = { state: v0, sigs: [signState(v0, m.signer), answer.sig] };
  const history: Signed[] = [cur];
  const adopt = (s: Signed) => {
    cur = s;
    history.push(s);
  };

  /** Sends `state` as Mallory's proposal; "accepted" or the reason Bob gave for refusing it. */
  const propose = async (
    state: State,
    opts: { from?: number; by?: Signer } = {},
  ): Promise<"accepted" | string> => {
    const [nAcc, nErr, nRej] = [m.count("updateAccept"), m.count("error"), m.count("updateReject")];
    const sig = signState(state, opts.by ?? m.signer);
    await m.net.send(bob.address, { type: "update", channelID: id, from: opts.from ?? 0, state, sig });
    await until(
      () => m.count("updateAccept") > nAcc || m.count("error") > nErr || m.count("updateReject") > nRej,
      5_000,
      "Bob's answer to Mallory's proposal",
    );
    if (m.count("updateAccept") > nAcc) {
      const acc = m.inbox.filter((x) => x.type === "updateAccept").at(-1) as { sig: Hex };
      adopt({ state, sigs: [sig, acc.sig] });
      return "accepted";
    }
    const last = m.inbox.filter((x) => x.type === "error" || x.type === "updateReject").at(-1);
    return (last as { reason: string }).reason;
  };

  /** Bob's proposal of version `version` as Mallory received it. */
  const bobsProposal = async (version: bigint) => {
    await until(
      () => m.inbox.some((x) => x.type === "update" && x.state.version === version),
      5_000,
      "Bob's move",
    );
    return m.inbox.find((x) => x.type === "update" && x.state.version === version) as Extract<
      WireMsg,
      { type: "update" }
    >;
  };

  return {
    ...m,
    params,
    id,
    v0,
    history,
    get cur() {
      return cur;
    },
    propose,
    bobsProposal,
    /** Records a state both signed (a move handled by hand in the test). */
    adopt,
    /** Mallory plays `cell` off-chain; Bob signs. */
    async move(cell: number) {
      expect(await propose(ticTacToeMove(params, cur.state, 0, cell))).toBe("accepted");
    },
    /** Bob plays `cell` off-chain; Mallory signs. */
    async bobMoves(cell: number) {
      const moved = bob.client.move(id, { cell });
      const u = await bobsProposal(cur.state.version + 1n);
      const sig = signState(u.state, m.signer);
      await m.net.send(bob.address, {
        type: "updateAccept",
        channelID: id,
        from: 0,
        version: u.state.version,
        sig,
      });
      await moved;
      adopt({ state: u.state, sigs: [sig, u.sig] });
    },
    /** Bob proposes `cell`; Mallory keeps his signed state and never answers. */
    async bobMovesUnanswered(cell: number): Promise<{ state: State; sig: Hex }> {
      const moved = bob.client.move(id, { cell });
      const u = await bobsProposal(cur.state.version + 1n);
      await expect(moved).rejects.toThrow(/No answer/);
      return { state: u.state, sig: u.sig };
    },
    register: (s: Signed) => m.chain.register({ params, state: s.state, sigs: [...s.sigs] }),
    /** Adjudicator.progress from `from` to `to` by `actor`, signed by `by` (default: Mallory). */
    progress: (from: State, to: State, actor = 0, by: Signer = m.signer) =>
      m.chain.progress(params, from, to, actor, signState(to, by)),
    /** Adjudicator.progress calldata, to send through a contract. */
    progressCall: (from: State, to: State, actor: number, sig: Hex): Hex =>
      encodeFunctionData({
        abi: AdjudicatorAbi as Abi,
        functionName: "progress",
        args: [params, from, to, BigInt(actor), sig],
      }),
    conclude: (state: State) => m.chain.conclude(params, state),
    holdings: (who: Address, asset: Asset = w.eth) => m.chain.holdings(asset, fundingId(id, who)),
  };
}

/** Sends Adjudicator calls in one transaction through a contract of Mallory's (the Multicall). */
async function throughContract(key: Hex, calls: readonly Hex[]): Promise<void> {
  const { address } = await deploy(w.conn, key, MulticallAbi as Abi, MulticallBytecode);
  await transact(w.conn, key, {
    address,
    abi: MulticallAbi as Abi,
    functionName: "run",
    args: [w.adjudicator, calls],
  });
}

describe("Mallory opens a game Bob must not join", () => {
  it("refuses an unknown app, a rigged or final start, locked funds, data in a payment channel; accepts a fair one", async () => {
    const bob = await bobParty();
    const m = mallory(bob);
    const ttt = (params: Params, over: Partial<State> = {}): State => ({
      channelID: channelId(params),
      version: 0n,
      outcome: { assets: [w.eth], backends: [0n], balances: [[STAKE, STAKE]], locked: [] },
      appData: ticTacToeStart(0),
      isFinal: false,
      ...over,
    });
    const refused = async (params: Params, initial: State, reason: RegExp) => {
      const answer = await m.proposeChannel(params, initial);
      expect(answer).toEqual({ refused: expect.stringMatching(reason) });
      expect(() => bob.client.channel(channelId(params))).toThrow(/No channel/);
    };
    // An app Bob has no rules for: a random address, and a contract that is not an app (the Adjudicator).
    for (const app of ["0x000000000000000000000000000000000000dEaD", w.adjudicator] as Address[]) {
      const p = m.paramsFor(app);
      await refused(p, ttt(p), /not one whose rules we have/);
    }
    let p = m.paramsFor();
    await refused(p, ttt(p, { isFinal: true }), /final/);
    p = m.paramsFor();
    await refused(p, ttt(p, { appData: encodeTicTacToe({ nextActor: 2, grid: EMPTY }) }), /empty board/);
    p = m.paramsFor();
    await refused(p, ttt(p, { appData: `${ticTacToeStart(0)}00` }), /empty board/);
    p = m.paramsFor();
    await refused(p, ttt(p, { appData: "0x" }), /empty board/);
    p = m.paramsFor();
    await refused(p, ttt(p, { version: 1n }), /version/);
    // Bob's stake half locked in a sub-channel nobody funded.
    p = m.paramsFor();
    const lockedStart = ttt(p, {
      outcome: {
        assets: [w.eth],
        backends: [0n],
        balances: [[STAKE, STAKE / 2n]],
        locked: [{ ID: `0x${"ab".repeat(32)}`, balances: [STAKE / 2n], indexMap: [0, 1] }],
      },
    });
    await refused(p, lockedStart, /lock/);
    // The tic-tac-toe board in a payment channel (app zero).
    p = m.paramsFor(ZERO_ADDRESS);
    await refused(p, ttt(p), /no app data/);
    // Control: the fair game (Bob stakes nothing, so nothing of his is deposited) is accepted.
    p = m.paramsFor();
    const fair = ttt(p, {
      outcome: { assets: [w.eth], backends: [0n], balances: [[STAKE, 0n]], locked: [] },
    });
    expect(await m.proposeChannel(p, fair)).toHaveProperty("sig");
  });
});

describe("Mallory's signed off-chain moves", () => {
  it("two assets: moves that shift stakes, re-label assets, lock funds, skip versions, or speak for Bob are refused; a concurrent move on Bob's turn loses; a replay changes nothing; Bob wins both pots", async () => {
    const bob = await bobParty();
    // Mallory with devKey(3): she holds test tokens too.
    const g = await game(bob, {
      keyIndex: 3,
      assets: [w.eth, w.erc20],
      balances: [
        [STAKE, STAKE],
        [TOKENS, TOKENS],
      ],
    });
    const next = (cell: number) => ticTacToeMove(g.params, g.cur.state, 0, cell);
    const withOutcome = (s: State, o: Partial<State["outcome"]>): State => ({
      ...s,
      outcome: { ...s.outcome, ...o },
    });
    const refused = async (state: State, reason: RegExp, opts?: { from?: number; by?: Signer }) => {
      const v = bob.client.channel(g.id).version;
      expect(await g.propose(state, opts)).toMatch(reason);
      expect(bob.client.channel(g.id).version).toBe(v);
      expect(bob.client.channel(g.id).phase).toBe("Acting");
    };
    const m1 = next(0);
    // A mark, and the token stakes move to Mallory: the app does not allow it (gains-only is bypassed
    // for app moves, so the app rules are all that stands).
    await refused(
      withOutcome(m1, {
        balances: [
          [STAKE, STAKE],
          [2n * TOKENS, 0n],
        ],
      }),
      /stay until a win/,
    );
    // A "win" of both pots after one mark.
    await refused(
      {
        ...withOutcome(m1, {
          balances: [
            [2n * STAKE, 0n],
            [2n * TOKENS, 0n],
          ],
        }),
        isFinal: true,
      },
      /goes on|stay until a win/,
    );
    // Assets re-labelled (the two holders swapped) or backends changed, on the Adjudicator's blind side.
    await refused(withOutcome(m1, { assets: [w.erc20, w.eth] }), /asset/i);
    await refused(withOutcome(m1, { backends: [1n, 0n] }), /backend/i);
    // Three backends for two assets: the wire codec drops it unanswered (the next refusal, delivered
    // in order after it, proves it was handled), and Bob signs nothing.
    const accepts = g.count("updateAccept");
    const badShape = withOutcome(m1, { backends: [0n, 0n, 0n] });
    await g.net.send(bob.address, {
      type: "update",
      channelID: g.id,
      from: 0,
      state: badShape,
      sig: signState(badShape, g.signer),
    });
    // Part of Mallory's ETH stake moved into a sub-channel lock along with her mark.
    await refused(
      withOutcome(m1, {
        balances: [
          [STAKE - 1n, STAKE],
          [TOKENS, TOKENS],
        ],
        locked: [{ ID: `0x${"cd".repeat(32)}`, balances: [1n, 0n], indexMap: [0, 1] }],
      }),
      /stay until a win|lock/,
    );
    // A version skipped, a mark by Bob's index, a proposal claiming to be from Bob, a forged signature.
    await refused({ ...m1, version: 2n }, /[Vv]ersion/);
    expect(g.count("updateAccept")).toBe(accepts);
    await refused(
      { ...m1, appData: encodeTicTacToe({ nextActor: 0, grid: [2, 0, 0, 0, 0, 0, 0, 0, 0] }) },
      /turn|cannot change/,
    );
    await refused(m1, /another participant|SENDER/, { from: 1 });
    await refused(m1, /another participant|SENDER/, { from: 2 });
    // Balance rows for a third participant.
    await refused(
      withOutcome(m1, {
        balances: [
          [STAKE, STAKE, 0n],
          [TOKENS, TOKENS, 0n],
        ],
      }),
      /balances/,
    );
    await refused(m1, /not from/, { by: privateKeyToSigner(devKey(8)) });

    await g.move(0);
    // The same move again: Bob signed it already; he re-sends it (sync), signs nothing new.
    const nSync = g.count("sync");
    await g.net.send(bob.address, {
      type: "update",
      channelID: g.id,
      from: 0,
      state: g.cur.state,
      sig: g.cur.sigs[0],
    });
    await until(() => g.count("sync") > nSync, 5_000, "Bob's sync");
    expect(bob.client.channel(g.id).version).toBe(1n);
    // An old version with another mark (a replay of a move Mallory might have made instead).
    await refused(ticTacToeMove(g.params, g.v0, 0, 8), /[Vv]ersion/);

    // Bob moves; Mallory answers with her own move at the same version (she would win the tie-break
    // as participant 0): it is not her turn, so Bob keeps his proposal and she ends up signing it.
    const moved = bob.client.move(g.id, { cell: 4 });
    const u = await g.bobsProposal(2n);
    const concurrent: State = {
      ...g.cur.state,
      version: 2n,
      appData: encodeTicTacToe({ nextActor: 1, grid: [1, 0, 0, 0, 0, 0, 0, 0, 1] }),
    };
    const nErr = g.count("error");
    await g.net.send(bob.address, {
      type: "update",
      channelID: g.id,
      from: 0,
      state: concurrent,
      sig: signState(concurrent, g.signer),
    });
    await until(() => g.count("error") > nErr, 5_000, "refusal of the concurrent move");
    expect(bob.client.channel(g.id).phase).toBe("Signing");
    const accept = signState(u.state, g.signer);
    await g.net.send(bob.address, {
      type: "updateAccept",
      channelID: g.id,
      from: 0,
      version: 2n,
      sig: accept,
    });
    await moved;
    g.adopt({ state: u.state, sigs: [accept, u.sig] });
    expect(board(bob, g.id)).toEqual(["X..", ".O.", "..."]);

    await g.move(1);
    await g.bobMoves(2);
    await g.move(3);
    await g.bobMoves(6); // 2-4-6
    expect(bob.client.channel(g.id).phase).toBe("Final");
    expect(bob.client.channel(g.id).balances).toEqual([
      [0n, 2n * STAKE],
      [0n, 2n * TOKENS],
    ]);
    await bob.client.settle(g.id);
    expect(withdrawn(bob, g.id)).toEqual([2n * STAKE, 2n * TOKENS]);
  });
});

describe("Mallory on chain", () => {
  it("a stale registration is refuted; progress too early, from the stale state, with invalid moves or after her time is refused; Bob concludes", async () => {
    const bob = await bobParty();
    const g = await game(bob);
    await g.move(0);
    await g.bobMoves(4);
    const stale = g.cur; // v2
    await g.move(1);
    await g.bobMoves(2); // v4: X 0,1  O 2,4; Mallory's turn, she must block 6
    const v4 = g.cur.state;

    await g.register(stale);
    await until(
      () => bob.events.some((e) => e.type === "refuted" && e.stale === 2n && e.ours === 4n),
      10_000,
      "Bob refutes",
    );
    await until(async () => (await g.chain.dispute(g.id))?.version === 4n, 10_000, "v4 on chain");
    const block6 = ticTacToeMove(g.params, v4, 0, 6);
    await expect(g.progress(v4, block6)).rejects.toThrow(/TimeoutNotPassed/);
    await expect(g.conclude(v4)).rejects.toThrow(/TimeoutNotPassed/);

    await w.advance(CD);
    const withData = (cells: number[], over: Partial<State> = {}): State => ({
      ...block6,
      appData: encodeTicTacToe({ nextActor: 1, grid: cells }),
      ...over,
    });
    const twoPots = { ...block6.outcome, balances: [[2n * STAKE, 0n]] };
    // From the refuted state.
    await expect(g.progress(stale.state, ticTacToeMove(g.params, stale.state, 0, 8))).rejects.toThrow(
      /InvalidOldState/,
    );
    // Two marks at once, a line and the pot.
    await expect(
      g.progress(v4, withData([1, 1, 2, 1, 2, 0, 1, 0, 0], { isFinal: true, outcome: twoPots })),
    ).rejects.toThrow(/InvalidMove/);
    // An odd byte in a cell, a cell rewritten, the turn kept, a 10th cell.
    await expect(g.progress(v4, withData([1, 1, 2, 0, 2, 0, 3, 0, 0]))).rejects.toThrow(/InvalidMove/);
    await expect(g.progress(v4, withData([1, 1, 1, 0, 2, 0, 0, 0, 0]))).rejects.toThrow(/InvalidMove/);
    await expect(
      g.progress(v4, {
        ...block6,
        appData: encodeTicTacToe({ nextActor: 0, grid: [1, 1, 2, 0, 2, 0, 1, 0, 0] }),
      }),
    ).rejects.toThrow(/InvalidAppData/);
    await expect(g.progress(v4, { ...block6, appData: `${block6.appData}00` })).rejects.toThrow(
      /InvalidAppData/,
    );
    // The stakes moved without a win; a final state without a line.
    await expect(
      g.progress(v4, { ...block6, outcome: { ...block6.outcome, balances: [[STAKE + 1n, STAKE - 1n]] } }),
    ).rejects.toThrow(/InvalidBalances/);
    await expect(g.progress(v4, { ...block6, isFinal: true })).rejects.toThrow(/InvalidFinality/);
    // Funds locked away, the asset sums changed, a balance for a third participant.
    await expect(
      g.progress(v4, {
        ...block6,
        outcome: {
          ...block6.outcome,
          balances: [[STAKE - 1n, STAKE]],
          locked: [{ ID: `0x${"ef".repeat(32)}`, balances: [1n], indexMap: [0, 1] }],
        },
      }),
    ).rejects.toThrow(/AllocationMismatch/);
    await expect(
      g.progress(v4, { ...block6, outcome: { ...block6.outcome, balances: [[2n * STAKE, STAKE]] } }),
    ).rejects.toThrow(/BalanceSumMismatch/);
    await expect(
      g.progress(v4, { ...block6, outcome: { ...block6.outcome, balances: [[STAKE, STAKE, 0n]] } }),
    ).rejects.toThrow(/InvalidAllocationShape/);
    // Bob's move made and signed by Mallory; an actor who does not exist; a version skipped.
    const asBob = {
      ...block6,
      appData: encodeTicTacToe({ nextActor: 0, grid: [1, 1, 2, 0, 2, 0, 2, 0, 0] }),
    };
    await expect(g.progress(v4, asBob, 1)).rejects.toThrow(/InvalidSignature/);
    await expect(g.progress(v4, block6, 2)).rejects.toThrow(/ActorIdxOutOfRange/);
    await expect(g.progress(v4, { ...block6, version: 6n })).rejects.toThrow(/InvalidVersion/);
    expect(bob.client.channel(g.id)).toMatchObject({ phase: "Registered", version: 4n });

    // Her valid block; Bob follows it, blocks her line 0-3-6 on chain and threatens 3-4-5.
    await g.progress(v4, block6);
    await until(() => bob.client.channel(g.id).version === 5n, 10_000, "Bob follows Mallory's move");
    await bob.client.move(g.id, { cell: 3 });
    await until(() => bob.client.channel(g.id).version === 6n, 10_000, "Bob's move on chain");
    const v6 = ticTacToeMove(g.params, block6, 1, 3);
    await expect(g.conclude(v6)).rejects.toThrow(/TimeoutNotPassed/);
    // Her time runs out; her block of 5 comes too late. Bob concludes: the stakes stay.
    await w.advance(CD + 1n);
    await expect(g.progress(v6, ticTacToeMove(g.params, v6, 0, 5))).rejects.toThrow(/TimeoutPassed/);
    await until(() => bob.client.channel(g.id).phase === "Withdrawn", 10_000, "Bob concluded and withdrew");
    expect(board(bob, g.id)).toEqual(["XXO", "OO.", "X.."]);
    expect(withdrawn(bob, g.id)).toEqual([STAKE]);
    expect(await g.holdings(g.signer.address)).toBe(STAKE);
  });

  it("Mallory goes silent when Bob proposes his winning move: Bob disputes, wins on chain with progress and takes the pot", async () => {
    const bob = await bobParty();
    const g = await game(bob);
    await g.move(0);
    await g.bobMoves(4);
    await g.move(1);
    await g.bobMoves(2);
    await g.move(3); // X 0,1,3  O 2,4: Bob wins with 6 (2-4-6), which also blocks 0-3-6
    const v5 = g.cur;
    const win = await g.bobMovesUnanswered(6);
    expect(win.state.isFinal).toBe(true);
    await bob.client.dispute(g.id);
    await until(() => bob.client.channel(g.id).phase === "Registered", 10_000, "registered");
    // Nothing newer to refute with; her own move on Bob's turn is refused on chain.
    await expect(g.register(v5)).resolves.toBeUndefined(); // the same state: a no-op
    await w.advance(CD);
    const hers: State = {
      ...v5.state,
      version: 6n,
      appData: encodeTicTacToe({ nextActor: 1, grid: [1, 1, 2, 1, 2, 0, 1, 0, 0] }),
    };
    await expect(g.progress(v5.state, hers)).rejects.toThrow(/NotYourTurn/);
    await bob.client.move(g.id, { cell: 6 });
    await until(() => bob.client.channel(g.id).phase === "Withdrawn", 10_000, "Bob concluded and withdrew");
    expect(withdrawn(bob, g.id)).toEqual([2n * STAKE]);
    expect(await g.holdings(g.signer.address)).toBe(0n);
  });

  it("Mallory lost off-chain and registers the position before her loss: Bob refutes with the final state and takes the pot", async () => {
    const bob = await bobParty();
    const g = await game(bob);
    await g.move(0);
    await g.bobMoves(4);
    await g.move(1);
    await g.bobMoves(2);
    await g.move(3);
    const beforeLoss = g.cur; // v5, Bob to move: he wins with 6
    await g.bobMoves(6);
    expect(bob.client.channel(g.id).phase).toBe("Final");
    await g.register(beforeLoss);
    await until(
      () => bob.events.some((e) => e.type === "refuted" && e.stale === 5n && e.ours === 6n),
      10_000,
      "Bob refutes with the final state",
    );
    await until(async () => (await g.chain.dispute(g.id))?.version === 6n, 10_000, "v6 on chain");
    await w.advance(CD);
    // Nothing moves on from a final state, and nothing older comes back.
    await expect(g.progress(g.cur.state, { ...g.cur.state, version: 7n })).rejects.toThrow(
      /ProgressFromFinal/,
    );
    await expect(g.register(beforeLoss)).rejects.toThrow(/StaleVersion/);
    await w.advance(CD + 1n);
    await until(() => bob.client.channel(g.id).phase === "Withdrawn", 10_000, "Bob concluded and withdrew");
    expect(withdrawn(bob, g.id)).toEqual([2n * STAKE]);
    expect(await g.holdings(g.signer.address)).toBe(0n);
  });

  it("Mallory plays Bob's unanswered signed move on chain herself: Bob's own move fails, his node follows, concludes, keeps his stake", async () => {
    const bob = await bobParty();
    const g = await game(bob);
    await g.move(0);
    await g.bobMoves(4);
    await g.move(1); // v3: Bob's turn, he must block 2
    const v3 = g.cur;
    const block = await g.bobMovesUnanswered(2);
    await g.register(v3);
    await until(() => bob.client.channel(g.id).phase === "Registered", 10_000, "Bob sees the registration");
    await w.advance(CD);
    await g.chain.progress(g.params, v3.state, block.state, 1, block.sig);
    // Bob, not knowing yet, plays another cell on chain: refused by the chain or by his node (not his turn).
    await expect(bob.client.move(g.id, { cell: 8 })).rejects.toThrow();
    await until(() => bob.client.channel(g.id).version === 4n, 10_000, "Bob follows his own move");
    expect(board(bob, g.id)).toEqual(["XXO", ".O.", "..."]);
    await w.advance(CD + 1n);
    await until(() => bob.client.channel(g.id).phase === "Withdrawn", 10_000, "Bob concluded and withdrew");
    expect(withdrawn(bob, g.id)).toEqual([STAKE]);
  });

  it("Mallory's move through a contract that Bob cannot read: when she concludes, Bob still withdraws his stake", async () => {
    const bob = await bobParty();
    const g = await game(bob);
    await g.move(1);
    await g.bobMoves(0);
    await g.move(3);
    await g.bobMoves(4); // v4: O threatens 8; Mallory blocks it
    const v4 = g.cur.state;
    await g.register(g.cur);
    await until(() => bob.client.channel(g.id).phase === "Registered", 10_000, "Bob sees the registration");
    await w.advance(CD);
    const v5 = ticTacToeMove(g.params, v4, 0, 8);
    await throughContract(g.key, [g.progressCall(v4, v5, 0, signState(v5, g.signer))]);
    await w.advance(CD + 1n);
    await g.conclude(v5);
    await until(() => bob.client.channel(g.id).phase === "Withdrawn", 10_000, "Bob withdrew");
    expect(withdrawn(bob, g.id)).toEqual([STAKE]);
    expect(await g.holdings(bob.address)).toBe(0n);
  });
});

describe("moves on chain that Bob's node could not use (found by this review, fixed)", () => {
  /**
   * The Adjudicator's progress used to check assets, locked funds and balances but not
   * `outcome.backends` (TicTacToeApp ignores them too): Mallory's move with two backends for one asset
   * landed, Bob's node adopted it, could answer none of her moves (his replies failed validation) and,
   * after a restart, could not even load its store. Now the contract refuses such a move
   * (AllocationMismatch, directly or through a contract), and a node adopts a state read from the chain
   * only if it is a valid move by its own rules (src/channel/app-progress.ts).
   */
  it("a move that changes the backends is refused on chain, directly or through a contract; Bob concludes and keeps his stake", async () => {
    const bob = await bobParty();
    const g = await game(bob);
    await g.move(1);
    await g.bobMoves(0);
    await g.move(3);
    await g.bobMoves(4); // v4: O threatens 8
    const v4 = g.cur.state;
    await g.register(g.cur);
    await until(() => bob.client.channel(g.id).phase === "Registered", 10_000, "Bob sees the registration");
    await w.advance(CD);
    const odd = oddBackends(ticTacToeMove(g.params, v4, 0, 5));
    await expect(g.progress(v4, odd)).rejects.toThrow(/AllocationMismatch/);
    await expect(
      throughContract(g.key, [g.progressCall(v4, odd, 0, signState(odd, g.signer))]),
    ).rejects.toThrow(/AllocationMismatch/);
    expect(bob.client.channel(g.id).version).toBe(4n);
    // Mallory's turn and she makes no valid move: after her time Bob concludes v4, stakes unchanged.
    await w.advance(CD + 1n);
    await until(() => bob.client.channel(g.id).phase === "Withdrawn", 10_000, "Bob concluded and withdrew");
    expect(withdrawn(bob, g.id)).toEqual([STAKE]);
  });

  /**
   * Mallory keeps Bob's signature on a move he proposed and she never answered, and sends two
   * progresses in one transaction through a contract: Bob's own move, then hers. Bob's node used to
   * look only one move ahead of its state and only at the version of each event, so both moves were
   * "unreadable" and Bob could neither move nor conclude: only Mallory could, whenever she liked. Now
   * it searches the app's moves up to the version the chain holds and matches its recorded hash.
   */
  it("Mallory sends Bob's unanswered move and her reply in one transaction through a contract: Bob follows and gets his stake out", async () => {
    const bob = await bobParty();
    const g = await game(bob);
    await g.move(0);
    await g.bobMoves(4);
    await g.move(1); // v3: Bob's turn
    const v3 = g.cur;
    const block = await g.bobMovesUnanswered(2); // v4, signed by Bob only
    await g.register(v3);
    await until(() => bob.client.channel(g.id).phase === "Registered", 10_000, "Bob sees the registration");
    await w.advance(CD);
    const v5 = ticTacToeMove(g.params, block.state, 0, 6); // blocks 2-4-6
    await throughContract(g.key, [
      g.progressCall(v3.state, block.state, 1, block.sig),
      g.progressCall(block.state, v5, 0, signState(v5, g.signer)),
    ]);
    await until(() => bob.client.channel(g.id).version === 5n, 10_000, "Bob recognises both moves");
    expect(board(bob, g.id)).toEqual(["XXO", ".O.", "X.."]);
    await w.advance(CD + 1n);
    await until(() => bob.client.channel(g.id).phase === "Withdrawn", 10_000, "Bob concluded and withdrew");
    expect(withdrawn(bob, g.id)).toEqual([STAKE]);
  });
});
