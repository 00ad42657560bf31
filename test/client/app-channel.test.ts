/**
 * App channels through the client (real EVM, in-process wire): tic-tac-toe played move by move, the
 * winner paid the pot on chain; a draw returns the stakes; moves out of turn are refused before
 * anything is sent; a hostile peer's signed but invalid moves are refused and change nothing, and the
 * honest player still ends with what the game gives her on chain.
 */
import { parseEther } from "viem";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EthChain } from "../../src/chain/chain-port.js";
import { devKey } from "../../src/chain/embedded.js";
import { channelId, fundingId } from "../../src/channel/hash.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import {
  encodeTicTacToe,
  TicTacToeMoveError,
  ticTacToeMove,
  ticTacToeStart,
} from "../../src/channel/tictactoe.js";
import type { Hex, Params, State } from "../../src/channel/types.js";
import { NotAnAppChannelError } from "../../src/client/errors.js";
import type { WireMsg } from "../../src/wire/messages.js";
import { type Party, until, type World, world } from "./harness.js";

let w: World;
beforeAll(async () => {
  w = await world();
});
beforeEach(() => w.resetNetwork());

const STAKE = parseEther("1");

/** A tic-tac-toe channel, Alice (player 0) to move first, 1 ETH staked by each, funded. */
async function game(alice: Party, bob: Party): Promise<Hex> {
  const id = await alice.client.openChannel({
    peer: bob.address,
    assets: [w.eth],
    balances: [[STAKE, STAKE]],
    app: w.apps.ticTacToe,
    appData: ticTacToeStart(0),
  });
  await until(() => bob.client.channel(id).phase === "Acting", 5_000, "Bob sees the game funded");
  return id;
}

/** Moves in order, each once the previous one is signed: [player, cell]. */
async function play(id: Hex, moves: readonly (readonly [Party, number])[]): Promise<void> {
  for (const [p, cell] of moves) await p.client.move(id, { cell });
}

const withdrawn = (p: Party, id: Hex) =>
  p.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));

describe("tic-tac-toe in a ledger channel", () => {
  it("is played move by move; the winner's node concludes and each side withdraws what the game gave it", async () => {
    const alice = await w.party("Alice", 1);
    const bob = await w.party("Bob", 2);
    const id = await game(alice, bob);
    expect(bob.client.channel(id).app).toEqual({
      name: "tictactoe",
      address: w.apps.ticTacToe,
      state: { board: ["...", "...", "..."], nextActor: 0, winner: null, draw: false },
    });
    // Alice takes the top row; Bob (whose node refuses payments that lower his balance) signs her
    // winning move: it is what she could force on chain.
    await play(id, [
      [alice, 0],
      [bob, 4],
      [alice, 1],
      [bob, 8],
      [alice, 2],
    ]);
    expect(bob.client.channel(id).app?.state).toEqual({
      board: ["XXX", ".O.", "..O"],
      nextActor: 1,
      winner: 0,
      draw: false,
    });
    expect(bob.client.channel(id).balances).toEqual([[2n * STAKE, 0n]]);
    expect(bob.client.channel(id).phase).toBe("Final");
    await expect(bob.client.move(id, { cell: 3 })).rejects.toThrow(/Cannot|phase/);

    await alice.client.settle(id);
    await until(() => bob.client.channel(id).phase === "Withdrawn", 10_000, "Bob's side settled");
    expect(withdrawn(alice, id)).toEqual([2n * STAKE]);
    expect(withdrawn(bob, id)).toEqual([0n]);
    expect(alice.events.some((e) => e.type === "disputed")).toBe(false);
    expect(await w.ethHolder.holdings(fundingId(id, alice.address))).toBe(0n);
    await alice.stop();
    await bob.stop();
  });

  it("ends a full board as a draw with the stakes where they were", async () => {
    const alice = await w.party("Alice", 1);
    const bob = await w.party("Bob", 2);
    const id = await game(alice, bob);
    // X O X / X O O / O X X
    const order: [Party, number][] = [
      [alice, 0],
      [bob, 1],
      [alice, 2],
      [bob, 4],
      [alice, 3],
      [bob, 5],
      [alice, 7],
      [bob, 6],
      [alice, 8],
    ];
    await play(id, order);
    expect(alice.client.channel(id).app?.state).toMatchObject({ winner: null, draw: true });
    await bob.client.settle(id);
    await until(() => alice.client.channel(id).phase === "Withdrawn", 10_000, "Alice settled");
    expect(withdrawn(alice, id)).toEqual([STAKE]);
    expect(withdrawn(bob, id)).toEqual([STAKE]);
    await alice.stop();
    await bob.stop();
  });

  it("refuses a move out of turn, on a taken cell or off the board before sending anything", async () => {
    const alice = await w.party("Alice", 1);
    const bob = await w.party("Bob", 2);
    const id = await game(alice, bob);
    await expect(bob.client.move(id, { cell: 4 })).rejects.toBeInstanceOf(TicTacToeMoveError);
    await alice.client.move(id, { cell: 4 });
    await expect(alice.client.move(id, { cell: 0 })).rejects.toThrow(/player 1's turn/);
    await expect(bob.client.move(id, { cell: 4 })).rejects.toThrow(/cell 4 is taken/);
    await expect(bob.client.move(id, { cell: 9 })).rejects.toThrow(/not 0..8/);
    await expect(bob.client.move(id, { square: 1 })).rejects.toThrow(/names a cell/);
    expect(alice.client.channel(id).version).toBe(1n);
    expect(bob.client.channel(id).version).toBe(1n);
    // A payment channel takes no moves.
    const pay = await alice.client.openChannel({ peer: bob.address, assets: [w.eth], balances: [[1n, 1n]] });
    await expect(alice.client.move(pay, { cell: 0 })).rejects.toBeInstanceOf(NotAnAppChannelError);
    await alice.stop();
    await bob.stop();
  });

  it("a node that does not play the app refuses the channel", async () => {
    const alice = await w.party("Alice", 1);
    const bob = await w.party("Bob", 2, { apps: new Map() });
    await expect(
      alice.client.openChannel({
        peer: bob.address,
        assets: [w.eth],
        balances: [[STAKE, STAKE]],
        app: w.apps.ticTacToe,
        appData: ticTacToeStart(0),
      }),
    ).rejects.toThrow(/not one whose rules we have/);
    await alice.stop();
    await bob.stop();
  });

  it("Mallory's signed moves that break the rules are refused and change nothing; Bob still wins on chain", async () => {
    const bob = await w.party("Bob", 2);
    const malloryKey = devKey(9);
    const mallory = privateKeyToSigner(malloryKey);
    const net = w.net.transport(mallory);
    const inbox: WireMsg[] = [];
    net.onMessage(({ msg }) => inbox.push(msg));
    const params: Params = {
      challengeDuration: 60n,
      nonce: 4242n,
      participants: [
        { ethAddress: mallory.address, ccAddress: "0x" },
        { ethAddress: bob.address, ccAddress: "0x" },
      ],
      app: w.apps.ticTacToe,
      ledgerChannel: true,
      virtualChannel: false,
    };
    const id = channelId(params);
    const v0: State = {
      channelID: id,
      version: 0n,
      outcome: { assets: [w.eth], backends: [0n], balances: [[STAKE, STAKE]], locked: [] },
      appData: ticTacToeStart(0),
      isFinal: false,
    };
    // A game that does not start on an empty board is refused outright.
    const rigged = { ...v0, appData: encodeTicTacToe({ nextActor: 0, grid: [1, 1, 0, 0, 0, 0, 0, 0, 0] }) };
    await net.send(bob.address, {
      type: "channelProposal",
      proposalID: `0x${"12".repeat(32)}`,
      params: { ...params, nonce: 4243n },
      initial: { ...rigged, channelID: channelId({ ...params, nonce: 4243n }) },
      sig: signState({ ...rigged, channelID: channelId({ ...params, nonce: 4243n }) }, mallory),
      fundingTimeout: 600n,
    });
    await until(() => inbox.some((m) => m.type === "channelReject" || m.type === "error"), 5_000, "refusal");

    await net.send(bob.address, {
      type: "channelProposal",
      proposalID: `0x${"11".repeat(32)}`,
      params,
      initial: v0,
      sig: signState(v0, mallory),
      fundingTimeout: 600n,
    });
    await until(() => inbox.some((m) => m.type === "channelAccept"), 5_000, "accept");
    await new EthChain(w.conn, w.adjudicator, malloryKey).deposit(
      w.eth,
      fundingId(id, mallory.address),
      STAKE,
    );
    await until(() => bob.client.channel(id).phase === "Acting", 5_000, "funded");

    const errors = () => inbox.filter((m) => m.type === "error").length;
    const refused = async (state: State, reason: RegExp, from = 0) => {
      const n = errors();
      await net.send(bob.address, {
        type: "update",
        channelID: id,
        from,
        state,
        sig: signState(state, mallory),
      });
      await until(() => errors() > n, 5_000, "error reply");
      expect((inbox.filter((m) => m.type === "error").at(-1) as { reason: string }).reason).toMatch(reason);
      expect(bob.client.channel(id).version).toBe(0n);
    };
    const grid = (cells: number[]) => encodeTicTacToe({ nextActor: 1, grid: cells });
    const at = (appData: Hex, balances: bigint[][] = [[STAKE, STAKE]], isFinal = false): State => ({
      ...v0,
      version: 1n,
      appData,
      isFinal,
      outcome: { ...v0.outcome, balances },
    });
    // Three marks at once, claiming the win and the pot.
    await refused(at(grid([1, 1, 1, 0, 0, 0, 0, 0, 0]), [[2n * STAKE, 0n]], true), /exactly one cell/);
    // One mark, but the stakes move to Mallory.
    await refused(at(grid([1, 0, 0, 0, 0, 0, 0, 0, 0]), [[STAKE + 1n, STAKE - 1n]]), /stay until a win/);
    // Bob's mark placed by Mallory.
    await refused(at(grid([2, 0, 0, 0, 0, 0, 0, 0, 0])), /cannot change from 0 to 2/);
    // The turn kept.
    await refused(
      at(encodeTicTacToe({ nextActor: 0, grid: [1, 0, 0, 0, 0, 0, 0, 0, 0] })),
      /other player's turn/,
    );
    // Declared over without a line.
    await refused(at(grid([1, 0, 0, 0, 0, 0, 0, 0, 0]), [[STAKE, STAKE]], true), /goes on/);

    // The game goes on with valid moves: Mallory 0, Bob 4, Mallory 1, Bob 2, Mallory 3, Bob 6 (wins 2-4-6).
    let cur = v0;
    const malloryMoves = async (cell: number) => {
      const next = ticTacToeMove(params, cur, 0, cell);
      const n = inbox.filter((m) => m.type === "updateAccept").length;
      await net.send(bob.address, {
        type: "update",
        channelID: id,
        from: 0,
        state: next,
        sig: signState(next, mallory),
      });
      await until(() => inbox.filter((m) => m.type === "updateAccept").length > n, 5_000, "Bob signs");
      cur = next;
    };
    const bobMoves = async (cell: number) => {
      const moved = bob.client.move(id, { cell });
      await until(
        () => inbox.some((m) => m.type === "update" && m.state.version === cur.version + 1n),
        5_000,
        "Bob's move",
      );
      const u = inbox.find((m) => m.type === "update" && m.state.version === cur.version + 1n) as Extract<
        WireMsg,
        { type: "update" }
      >;
      await net.send(bob.address, {
        type: "updateAccept",
        channelID: id,
        from: 0,
        version: u.state.version,
        sig: signState(u.state, mallory),
      });
      await moved;
      cur = u.state;
    };
    await malloryMoves(0);
    await bobMoves(4);
    await malloryMoves(1);
    await bobMoves(2);
    await malloryMoves(3);
    await bobMoves(6);
    expect(bob.client.channel(id).app?.state).toMatchObject({ winner: 1 });
    expect(bob.client.channel(id).phase).toBe("Final");
    // Mallory walks away: Bob's node concludes the final state alone and withdraws the whole pot.
    await bob.client.settle(id);
    expect(withdrawn(bob, id)).toEqual([2n * STAKE]);
    expect(await w.ethHolder.holdings(fundingId(id, bob.address))).toBe(0n);
    expect(await w.ethHolder.holdings(fundingId(id, mallory.address))).toBe(0n);
    await bob.stop();
  });
});
