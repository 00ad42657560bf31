/**
 * Virtual channels through one intermediary, in process (real EVM, in-process wire): Alice and Bob,
 * who share no ledger channel, open V through Ingrid with no transaction, pay each other directly
 * (Ingrid sees nothing), close V optimistically into both ledger channels, then close those on chain:
 * every payout is exact, Ingrid's included (she nets her fee, whatever V's outcome).
 */
import { parseEther } from "viem";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RentalTerms } from "../../src/channel/fees.js";
import { rentalFee } from "../../src/channel/fees.js";
import { fundingId } from "../../src/channel/hash.js";
import type { Hex } from "../../src/channel/types.js";
import type { ClientOptions } from "../../src/client/client.js";
import { UpdateRejectedError } from "../../src/client/errors.js";
import { type Party, until, type World, world } from "./harness.js";
import { hubNetwork } from "./path-network.js";

const terms: RentalTerms = { baseFee: 1_000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };
const FIVE = parseEther("5");
const ONE = parseEther("1");

let w: World;
beforeAll(async () => {
  w = await world();
});
beforeEach(() => w.resetNetwork());

const network = (aliceOptions: ClientOptions = {}, ingridOptions: ClientOptions = {}) =>
  hubNetwork(w, terms, { alice: aliceOptions, ingrid: ingridOptions });

/** Alice opens V (1 ETH each side, one hour) to Bob through Ingrid, at her terms; resolves once Bob is funded too. */
async function openV(
  n: {
    alice: Party;
    ingrid: Party;
    bob: Party;
    l1: Hex;
    l2: Hex;
  },
  seconds = 3_600n,
): Promise<{ v: Hex; fee: bigint }> {
  const fee = rentalFee(terms, 2n * ONE, seconds) + 100n;
  const v = await n.alice.client.openVirtualChannel({
    peer: n.bob.address,
    via: n.ingrid.address,
    ledger: n.l1,
    peerLedger: n.l2,
    balances: [[ONE, ONE]],
    fee: [fee],
    seconds,
  });
  await until(() => n.bob.client.channel(v).phase === "Acting", 10_000, "Bob funded V");
  return { v, fee };
}

/** What `p` withdrew from channel `id`, per asset. */
function paid(p: Party, id: Hex): bigint[] {
  return p.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));
}

describe("virtual channel through one intermediary", () => {
  it("opens with no transaction, pays directly (Ingrid not involved), closes into both ledgers; payouts exact", async () => {
    const { alice, ingrid, bob, l1, l2 } = await network();
    const fee = rentalFee(terms, 2n * ONE, 3_600n);
    const blockBefore = await w.conn.publicClient.getBlockNumber();
    const v = await alice.client.openVirtualChannel({
      peer: bob.address,
      via: ingrid.address,
      ledger: l1,
      peerLedger: l2,
      balances: [[ONE, ONE]],
      fee: [fee + 100n], // a little above the terms: the clock moves between quote and lock
      seconds: 3_600n,
    });
    await until(() => bob.client.channel(v).phase === "Acting", 10_000, "Bob funded V");
    expect(await w.conn.publicClient.getBlockNumber()).toBe(blockBefore); // no transaction
    expect(ingrid.client.channel(l1).balances).toEqual([[FIVE - ONE - fee - 100n, FIVE - ONE + fee + 100n]]);
    expect(ingrid.client.channel(l2).balances).toEqual([[FIVE - ONE, FIVE - ONE]]);

    const ingridUpdates = () => ingrid.events.filter((e) => e.type === "updated").length;
    const seen = ingridUpdates();
    for (let i = 0; i < 100; i++) await alice.client.pay(v, parseEther("0.003"));
    for (let i = 0; i < 10; i++) await bob.client.pay(v, parseEther("0.01"));
    expect(ingridUpdates()).toBe(seen); // intermediary messages per payment: 0
    expect(bob.client.channel(v).balances).toEqual([[parseEther("0.8"), parseEther("1.2")]]);

    await alice.client.settleVirtual(v);
    await until(() => bob.client.channel(v).virtual?.unlocked === true, 10_000, "Bob unlocked");
    expect(await w.conn.publicClient.getBlockNumber()).toBe(blockBefore); // closing V: no transaction either
    const aliceL1 = FIVE - ONE - fee - 100n + parseEther("0.8");
    const ingridL1 = FIVE - ONE + fee + 100n + parseEther("1.2");
    const ingridL2 = FIVE - ONE + parseEther("0.8");
    const bobL2 = FIVE - ONE + parseEther("1.2");
    expect(alice.client.channel(l1).balances).toEqual([[aliceL1, ingridL1]]);
    expect(bob.client.channel(l2).balances).toEqual([[bobL2, ingridL2]]);
    expect(ingridL1 + ingridL2 - 2n * FIVE).toBe(fee + 100n); // Ingrid nets exactly her fee

    // Close the ledger channels on chain: the payouts are the ledgers' final balances.
    await alice.client.settle(l1);
    await bob.client.settle(l2);
    await until(
      () =>
        ingrid.client.channel(l1).phase === "Withdrawn" && ingrid.client.channel(l2).phase === "Withdrawn",
      15_000,
      "Ingrid withdrew",
    );
    expect(paid(alice, l1)).toEqual([aliceL1]);
    expect(paid(ingrid, l1)).toEqual([ingridL1]);
    expect(paid(ingrid, l2)).toEqual([ingridL2]);
    expect(paid(bob, l2)).toEqual([bobL2]);
    expect(await w.ethHolder.holdings(fundingId(l1, ingrid.address))).toBe(0n);
    for (const p of [alice, ingrid, bob]) await p.stop();
  });

  it("Ingrid keeps one row per virtual channel while it lives, and none once it is unlocked from both ledgers", async () => {
    const n = await network();
    const rows = (kind: string) => n.ingrid.store.listRecords(kind).map((r) => r.id);
    const { v: v1 } = await openV(n);
    const { v: v2 } = await openV(n);
    expect(rows("virtual.context").sort()).toEqual([v1.toLowerCase(), v2.toLowerCase()].sort());
    await until(() => rows("virtual.held").length === 0, 10_000, "Ingrid's held locks answered");
    await n.alice.client.pay(v1, parseEther("0.1"));
    await n.alice.client.settleVirtual(v1);
    await until(() => n.bob.client.channel(v1).virtual?.unlocked === true, 10_000, "Bob unlocked V1");
    // V1 ended for Ingrid (unlocked in L1 and L2): its context and final state go; V2's context stays.
    await until(() => rows("virtual.context").length === 1, 10_000, "V1's context forgotten");
    expect(rows("virtual.context")).toEqual([v2.toLowerCase()]);
    expect(rows("virtual.final")).toEqual([]);
    // A restarted Ingrid reads exactly these rows back: V2 still closes through her.
    await n.ingrid.stop({ leave: true });
    const ingrid = await w.party("Ingrid", 3, {
      store: n.ingrid.store,
      options: { intermediary: { terms } },
    });
    const rowsAgain = (kind: string) => ingrid.store.listRecords(kind).map((r) => r.id);
    await until(() => ingrid.client.channel(n.l2).phase === "Acting", 10_000, "Ingrid back");
    await n.alice.client.settleVirtual(v2);
    await until(() => n.bob.client.channel(v2).virtual?.unlocked === true, 10_000, "Bob unlocked V2");
    await until(() => rowsAgain("virtual.context").length === 0, 10_000, "V2's context forgotten");
    expect(rowsAgain("virtual.final")).toEqual([]);
    for (const p of [n.alice, ingrid, n.bob]) await p.stop();
  });

  it("Ingrid refuses a fee below her terms: both locks are rejected and nothing changes", async () => {
    const { alice, ingrid, bob, l1, l2 } = await network();
    const err = await alice.client
      .openVirtualChannel({
        peer: bob.address,
        via: ingrid.address,
        ledger: l1,
        peerLedger: l2,
        balances: [[ONE, ONE]],
        fee: [1n],
        seconds: 3_600n,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpdateRejectedError);
    expect((err as Error).message).toMatch(/below our terms/);
    await until(() => ingrid.client.channel(l2).phase === "Acting");
    expect(ingrid.client.channel(l1).version).toBe(0n);
    expect(ingrid.client.channel(l2).version).toBe(0n);
    expect(alice.client.channel(l1).balances).toEqual([[FIVE, FIVE]]);
    for (const p of [alice, ingrid, bob]) await p.stop();
  });

  it("a party that is not an intermediary never locks funds for others", async () => {
    const alice = await w.party("Alice", 1);
    const bob = await w.party("Bob", 2);
    const carol = await w.party("Carol", 4); // no intermediary terms
    const l1 = await alice.client.openChannel({
      peer: carol.address,
      assets: [w.eth],
      balances: [[FIVE, FIVE]],
    });
    const l2 = await bob.client.openChannel({
      peer: carol.address,
      assets: [w.eth],
      balances: [[FIVE, FIVE]],
    });
    await until(() => carol.client.channel(l2).phase === "Acting");
    const err = await alice.client
      .openVirtualChannel({
        peer: bob.address,
        via: carol.address,
        ledger: l1,
        peerLedger: l2,
        balances: [[ONE, ONE]],
        fee: [10n ** 15n],
        seconds: 60n,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpdateRejectedError);
    expect(carol.client.channel(l1).version).toBe(0n);
    for (const p of [alice, carol, bob]) await p.stop();
  });

  it("Bob goes offline: Alice gets her money through the chain, Ingrid nets her fee, Bob's share waits for him", async () => {
    const { alice, ingrid, bob, l1, l2 } = await network();
    const { v, fee } = await openV({ alice, ingrid: ingrid, bob, l1, l2 });
    await alice.client.pay(v, parseEther("0.4")); // V: Alice 0.6, Bob 1.4
    await bob.stop();
    w.net.disconnect(bob.address);

    // Alice disputes her ledger channel with V as sub-channel; Ingrid's watcher disputes L2 too.
    await alice.client.dispute(l1);
    await until(() => ingrid.client.channel(l2).phase === "Registered", 10_000, "Ingrid disputed L2");
    await w.advance(61);
    await until(
      () => alice.client.channel(l1).phase === "Withdrawn" && ingrid.client.channel(l2).phase === "Withdrawn",
      20_000,
      "withdrawals",
    );
    const aliceL1 = FIVE - ONE - fee + parseEther("0.6");
    expect(paid(alice, l1)).toEqual([aliceL1]);
    await until(() => paid(ingrid, l1).length === 1, 10_000, "Ingrid withdrew L1");
    const ingridTotal = (paid(ingrid, l1)[0] ?? 0n) + (paid(ingrid, l2)[0] ?? 0n);
    expect(ingridTotal - 2n * FIVE).toBe(fee); // Ingrid loses nothing: she nets her fee
    expect(await w.ethHolder.holdings(fundingId(l2, bob.address))).toBe(FIVE - ONE + parseEther("1.4"));
    for (const p of [alice, ingrid]) await p.stop();
  });

  it("Alice registers an old V state: Bob's watcher refutes with the newest; everyone is paid by it", async () => {
    const { alice, ingrid, bob, l1, l2 } = await network();
    const { v, fee } = await openV({ alice, ingrid: ingrid, bob, l1, l2 });
    const v0 = alice.store.getChannel(v)!.machine;
    const l1rec = alice.store.getChannel(l1)!.machine;
    for (let i = 0; i < 5; i++) await alice.client.pay(v, parseEther("0.1")); // V: Alice 0.5, Bob 1.5
    await alice.stop();
    // Alice cheats: L1 with V at version 0 (Alice 1, Bob 1).
    await alice.chain.register(
      { params: l1rec.params, state: l1rec.current!.state, sigs: l1rec.current!.sigs as Hex[] },
      [{ params: v0.params, state: v0.current!.state, sigs: v0.current!.sigs as Hex[] }],
    );
    await until(async () => (await bob.chain.dispute(v))?.version === 5n, 10_000, "Bob refuted V");
    await w.advance(61);
    await until(() => bob.client.channel(l2).phase === "Withdrawn", 20_000, "Bob withdrew");
    expect(paid(bob, l2)).toEqual([FIVE - ONE + parseEther("1.5")]);
    await until(
      () => paid(ingrid, l1).length === 1 && paid(ingrid, l2).length === 1,
      20_000,
      "Ingrid withdrew both",
    );
    expect((paid(ingrid, l1)[0] ?? 0n) + (paid(ingrid, l2)[0] ?? 0n) - 2n * FIVE).toBe(fee);
    // Alice's share (per the newest state) waits for her on chain.
    expect(await w.ethHolder.holdings(fundingId(l1, alice.address))).toBe(
      FIVE - ONE - fee + parseEther("0.5"),
    );
    for (const p of [bob, ingrid]) await p.stop();
  });

  it("Alice and Bob collude against Ingrid (Bob unlocks with the final state, Alice registers an old one): Ingrid restarted in between refutes and nets her fee", async () => {
    const { alice, ingrid: ingrid0, bob, l1, l2 } = await network({ unlockOnFinal: false });
    const { v, fee } = await openV({ alice, ingrid: ingrid0, bob, l1, l2 });
    const v0 = alice.store.getChannel(v)!.machine;
    const l1rec = alice.store.getChannel(l1)!.machine; // L1 with V locked
    await alice.client.pay(v, parseEther("0.9")); // V: Alice 0.1, Bob 1.9
    await bob.client.settleVirtual(v); // final state; Bob unlocks L2 (Ingrid pays out V.alice = 0.1 there)
    await until(() => bob.client.channel(v).virtual?.unlocked === true, 10_000, "Bob unlocked");
    await alice.stop(); // Alice never unlocks L1 ...
    // Ingrid restarts in between: what she needs to defend herself comes back from her store.
    await ingrid0.stop();
    w.resetNetwork();
    const ingrid = await w.party("Ingrid", 3, { store: ingrid0.store, options: { intermediary: { terms } } });
    // ... and registers L1 with V at version 0 (Alice 1, Bob 1): settled so, Ingrid would get only 1 in L1.
    await alice.chain.register(
      { params: l1rec.params, state: l1rec.current!.state, sigs: l1rec.current!.sigs as Hex[] },
      [{ params: v0.params, state: v0.current!.state, sigs: v0.current!.sigs as Hex[] }],
    );
    await until(
      () => ingrid.events.some((e) => e.type === "refuted" && e.channelID === v),
      10_000,
      "Ingrid refuted V",
    );
    await until(async () => (await ingrid.chain.dispute(v))?.version === 2n, 10_000, "V final on chain");
    await w.advance(61);
    await until(() => ingrid.client.channel(l1).phase === "Withdrawn", 20_000, "Ingrid withdrew L1");
    // L1 pays Ingrid her balance + V.bob's final share; with L2 (unlocked: her balance + V.alice's) she nets the fee.
    expect(paid(ingrid, l1)).toEqual([FIVE - ONE + fee + parseEther("1.9")]);
    expect(ingrid.client.channel(l2).balances).toEqual([
      [FIVE - ONE + parseEther("1.9"), FIVE - ONE + parseEther("0.1")],
    ]);
    const ingridNet = (paid(ingrid, l1)[0] ?? 0n) + (FIVE - ONE + parseEther("0.1")) - 2n * FIVE;
    expect(ingridNet).toBe(fee);
    for (const p of [bob, ingrid]) await p.stop();
  });

  it("Ingrid goes offline: Alice and Bob each get their share of V out through their ledger channel", async () => {
    const { alice, ingrid, bob, l1, l2 } = await network();
    const { v, fee } = await openV({ alice, ingrid: ingrid, bob, l1, l2 });
    await bob.client.pay(v, parseEther("0.3")); // V: Alice 1.3, Bob 0.7
    await ingrid.stop();
    w.net.disconnect(ingrid.address);
    await alice.client.dispute(l1); // Bob's watcher sees V on chain and disputes L2 himself
    await until(() => bob.client.channel(l2).phase === "Registered", 10_000, "Bob disputed L2");
    await w.advance(61);
    await until(
      () => alice.client.channel(l1).phase === "Withdrawn" && bob.client.channel(l2).phase === "Withdrawn",
      20_000,
      "withdrawals",
    );
    expect(paid(alice, l1)).toEqual([FIVE - ONE - fee + parseEther("1.3")]);
    expect(paid(bob, l2)).toEqual([FIVE - ONE + parseEther("0.7")]);
    // Ingrid's money waits for her on chain, exactly her balances + V's shares + the fee.
    const i1 = await w.ethHolder.holdings(fundingId(l1, ingrid.address));
    const i2 = await w.ethHolder.holdings(fundingId(l2, ingrid.address));
    expect(i1 + i2 - 2n * FIVE).toBe(fee);
    for (const p of [alice, bob]) await p.stop();
  });

  it("Ingrid registers an old V state on one side: the ends refute, V settles at its newest state in both", async () => {
    const { alice, ingrid, bob, l1, l2 } = await network();
    const { v, fee } = await openV({ alice, ingrid: ingrid, bob, l1, l2 });
    const v0 = alice.store.getChannel(v)!.machine; // V at version 0, signed by both
    for (let i = 0; i < 3; i++) await alice.client.pay(v, parseEther("0.2")); // V: Alice 0.4, Bob 1.6
    const l2rec = ingrid.store.getChannel(l2)!.machine;
    await ingrid.stop();
    // Ingrid registers L2 with V at version 0 (Bob 1 instead of 1.6).
    await ingrid.chain.register(
      { params: l2rec.params, state: l2rec.current!.state, sigs: l2rec.current!.sigs as Hex[] },
      [{ params: v0.params, state: v0.current!.state, sigs: v0.current!.sigs as Hex[] }],
    );
    await until(async () => (await bob.chain.dispute(v))?.version === 3n, 10_000, "V refuted to version 3");
    // Alice disputes L1 on seeing V on chain; time may only move once both ledger channels are registered.
    await until(() => alice.client.channel(l1).phase === "Registered", 10_000, "Alice disputed L1");
    await w.advance(61);
    await until(
      () => alice.client.channel(l1).phase === "Withdrawn" && bob.client.channel(l2).phase === "Withdrawn",
      20_000,
      "withdrawals",
    );
    expect(paid(bob, l2)).toEqual([FIVE - ONE + parseEther("1.6")]);
    expect(paid(alice, l1)).toEqual([FIVE - ONE - fee + parseEther("0.4")]);
    for (const p of [alice, bob]) await p.stop();
  });
  it("V expires: Alice closes it by herself, cooperatively (both ledgers unlocked, no dispute)", async () => {
    const { alice, ingrid, bob, l1, l2 } = await network();
    const { v, fee } = await openV({ alice, ingrid, bob, l1, l2 }, 100n);
    await alice.client.pay(v, parseEther("0.4"));
    await w.advance(101);
    await until(() => bob.client.channel(v).virtual?.unlocked === true, 10_000, "Bob unlocked the expired V");
    await until(() => alice.client.channel(v).virtual?.unlocked === true, 10_000, "Alice unlocked it");
    expect(alice.client.channel(l1).balances).toEqual([
      [FIVE - fee - parseEther("0.4"), FIVE + fee + parseEther("0.4")],
    ]);
    expect(bob.client.channel(l2).balances).toEqual([[FIVE + parseEther("0.4"), FIVE - parseEther("0.4")]]);
    expect(ingrid.client.channel(l1).phase).toBe("Acting"); // no dispute
    for (const p of [alice, ingrid, bob]) await p.stop();
  });

  it("Alice and Bob stay offline past V's expiry: Ingrid closes both ledgers through the chain and nets her fee", async () => {
    const n = await network({}, { virtualExpiryGraceSeconds: 300n });
    const { alice, ingrid, bob, l1, l2 } = n;
    const { fee } = await openV(n, 100n);
    for (const p of [alice, bob]) {
      await p.stop();
      w.net.disconnect(p.address);
    }
    await w.advance(101 + 200);
    expect(ingrid.client.channel(l1).phase).toBe("Acting"); // still within her grace period
    await w.advance(100);
    await until(
      () =>
        ingrid.client.channel(l1).phase === "Registered" && ingrid.client.channel(l2).phase === "Registered",
      15_000,
      "Ingrid disputed both ledger channels",
    );
    await w.advance(61);
    await until(
      () => paid(ingrid, l1).length === 1 && paid(ingrid, l2).length === 1,
      20_000,
      "Ingrid withdrew from both",
    );
    const total = (paid(ingrid, l1)[0] ?? 0n) + (paid(ingrid, l2)[0] ?? 0n);
    expect(total - 2n * FIVE).toBe(fee);
    // The ends' shares wait for them on chain: Alice's 5 - fee in L1, Bob's 5 in L2 (V at its initial state).
    expect(await w.ethHolder.holdings(fundingId(l1, alice.address))).toBe(FIVE - fee);
    expect(await w.ethHolder.holdings(fundingId(l2, bob.address))).toBe(FIVE);
    await ingrid.stop();
  });
});
