/**
 * Virtual state channels (Foundations of State Channel Networks): tic-tac-toe inside a virtual channel
 * through Ingrid (real EVM, in-process wire). The game is played directly between Alice and Bob, with
 * no transaction and nothing seen by Ingrid; it ends in both ledger channels as the game says. When
 * Bob walks away mid-game, Alice disputes through her ledger channel, wins V on chain with `progress`,
 * and both parents are concluded with V's final state: Alice gets the pot, Ingrid nets exactly her fee.
 */
import { parseEther } from "viem";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RentalTerms } from "../../src/channel/fees.js";
import { rentalFee } from "../../src/channel/fees.js";
import { fundingId } from "../../src/channel/hash.js";
import { ticTacToeStart } from "../../src/channel/tictactoe.js";
import type { Hex } from "../../src/channel/types.js";
import { type Party, until, type World, world } from "./harness.js";
import { type HubNet, hubNetwork, pathNetwork } from "./path-network.js";

const terms: RentalTerms = { baseFee: 1_000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };
const FIVE = parseEther("5");
const ONE = parseEther("1");

let w: World;
beforeAll(async () => {
  w = await world();
});
beforeEach(() => w.resetNetwork());

type Net = HubNet;

const network = (): Promise<Net> => hubNetwork(w, terms);

/** Alice opens a tic-tac-toe game with Bob inside V (1 ETH staked by each) through Ingrid. */
async function openGame(n: Net): Promise<{ v: Hex; fee: bigint }> {
  const fee = rentalFee(terms, 2n * ONE, 3_600n) + 100n;
  const v = await n.alice.client.openVirtualChannel({
    peer: n.bob.address,
    via: n.ingrid.address,
    ledger: n.l1,
    peerLedger: n.l2,
    balances: [[ONE, ONE]],
    fee: [fee],
    seconds: 3_600n,
    app: w.apps.ticTacToe,
    appData: ticTacToeStart(0),
  });
  await until(() => n.bob.client.channel(v).phase === "Acting", 10_000, "Bob funded V");
  return { v, fee };
}

async function play(id: Hex, moves: readonly (readonly [Party, number])[]): Promise<void> {
  for (const [p, cell] of moves) await p.client.move(id, { cell });
}

const paid = (p: Party, id: Hex) =>
  p.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));

describe("tic-tac-toe in a virtual channel", () => {
  it("is played directly between the ends (Ingrid sees no move) and ends in both ledgers as the game says", async () => {
    const n = await network();
    const { v, fee } = await openGame(n);
    const block = await w.conn.publicClient.getBlockNumber();
    const ingridUpdates = () => n.ingrid.events.filter((e) => e.type === "updated").length;
    const seen = ingridUpdates();
    await play(v, [
      [n.alice, 4],
      [n.bob, 0],
      [n.alice, 2],
      [n.bob, 6],
      [n.alice, 3],
      [n.bob, 5],
      [n.alice, 1],
      [n.bob, 7],
      [n.alice, 8],
    ]);
    expect(ingridUpdates()).toBe(seen);
    expect(n.bob.client.channel(v).app?.state).toMatchObject({ winner: null, draw: true });
    // A draw: the stakes go back; V is unlocked into both ledgers with no transaction.
    await n.alice.client.settleVirtual(v);
    await until(() => n.bob.client.channel(v).virtual?.unlocked === true, 10_000, "Bob unlocked");
    expect(await w.conn.publicClient.getBlockNumber()).toBe(block);
    expect(n.ingrid.client.channel(n.l1).balances).toEqual([[FIVE - fee, FIVE + fee]]);
    expect(n.ingrid.client.channel(n.l2).balances).toEqual([[FIVE, FIVE]]);
    for (const p of [n.alice, n.ingrid, n.bob]) await p.stop();
  });

  it("Bob walks away on Alice's turn: she disputes, wins V on chain, both parents pay the game's result; Ingrid nets her fee", async () => {
    const n = await network();
    const { v, fee } = await openGame(n);
    await play(v, [
      [n.alice, 0],
      [n.bob, 4],
      [n.alice, 1],
      [n.bob, 8],
    ]);
    await n.bob.stop();
    w.net.disconnect(n.bob.address);

    // Alice disputes her ledger channel with V as sub-channel; Ingrid's watcher drags L2 along.
    await n.alice.client.dispute(n.l1);
    await until(() => n.alice.client.channel(v).phase === "Registered", 10_000, "V registered");
    await until(() => n.ingrid.client.channel(n.l2).phase === "Registered", 10_000, "Ingrid disputed L2");
    await w.advance(61);
    await n.alice.client.move(v, { cell: 2 }); // on chain: the top row
    expect(n.alice.client.channel(v).app?.state).toMatchObject({ winner: 0 });
    await w.advance(61);
    await until(
      () =>
        n.alice.client.channel(n.l1).phase === "Withdrawn" &&
        n.ingrid.client.channel(n.l2).phase === "Withdrawn",
      20_000,
      "both parents concluded",
    );
    // Alice: her ledger share plus the whole pot of V.
    expect(paid(n.alice, n.l1)).toEqual([FIVE - ONE - fee + 2n * ONE]);
    await until(() => paid(n.ingrid, n.l1).length === 1, 10_000, "Ingrid withdrew L1");
    const ingridTotal = (paid(n.ingrid, n.l1)[0] ?? 0n) + (paid(n.ingrid, n.l2)[0] ?? 0n);
    expect(ingridTotal - 2n * FIVE).toBe(fee);
    // Bob lost his stake; the rest of his ledger channel waits for him.
    expect(await w.ethHolder.holdings(fundingId(n.l2, n.bob.address))).toBe(FIVE - ONE);
    for (const p of [n.alice, n.ingrid]) await p.stop();
  });

  it("over three intermediaries: played directly, Bob walks away, Alice wins on chain; every intermediary nets exactly its fee", async () => {
    const n = await pathNetwork(w, [terms, terms, terms], [180n, 120n, 60n, 60n]);
    const fee = rentalFee(terms, 2n * ONE, 3_600n) + 100n;
    const v = await n.alice.client.openVirtualChannel({
      peer: n.bob.address,
      via: n.hubs.map((h) => h.address),
      ledger: n.ledgers[0] as Hex,
      peerLedger: n.ledgers.slice(1),
      balances: [[ONE, ONE]],
      fee: n.hubs.map(() => [fee]),
      seconds: 3_600n,
      app: w.apps.ticTacToe,
      appData: ticTacToeStart(0),
    });
    await until(() => n.bob.client.channel(v).phase === "Acting", 10_000, "Bob funded V");
    const hubUpdates = () =>
      n.hubs.reduce((c, h) => c + h.events.filter((e) => e.type === "updated").length, 0);
    const seen = hubUpdates();
    await play(v, [
      [n.alice, 0],
      [n.bob, 4],
      [n.alice, 1],
      [n.bob, 8],
    ]);
    expect(hubUpdates()).toBe(seen);
    await n.bob.stop();
    w.net.disconnect(n.bob.address);

    await n.alice.client.dispute(n.ledgers[0] as Hex);
    await until(() => n.alice.client.channel(v).phase === "Registered", 10_000, "V registered");
    await until(
      () => (n.hubs[2] as Party).client.channel(n.ledgers[3] as Hex).phase === "Registered",
      15_000,
      "I3 disputed its ledger with Bob",
    );
    await w.advance(61);
    await n.alice.client.move(v, { cell: 2 }); // on chain: the top row
    await w.advance(121); // past the longest challenge duration of the path (Alice-I1, 180 s)
    await until(
      () =>
        paid(n.alice, n.ledgers[0] as Hex).length === 1 &&
        n.hubs.every(
          (h, j) =>
            paid(h, n.ledgers[j] as Hex).length === 1 && paid(h, n.ledgers[j + 1] as Hex).length === 1,
        ),
      30_000,
      "Alice and every intermediary withdrew",
    );
    expect(paid(n.alice, n.ledgers[0] as Hex)).toEqual([FIVE - ONE - 3n * fee + 2n * ONE]);
    n.hubs.forEach((h, j) => {
      const total = (paid(h, n.ledgers[j] as Hex)[0] ?? 0n) + (paid(h, n.ledgers[j + 1] as Hex)[0] ?? 0n);
      expect(total - 2n * FIVE, h.name).toBe(fee);
    });
    expect(await w.ethHolder.holdings(fundingId(n.ledgers[3] as Hex, n.bob.address))).toBe(FIVE - ONE);
    for (const p of [n.alice, ...n.hubs]) await p.stop();
  });

  it("an intermediary that does not play the app refuses to lock it (she could not follow the game to conclude her channels)", async () => {
    const { alice, ingrid, bob, l1, l2 } = await hubNetwork(w, terms, { ingridApps: new Map() });
    await expect(openGame({ alice, ingrid, bob, l1, l2 })).rejects.toThrow(/not one whose rules we have|app/);
    expect(alice.client.channel(l1).balances).toEqual([[FIVE, FIVE]]);
    expect(ingrid.client.channel(l2).balances).toEqual([[FIVE, FIVE]]);
    for (const p of [alice, ingrid, bob]) await p.stop();
  });
});
