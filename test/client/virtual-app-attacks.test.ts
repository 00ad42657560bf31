/**
 * Attacks on virtual app channels (tic-tac-toe in V through Ingrid), real EVM, in-process wire. The
 * invariants: Ingrid nets exactly her fee whatever V's outcome and never has funds stuck; an honest
 * end gets what the game gives it; nobody's funds get stuck.
 */
import { type Abi, encodeFunctionData, parseEther } from "viem";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { devKey } from "../../src/chain/embedded.js";
import { AdjudicatorAbi, MulticallAbi, MulticallBytecode } from "../../src/chain/generated/index.js";
import { deploy, transact } from "../../src/chain/transact.js";
import type { RentalTerms } from "../../src/channel/fees.js";
import { rentalFee } from "../../src/channel/fees.js";
import { fundingId } from "../../src/channel/hash.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import { ticTacToeMove, ticTacToeStart } from "../../src/channel/tictactoe.js";
import type { Hex, Params, State } from "../../src/channel/types.js";
import { type Party, until, type World, world } from "./harness.js";
import { type HubNet, hubNetwork } from "./path-network.js";

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

const fee = rentalFee(terms, 2n * ONE, 3_600n) + 100n;

/** Alice opens a tic-tac-toe game with Bob inside V (1 ETH staked by each) through Ingrid. */
async function openGame(n: Net): Promise<Hex> {
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
  return v;
}

const paid = (p: Party, id: Hex) =>
  p.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));

/** What Ingrid withdrew from both ledger channels, minus what she put in. */
const ingridNet = (n: Net) => (paid(n.ingrid, n.l1)[0] ?? 0n) + (paid(n.ingrid, n.l2)[0] ?? 0n) - 2n * FIVE;

/**
 * Alice (dev key 1, V's player 0) and Bob (dev key 2, player 1) sign the moves `cells` from `from`
 * (alternating, Alice first when it is her turn) and send them all as `progress` calls in one
 * transaction through a contract, so that no calldata of the Adjudicator shows the states.
 */
async function hiddenProgress(params: Params, from: State, cells: readonly number[]): Promise<State> {
  const calls: Hex[] = [];
  let cur = from;
  for (const cell of cells) {
    const actor = (Number.parseInt(cur.appData.slice(2, 4), 16) === 0 ? 0 : 1) as 0 | 1;
    const next = ticTacToeMove(params, cur, actor, cell);
    const sig = signState(next, privateKeyToSigner(devKey(actor === 0 ? 1 : 2)));
    calls.push(
      encodeFunctionData({
        abi: AdjudicatorAbi as Abi,
        functionName: "progress",
        args: [params, cur, next, BigInt(actor), sig],
      }),
    );
    cur = next;
  }
  const { address } = await deploy(w.conn, devKey(2), MulticallAbi as Abi, MulticallBytecode);
  await transact(w.conn, devKey(2), {
    address,
    abi: MulticallAbi as Abi,
    functionName: "run",
    args: [w.adjudicator, calls],
  });
  return cur;
}

/**
 * Alice and Bob collude against Ingrid: Alice registers L1 (V at version 0) through her node, both go
 * silent, and after V's refutation phase they progress V by `cells` in one hidden transaction.
 * Returns once the moves are on chain; Ingrid is left alone to conclude both ledger channels.
 */
async function colludeAndHide(cells: readonly number[]): Promise<{ n: Net; v: Hex; last: State }> {
  const n = await network();
  const v = await openGame(n);
  const rec = n.alice.store.getChannel(v);
  if (!rec?.machine.current) throw new Error("Alice holds no state of V");
  const { params } = rec.machine;
  const v0 = rec.machine.current.state;
  await n.alice.client.dispute(n.l1);
  await until(() => n.alice.client.channel(v).phase === "Registered", 10_000, "V registered");
  await until(() => n.ingrid.client.channel(n.l2).phase === "Registered", 10_000, "Ingrid disputed L2");
  for (const p of [n.alice, n.bob]) {
    await p.stop();
    w.net.disconnect(p.address);
  }
  await w.advance(61);
  const last = await hiddenProgress(params, v0, cells);
  expect((await n.ingrid.chain.dispute(v))?.version).toBe(BigInt(cells.length));
  return { n, v, last };
}

describe("Alice and Bob collude against Ingrid with a virtual game", () => {
  it("they progress V by two moves in one transaction through a contract: Ingrid finds the state, concludes both ledgers and nets her fee", async () => {
    const { n } = await colludeAndHide([4, 0]);
    await w.advance(121);
    await until(
      () => paid(n.ingrid, n.l1).length === 1 && paid(n.ingrid, n.l2).length === 1,
      15_000,
      "Ingrid withdrew from both ledgers",
    );
    expect(ingridNet(n)).toBe(fee);
    // The game goes on (no winner): Alice and Bob each keep their stake, waiting for them in their ledger.
    expect(await w.ethHolder.holdings(fundingId(n.l1, n.alice.address))).toBe(FIVE - fee);
    expect(await w.ethHolder.holdings(fundingId(n.l2, n.bob.address))).toBe(FIVE);
    await n.ingrid.stop();
  });

  // Found by this review (fixed): the ends sign both sides of the game, so they could progress V by six
  // moves in one transaction through a contract. Ingrid learned a progressed state only from calldata
  // (a direct call) or by searching the app's moves, which gives up after MAX_CANDIDATES = 20,000
  // hashed states (six moves from the start: 79,209): she could conclude neither ledger channel, and her
  // funds in both were stuck for as long as Alice and Bob liked. The Adjudicator now emits every
  // progressed state (`Progressed`), which she reads from the transaction's logs however it was sent.
  it("they progress V by six moves in one transaction through a contract: Ingrid still concludes both ledgers and nets her fee", async () => {
    const { n } = await colludeAndHide([4, 0, 2, 6, 3, 5]);
    await w.advance(121);
    await until(
      () => paid(n.ingrid, n.l1).length === 1 && paid(n.ingrid, n.l2).length === 1,
      6_000,
      "Ingrid withdrew from both ledgers",
    );
    expect(ingridNet(n)).toBe(fee);
    await n.ingrid.stop();
  });
});

describe("the loser and the payment V", () => {
  it("Alice's final winning move, then Bob (the loser) registers L2 with V at an old state: L2 is refuted with its newest (V unlocked); Alice gets the pot, Ingrid nets her fee, Bob loses his stake", async () => {
    const n = await network();
    const v = await openGame(n);
    const l2rec = n.bob.store.getChannel(n.l2)?.machine; // L2 with V locked
    const vrec = n.bob.store.getChannel(v)?.machine;
    if (!l2rec?.current || !vrec?.current) throw new Error("Bob holds no states");
    const l2old = { params: l2rec.params, state: l2rec.current.state, sigs: l2rec.current.sigs as Hex[] };
    for (const [p, cell] of [
      [n.alice, 0],
      [n.bob, 4],
      [n.alice, 1],
      [n.bob, 8],
    ] as const)
      await p.client.move(v, { cell });
    const v4 = n.bob.store.getChannel(v)?.machine.current;
    if (!v4) throw new Error("no state");
    await n.alice.client.move(v, { cell: 2 }); // the top row: final, Alice takes the pot
    await until(() => n.bob.client.channel(v).version === 5n, 10_000, "Bob got the final move");
    await n.bob.stop();
    w.net.disconnect(n.bob.address);
    // Bob cheats: L2 still locking V, V at version 4 (before Alice's winning move), fully signed.
    await n.bob.chain.register(l2old, [{ params: vrec.params, state: v4.state, sigs: v4.sigs as Hex[] }]);
    // Bob's node had unlocked V from L2 on the final move: Ingrid refutes L2 with that newer state, and the
    // stale V record no parent locks any more changes nothing.
    await until(
      async () => ((await n.ingrid.chain.dispute(n.l2))?.version ?? 0n) > l2old.state.version,
      10_000,
      "Ingrid refuted L2",
    );
    await w.advance(200);
    await until(() => paid(n.ingrid, n.l2).length === 1, 20_000, "Ingrid withdrew L2");
    const l1Ingrid = paid(n.ingrid, n.l1)[0] ?? (n.ingrid.client.channel(n.l1).balances?.[0]?.[1] as bigint);
    const l1Alice = paid(n.alice, n.l1)[0] ?? (n.alice.client.channel(n.l1).balances?.[0]?.[0] as bigint);
    expect(l1Ingrid + (paid(n.ingrid, n.l2)[0] ?? 0n) - 2n * FIVE).toBe(fee);
    expect(l1Alice).toBe(FIVE - ONE - fee + 2n * ONE);
    expect(await w.ethHolder.holdings(fundingId(n.l2, n.bob.address))).toBe(FIVE - ONE);
    for (const p of [n.alice, n.ingrid]) await p.stop();
  });

  it("a payment V (no app) carrying app data is refused: nothing is locked", async () => {
    const n = await network();
    await expect(
      n.alice.client.openVirtualChannel({
        peer: n.bob.address,
        via: n.ingrid.address,
        ledger: n.l1,
        peerLedger: n.l2,
        balances: [[ONE, ONE]],
        fee: [fee],
        seconds: 3_600n,
        appData: ticTacToeStart(0),
      }),
    ).rejects.toThrow();
    expect(n.alice.client.channel(n.l1).balances).toEqual([[FIVE, FIVE]]);
    expect(n.ingrid.client.channel(n.l2).balances).toEqual([[FIVE, FIVE]]);
    for (const p of [n.alice, n.ingrid, n.bob]) await p.stop();
  });
});

describe("Alice and Bob collude against Ingrid with a payment V registered through a contract", () => {
  // Found by this review (fixed): Ingrid signs none of V's updates; when the ends registered L1 with a
  // state of V she never saw, through a contract (calldata hides it), she could not register L2 (her
  // only states of V were older: StaleVersion) nor conclude it. The Adjudicator now emits the state and
  // signatures a virtual channel is registered with (`VirtualRegistered`), which she reads from the logs.
  it("Ingrid learns V's state from the Adjudicator's event, registers L2 with it, concludes both and nets her fee", async () => {
    const n = await network();
    const v = await n.alice.client.openVirtualChannel({
      peer: n.bob.address,
      via: n.ingrid.address,
      ledger: n.l1,
      peerLedger: n.l2,
      balances: [[ONE, ONE]],
      fee: [fee],
      seconds: 3_600n,
    });
    await until(() => n.bob.client.channel(v).phase === "Acting", 10_000, "Bob funded V");
    for (let i = 0; i < 3; i++) await n.alice.client.pay(v, parseEther("0.1")); // V: Alice 0.7, Bob 1.3
    const l1 = n.alice.store.getChannel(n.l1)?.machine.current;
    const vNow = n.alice.store.getChannel(v)?.machine;
    if (!l1 || !vNow?.current) throw new Error("Alice holds no signed states");
    for (const p of [n.alice, n.bob]) {
      await p.stop();
      w.net.disconnect(p.address);
    }
    const register = encodeFunctionData({
      abi: AdjudicatorAbi as Abi,
      functionName: "register",
      args: [
        { params: n.alice.store.getChannel(n.l1)?.machine.params, state: l1.state, sigs: l1.sigs },
        [{ params: vNow.params, state: vNow.current.state, sigs: vNow.current.sigs }],
      ],
    });
    const { address } = await deploy(w.conn, devKey(2), MulticallAbi as Abi, MulticallBytecode);
    await transact(w.conn, devKey(2), {
      address,
      abi: MulticallAbi as Abi,
      functionName: "run",
      args: [w.adjudicator, [register]],
    });
    await until(
      async () => (await n.ingrid.chain.dispute(n.l2)) !== undefined,
      10_000,
      "Ingrid registered L2",
    );
    await w.advance(61);
    await until(
      () => paid(n.ingrid, n.l1).length === 1 && paid(n.ingrid, n.l2).length === 1,
      15_000,
      "Ingrid withdrew from both ledgers",
    );
    expect(ingridNet(n)).toBe(fee);
    // Bob's share of V (1.3) waits for him in L2, Alice's (0.7) in L1.
    expect(await w.ethHolder.holdings(fundingId(n.l2, n.bob.address))).toBe(FIVE - ONE + parseEther("1.3"));
    expect(await w.ethHolder.holdings(fundingId(n.l1, n.alice.address))).toBe(
      FIVE - ONE - fee + parseEther("0.7"),
    );
    await n.ingrid.stop();
  });
});
