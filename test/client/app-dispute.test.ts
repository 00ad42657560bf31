/**
 * App channels in dispute (real EVM, in-process wire): when the peer stops answering, the game goes
 * on on chain. Our node registers the newest state; once the registration stands, our moves are sent
 * with `progress`; the peer's node, back mid-dispute, follows the chain and moves there too; the
 * final state is concluded and paid out as the game says.
 */
import { type Abi, encodeFunctionData, parseEther } from "viem";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { devKey } from "../../src/chain/embedded.js";
import { AdjudicatorAbi, MulticallAbi, MulticallBytecode } from "../../src/chain/generated/index.js";
import { deploy, transact } from "../../src/chain/transact.js";
import { fundingId } from "../../src/channel/hash.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import { ticTacToeMove, ticTacToeStart } from "../../src/channel/tictactoe.js";
import type { Hex } from "../../src/channel/types.js";
import { type Party, until, type World, world } from "./harness.js";

let w: World;
beforeAll(async () => {
  w = await world();
});
beforeEach(() => w.resetNetwork());

const STAKE = parseEther("1");
const CD = 60n;

async function game(alice: Party, bob: Party): Promise<Hex> {
  const id = await alice.client.openChannel({
    peer: bob.address,
    assets: [w.eth],
    balances: [[STAKE, STAKE]],
    app: w.apps.ticTacToe,
    appData: ticTacToeStart(0),
    challengeDuration: CD,
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
const board = (p: Party, id: Hex) => (p.client.channel(id).app?.state as { board: string[] }).board;

describe("tic-tac-toe in dispute", () => {
  it("Bob stops answering on Alice's turn: she registers, wins on chain with progress, and takes the pot", async () => {
    const alice = await w.party("Alice", 1);
    let bob = await w.party("Bob", 2);
    const id = await game(alice, bob);
    await play(id, [
      [alice, 0],
      [bob, 4],
      [alice, 1],
      [bob, 8],
    ]);
    await bob.stop({ leave: true });

    await alice.client.dispute(id);
    await until(() => alice.client.channel(id).phase === "Registered", 10_000, "registered");
    // While the registration can be refuted, the game cannot move on chain.
    await expect(alice.client.move(id, { cell: 2 })).rejects.toThrow(/before the registration times out/);
    expect(alice.client.channel(id).phase).toBe("Registered");
    await w.advance(CD);
    await alice.client.move(id, { cell: 2 });
    await until(() => alice.client.channel(id).phase === "Withdrawn", 15_000, "Alice concluded and withdrew");
    expect(board(alice, id)).toEqual(["XXX", ".O.", "..O"]);
    expect(withdrawn(alice, id)).toEqual([2n * STAKE]);
    expect(alice.events.some((e) => e.type === "progressed" && e.version === 5n)).toBe(true);

    // Bob back: his node follows the chain to the end and has nothing to withdraw.
    bob = await w.party("Bob", 2, { store: bob.store });
    await until(() => bob.client.channel(id).phase === "Withdrawn", 15_000, "Bob followed the conclusion");
    expect(await w.ethHolder.holdings(fundingId(id, bob.address))).toBe(0n);
    expect(await w.ethHolder.holdings(fundingId(id, alice.address))).toBe(0n);
    await alice.stop();
    await bob.stop();
  });

  it("Mallory registers a stale position of the game: Bob's watcher refutes it, and the newest stands", async () => {
    const mallory = await w.party("Mallory", 1);
    const bob = await w.party("Bob", 2);
    const id = await game(mallory, bob);
    await mallory.client.move(id, { cell: 4 });
    const stale = mallory.store.getChannel(id)?.machine.current;
    await play(id, [
      [bob, 0],
      [mallory, 8],
      [bob, 2],
    ]);
    const params = mallory.store.getChannel(id)?.machine.params;
    await mallory.stop({ leave: true });
    // Version 1 (Mallory's centre, Bob to move), signed by both, sent to the chain by hand.
    await mallory.chain.register({ params: params!, state: stale!.state, sigs: stale!.sigs as Hex[] });
    await until(
      () => bob.events.some((e) => e.type === "refuted" && e.stale === 1n && e.ours === 4n),
      10_000,
      "Bob refutes",
    );
    await until(() => bob.client.channel(id).phase === "Registered", 10_000, "Bob's version registered");
    const onChain = await bob.chain.dispute(id);
    expect(onChain?.version).toBe(4n);
    // Mallory's turn and she is gone: after her time Bob concludes the newest state, stakes unchanged.
    await w.advance(2n * CD + 1n);
    await until(() => bob.client.channel(id).phase === "Withdrawn", 15_000, "Bob concluded and withdrew");
    expect(withdrawn(bob, id)).toEqual([STAKE]);
    expect(await w.ethHolder.holdings(fundingId(id, mallory.address))).toBe(STAKE);
    await bob.stop();
  });

  it("Mallory moves on chain through a contract (calldata hides the state): Bob's node finds the move and is not stuck", async () => {
    const mallory = await w.party("Mallory", 1);
    const bob = await w.party("Bob", 2);
    const id = await game(mallory, bob);
    await play(id, [
      [mallory, 0],
      [bob, 4],
      [mallory, 1],
      [bob, 8],
    ]);
    const rec = mallory.store.getChannel(id);
    const { params } = rec!.machine;
    const v4 = rec!.machine.current!;
    await mallory.stop({ leave: true });
    await mallory.chain.register({ params, state: v4.state, sigs: v4.sigs as Hex[] });
    await until(() => bob.client.channel(id).phase === "Registered", 10_000, "Bob sees the registration");
    await w.advance(CD);
    // Not her winning cell 2 (that would end the game): cell 5, and then she walks away.
    const v5 = ticTacToeMove(params, v4.state, 0, 5);
    const { address: multicall } = await deploy(w.conn, devKey(0), MulticallAbi as Abi, MulticallBytecode);
    const progress = encodeFunctionData({
      abi: AdjudicatorAbi as Abi,
      functionName: "progress",
      args: [params, v4.state, v5, 0n, signState(v5, privateKeyToSigner(devKey(1)))],
    });
    await transact(w.conn, devKey(1), {
      address: multicall,
      abi: MulticallAbi as Abi,
      functionName: "run",
      args: [w.adjudicator, [progress]],
    });
    await until(() => bob.client.channel(id).version === 5n, 10_000, "Bob recognises Mallory's move");
    expect(board(bob, id)).toEqual(["XX.", ".OX", "..O"]);
    // Bob's turn, on chain: he blocks nothing, he just plays; Mallory never answers, the game times out.
    await bob.client.move(id, { cell: 2 });
    await w.advance(CD + 1n);
    await until(() => bob.client.channel(id).phase === "Withdrawn", 15_000, "Bob concluded and withdrew");
    expect(withdrawn(bob, id)).toEqual([STAKE]);
    expect(await w.ethHolder.holdings(fundingId(id, mallory.address))).toBe(STAKE);
    await bob.stop();
  });

  it("Bob back mid-dispute follows the chain and plays on it: both move by progress until Bob wins", async () => {
    const alice = await w.party("Alice", 1);
    let bob = await w.party("Bob", 2);
    const id = await game(alice, bob);
    await play(id, [
      [alice, 0],
      [bob, 4],
      [alice, 1],
    ]);
    await bob.stop({ leave: true });
    await alice.client.dispute(id);
    await until(() => alice.client.channel(id).phase === "Registered", 10_000, "registered");
    await w.advance(CD);

    bob = await w.party("Bob", 2, { store: bob.store });
    await until(() => bob.client.channel(id).phase === "Registered", 10_000, "Bob sees the dispute");
    // Off-chain moves are over: each goes on chain, and the other side follows it.
    await bob.client.move(id, { cell: 2 });
    await until(() => alice.client.channel(id).version === 4n, 10_000, "Alice follows Bob's move");
    expect(board(alice, id)).toEqual(["XXO", ".O.", "..."]);
    await expect(bob.client.move(id, { cell: 6 })).rejects.toThrow(/player 0's turn/);
    await alice.client.move(id, { cell: 3 });
    await until(() => bob.client.channel(id).version === 5n, 10_000, "Bob follows Alice's move");
    await bob.client.move(id, { cell: 6 });
    await until(() => bob.client.channel(id).phase === "Withdrawn", 15_000, "Bob concluded and withdrew");
    await until(() => alice.client.channel(id).phase === "Withdrawn", 15_000, "Alice's side settled");
    expect(board(alice, id)).toEqual(["XXO", "XO.", "O.."]);
    expect(withdrawn(bob, id)).toEqual([2n * STAKE]);
    expect(withdrawn(alice, id)).toEqual([0n]);
    await alice.stop();
    await bob.stop();
  });
});
