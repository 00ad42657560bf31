/**
 * Virtual channels over a path of three intermediaries, in process (real EVM, in-process wire):
 * Alice - I1 - I2 - I3 - Bob. V is locked in all four ledger channels with no transaction, updated by
 * Alice and Bob alone, and unlocked into all four; every intermediary nets exactly its fee. An
 * intermediary that crashes while the locks are under way leaves every honest party whole.
 */
import { parseEther } from "viem";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RentalTerms } from "../../src/channel/fees.js";
import { rentalFee } from "../../src/channel/fees.js";
import { fundingId } from "../../src/channel/hash.js";
import type { Hex } from "../../src/channel/types.js";
import { UpdateRejectedError } from "../../src/client/errors.js";
import { type Party, until, type World, world } from "./harness.js";
import { pathNetwork as makePathNetwork, type PathNet } from "./path-network.js";

const terms: RentalTerms = { baseFee: 1_000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };
const FIVE = parseEther("5");
const ONE = parseEther("1");
const FEE = rentalFee(terms, 2n * ONE, 3_600n) + 100n; // a little above: the clock moves meanwhile
/**
 * Challenge durations of Alice-I1, I1-I2, I2-I3, I3-Bob: decreasing towards Bob by the intermediaries'
 * margin (60 s), so that each can learn its right lock's fate before a dispute of its left channel ends.
 */
const DURATIONS = [180n, 120n, 60n, 60n];

let w: World;
beforeAll(async () => {
  w = await world();
});
beforeEach(() => w.resetNetwork());

const pathNetwork = (hubTerms: RentalTerms[] = [terms, terms, terms]): Promise<PathNet> =>
  makePathNetwork(w, hubTerms, DURATIONS);

function openV(n: PathNet, fees: bigint[] = [FEE, FEE, FEE]): Promise<Hex> {
  return n.alice.client.openVirtualChannel({
    peer: n.bob.address,
    via: n.hubs.map((h) => h.address),
    ledger: n.ledgers[0] as Hex,
    peerLedger: n.ledgers.slice(1),
    balances: [[ONE, ONE]],
    fee: fees.map((f) => [f]),
    seconds: 3_600n,
  });
}

/** Each member's balance summed over its ledger channels (by its own view). */
function holdings(n: PathNet): bigint[] {
  const members = [n.alice, ...n.hubs, n.bob];
  return members.map((p, i) =>
    [n.ledgers[i - 1], n.ledgers[i]]
      .filter((id): id is Hex => id !== undefined)
      .reduce((s, id) => {
        const c = p.client.channel(id);
        return s + (c.balances?.[0]?.[c.idx] ?? 0n);
      }, 0n),
  );
}

describe("virtual channel over a path of three intermediaries", () => {
  it("locks in all four ledgers with no transaction, 300 payments without the intermediaries, unlocks; each intermediary nets exactly its fee", async () => {
    const n = await pathNetwork();
    const before = holdings(n);
    const block = await w.conn.publicClient.getBlockNumber();
    const v = await openV(n);
    await until(() => n.bob.client.channel(v).phase === "Acting", 10_000, "Bob funded V");
    expect(await w.conn.publicClient.getBlockNumber()).toBe(block); // no transaction
    // Locked: every ledger channel holds V's 2 ETH; Alice paid all three fees.
    const locked = holdings(n);
    expect(locked[0]).toBe((before[0] as bigint) - ONE - 3n * FEE);
    for (const j of [0, 1, 2]) expect(locked[j + 1]).toBe((before[j + 1] as bigint) - 2n * ONE + FEE);
    expect(locked[4]).toBe((before[4] as bigint) - ONE);

    const hubUpdates = () =>
      n.hubs.reduce((s, h) => s + h.events.filter((e) => e.type === "updated").length, 0);
    const seen = hubUpdates();
    for (let i = 0; i < 200; i++) await n.alice.client.pay(v, parseEther("0.002"));
    for (let i = 0; i < 100; i++) await n.bob.client.pay(v, parseEther("0.001"));
    expect(hubUpdates()).toBe(seen); // no intermediary sees a payment
    expect(n.alice.client.channel(v).balances).toEqual([[parseEther("0.7"), parseEther("1.3")]]);

    await n.alice.client.settleVirtual(v);
    await until(() => n.bob.client.channel(v).virtual?.unlocked === true, 10_000, "Bob unlocked");
    await until(
      () =>
        n.ledgers.every(
          (id, k) =>
            ([n.alice, ...n.hubs][k] as Party).client.channel(id).balances !== null &&
            !([n.alice, ...n.hubs][k] as Party).client.channel(id).phase.startsWith("Sign"),
        ) && holdings(n).reduce((s, x) => s + x, 0n) === before.reduce((s, x) => s + x, 0n),
      10_000,
      "all four unlocked",
    );
    expect(await w.conn.publicClient.getBlockNumber()).toBe(block); // closing: no transaction either
    const after = holdings(n);
    expect(after[0]).toBe((before[0] as bigint) - parseEther("0.3") - 3n * FEE);
    for (const j of [0, 1, 2]) expect(after[j + 1]).toBe((before[j + 1] as bigint) + FEE);
    expect(after[4]).toBe((before[4] as bigint) + parseEther("0.3"));
    for (const p of [n.alice, ...n.hubs, n.bob]) await p.stop();
  });

  it("a middle intermediary whose terms are not met refuses: no ledger channel of the path keeps a lock", async () => {
    const dear = { ...terms, baseFee: parseEther("0.1") };
    const n = await pathNetwork([terms, dear, terms]);
    const before = holdings(n);
    const err = await openV(n).catch((e: unknown) => e);
    expect(err, String(err)).toBeInstanceOf(UpdateRejectedError);
    await until(
      () =>
        n.ledgers.every((id, k) => ([n.alice, ...n.hubs][k] as Party).client.channel(id).phase === "Acting"),
      10_000,
      "every ledger free again",
    );
    await until(
      () => n.bob.client.channel(n.ledgers[3] as Hex).phase === "Acting",
      10_000,
      "Bob's ledger free",
    );
    expect(holdings(n)).toEqual(before);
    // No lock anywhere. I1, whose lock towards I2 was rejected, made the rejection binding with two
    // empty updates on top of it (a stale lock of version 1 can no longer be enforced) before rejecting
    // Alice's lock.
    const versions = n.ledgers.map((id, k) => ([n.alice, ...n.hubs][k] as Party).client.channel(id).version);
    expect(versions).toEqual([0n, 2n, 0n, 0n]);
    expect((n.hubs[1] as Party).client.channel(n.ledgers[1] as Hex).version).toBe(2n);
    // The ledger channels still work.
    await n.alice.client.pay(n.ledgers[0] as Hex, 1n);
    for (const p of [n.alice, ...n.hubs, n.bob]) await p.stop();
  });

  it("I2 crashes while holding I1's lock and restarts: the path locks completely or not at all, and nobody loses", async () => {
    const n = await pathNetwork();
    const before = holdings(n);
    const i2 = n.hubs[1] as Party;
    const opening = openV(n).then(
      (v) => ({ v }),
      (err: unknown) => ({ err }),
    );
    await until(() => i2.logs.some((l) => l.includes("holding the lock from the left")), 10_000, "I2 holds");
    await i2.stop({ leave: true }); // crash: its store stays, what it held in memory is gone
    const restarted = await w.party("I2", 4, { store: i2.store, options: { intermediary: { terms } } });
    n.hubs[1] = restarted;
    const result = await opening;
    const members = [n.alice, ...n.hubs, n.bob];
    // Whatever happened, no ledger channel stays stuck and the locks are all-or-nothing.
    await until(
      () =>
        n.ledgers.every(
          (id, k) =>
            (members[k] as Party).client.channel(id).phase === "Acting" &&
            (members[k + 1] as Party).client.channel(id).phase === "Acting",
        ),
      20_000,
      "every ledger settled its proposals",
    );
    const lockedCount = n.ledgers.filter(
      (id, k) =>
        ((members[k] as Party).client.channel(id).balances?.[0]?.reduce((s, x) => s + x, 0n) ?? 0n) <
        2n * FIVE,
    ).length;
    const dump = n.ledgers.map((id, k) =>
      [members[k], members[k + 1]]
        .map((p) => {
          const c = (p as Party).client.channel(id);
          return `${c.phase} v${c.version} ${c.balances}`;
        })
        .join(" | "),
    );
    expect(
      [0, 4],
      `${JSON.stringify("v" in result ? result.v : String(result.err))}\n${dump.join("\n")}\n${(members[2] as Party).logs.join("\n")}\n--I2 old\n${i2.logs.join("\n")}`,
    ).toContain(lockedCount);
    const now = holdings(n);
    if (lockedCount === 0) {
      expect(now).toEqual(before);
    } else {
      expect("v" in result).toBe(true);
      for (const j of [0, 1, 2]) expect(now[j + 1]).toBe((before[j + 1] as bigint) - 2n * ONE + FEE);
    }
    for (const p of members) await p.stop();
  });
  it("Bob goes offline: Alice gets her money through the chain; every intermediary's watcher settles both its ledgers and nets its fee", async () => {
    const n = await pathNetwork();
    const v = await openV(n);
    await until(() => n.bob.client.channel(v).phase === "Acting", 10_000, "Bob funded V");
    await n.alice.client.pay(v, parseEther("0.4")); // V: Alice 0.6, Bob 1.4
    await n.bob.stop();
    w.net.disconnect(n.bob.address);

    // Alice disputes L0 with V as sub-channel; V on chain makes every intermediary dispute both its ledgers.
    await n.alice.client.dispute(n.ledgers[0] as Hex);
    await until(
      () => (n.hubs[2] as Party).client.channel(n.ledgers[3] as Hex).phase === "Registered",
      15_000,
      "I3 disputed its ledger with Bob",
    );
    await w.advance(181); // the longest challenge duration of the path (Alice-I1)
    const paid = (p: Party, id: Hex) =>
      p.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));
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
    expect(paid(n.alice, n.ledgers[0] as Hex)).toEqual([FIVE - ONE - 3n * FEE + parseEther("0.6")]);
    n.hubs.forEach((h, j) => {
      const total = (paid(h, n.ledgers[j] as Hex)[0] ?? 0n) + (paid(h, n.ledgers[j + 1] as Hex)[0] ?? 0n);
      expect(total - 2n * FIVE, h.name).toBe(FEE); // no intermediary loses: each nets its fee
    });
    // Bob's share waits for him on chain.
    expect(await w.ethHolder.holdings(fundingId(n.ledgers[3] as Hex, n.bob.address))).toBe(
      FIVE - ONE + parseEther("1.4"),
    );
    for (const p of [n.alice, ...n.hubs]) await p.stop();
  });
  it("I1 takes its ledger channel with I2 to the chain while I2 holds I1's lock: I2 takes hers with I3 there too, I3 enforces its lock on chain, then I2 I1's; everyone is paid exactly", async () => {
    const n = await pathNetwork();
    const [i1, i2, i3] = n.hubs as [Party, Party, Party];
    const [l0, l1, l2, l3] = n.ledgers as [Hex, Hex, Hex, Hex];
    // Bob is slow to lock: a payment from I3 waits for his decision, so that I3 holds I2's lock meanwhile.
    let openGate = () => {};
    const gate = new Promise<void>((r) => {
      openGate = r;
    });
    let deciding = false;
    n.bob.client.onUpdate(async () => {
      deciding = true;
      await gate;
      return { accept: true };
    });
    const payment = i3.client.pay(l3, 1n).catch((e: unknown) => e);
    await until(() => deciding, 5_000, "I3's payment pending at Bob");
    const opening = openV(n).then(
      (v) => ({ v }),
      (err: unknown) => ({ err: String(err) }),
    );
    await until(() => i3.client.channel(l2).phase === "Signing", 5_000, "I3 holds I2's lock");
    await i1.client.dispute(l1); // version 0 of I1-I2 on chain, without the lock I2 holds
    // I2 answers by taking I2-I3 (whose challenge duration ends first) to the chain with version 0 too.
    await until(() => i3.client.channel(l2).phase === "Registered", 5_000, "I2-I3 on chain");
    openGate();
    expect(await payment).not.toBeInstanceOf(Error);
    // Bob locks; I3 signs both of its locks and refutes I2-I3 with I2's lock, completed.
    await until(async () => (await i3.chain.dispute(l2))?.version === 1n, 10_000, "I3 enforced its lock");
    await w.advance(61); // I2-I3 concludes with the lock; I1-I2 (120 s) is still open ...
    await until(async () => (await i2.chain.dispute(l1))?.version === 1n, 10_000, "I2 enforced I1's lock");
    expect(i2.logs.some((l) => l.includes("refuting with the lock"))).toBe(true);
    // ... and every other ledger channel follows V to the chain; everyone withdraws.
    const paid = (p: Party, id: Hex) =>
      p.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));
    const members = [n.alice, ...n.hubs, n.bob];
    const everyonePaid = () =>
      n.ledgers.every(
        (id, k) =>
          paid(members[k] as Party, id).length === 1 && paid(members[k + 1] as Party, id).length === 1,
      );
    for (let round = 0; round < 8 && !everyonePaid(); round++) {
      await w.advance(61);
      await until(everyonePaid, 3_000, "withdrawals").catch(() => undefined);
    }
    expect(everyonePaid()).toBe(true);
    await opening; // Alice's call may have given up waiting; V was funded for her through the chain
    const total = (i: number) =>
      [n.ledgers[i - 1], n.ledgers[i]]
        .filter((id): id is Hex => id !== undefined)
        .reduce((s, id) => s + (paid(members[i] as Party, id)[0] ?? 0n), 0n);
    expect(total(0)).toBe(FIVE - 3n * FEE); // V at its initial state: Alice gets her 1 back, minus the fees
    for (const i of [1, 2]) expect(total(i), (members[i] as Party).name).toBe(2n * FIVE + FEE);
    expect(total(3)).toBe(2n * FIVE + FEE - 1n); // I3 also paid Bob 1 wei
    expect(total(4)).toBe(FIVE + 1n);
    void l0;
    for (const p of members) await p.stop();
  });
});
