/**
 * Ledger channels through the client, in process (real EVM, in-process wire,
 * in-memory stores): open, pay, close cooperatively or by dispute; concurrent
 * updates; a stale registration refuted by the watcher; funding timeout.
 */
import { parseEther } from "viem";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ChainPort } from "../../src/chain/chain-port.js";
import { EthChain } from "../../src/chain/chain-port.js";
import { devKey } from "../../src/chain/embedded.js";
import { channelId, fundingId } from "../../src/channel/hash.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Hex, Params, State } from "../../src/channel/types.js";
import { ZERO_ADDRESS } from "../../src/channel/types.js";
import type { OpenChannelRequest } from "../../src/client/client.js";
import { FundingTimeoutError, UpdateRejectedError } from "../../src/client/errors.js";
import type { WireMsg } from "../../src/wire/messages.js";
import { type Party, until, type World, world } from "./harness.js";

let w: World;
beforeAll(async () => {
  w = await world();
});
beforeEach(() => w.resetNetwork());

async function pair(ai: number, bi: number): Promise<[Party, Party]> {
  return [await w.party("Alice", ai), await w.party("Bob", bi)];
}

/** A 1 ETH / 1 ETH channel from `a` to `b` (plus `extra` request fields), once both sides see it funded. */
async function openFunded(a: Party, b: Party, extra: Partial<OpenChannelRequest> = {}): Promise<Hex> {
  const id = await a.client.openChannel({
    peer: b.address,
    assets: [w.eth],
    balances: [[parseEther("1"), parseEther("1")]],
    ...extra,
  });
  await until(() => b.client.channel(id).phase === "Acting", 5_000, "peer funded");
  return id;
}

describe("ledger channel through the client", () => {
  it("a cooperative close asked for while payments are in flight (ours and the peer's) waits for them and closes cooperatively", async () => {
    const [alice, bob] = await pair(1, 2);
    const id = await openFunded(alice, bob);
    const ours = Array.from({ length: 20 }, () => alice.client.pay(id, parseEther("0.01")));
    const theirs = Array.from({ length: 5 }, () => bob.client.pay(id, parseEther("0.01")).catch(() => null));
    const closed = alice.client.settle(id);
    const paid = await Promise.all(ours);
    const bobPaid = (await Promise.all(theirs)).filter((x) => x !== null).length;
    await closed;
    expect(paid).toHaveLength(20);
    // No dispute: the final state was signed by both and concluded as such.
    expect(alice.events.some((e) => e.type === "disputed")).toBe(false);
    await until(() => bob.client.channel(id).phase === "Withdrawn", 10_000, "Bob withdrew");
    const bobGot = bob.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));
    const aliceGot = alice.events.flatMap((e) =>
      e.type === "withdrawn" && e.channelID === id ? e.amounts : [],
    );
    const moved = parseEther("0.2") - BigInt(bobPaid) * parseEther("0.01");
    expect(aliceGot).toEqual([parseEther("1") - moved]);
    expect(bobGot).toEqual([parseEther("1") + moved]);
    for (const p of [alice, bob]) await p.stop();
  });

  it("64 concurrent payments share updates: each answered, one that the balance cannot cover fails alone", async () => {
    const [alice, bob] = await pair(1, 2);
    const id = await openFunded(alice, bob);
    const v0 = alice.client.channel(id).version ?? 0n;
    const amounts = Array.from({ length: 64 }, (_, i) => parseEther("0.001") * BigInt(1 + (i % 3)));
    // Asked for in the middle of the others: more than Alice has, whatever went before it.
    const tooMuch = alice.client.pay(id, parseEther("1.5")).then(
      () => "paid",
      (e: Error) => e.constructor.name,
    );
    const states = await Promise.all(amounts.map((a) => alice.client.pay(id, a)));
    expect(await tooMuch).toBe("InsufficientBalanceError");
    const total = amounts.reduce((x, y) => x + y, 0n);
    const a = alice.client.channel(id);
    expect(a.balances).toEqual([[parseEther("1") - total, parseEther("1") + total]]);
    expect(bob.client.channel(id).balances).toEqual(a.balances);
    // Batched: far fewer versions than payments, and each payment's state carries it.
    const versions = (a.version ?? 0n) - v0;
    expect(versions).toBeGreaterThan(0n);
    expect(versions).toBeLessThan(32n);
    for (const s of states) expect(s.version).toBeGreaterThan(v0);
    // Then one at a time, as before: one version each.
    await alice.client.pay(id, 1n);
    expect(alice.client.channel(id).version).toBe((a.version ?? 0n) + 1n);
    for (const p of [alice, bob]) await p.stop();
  });

  it("opens, makes payments both ways, closes cooperatively; on-chain payouts match the last state", async () => {
    const [alice, bob] = await pair(1, 2);
    const id = await alice.client.openChannel({
      peer: bob.address,
      assets: [w.eth],
      balances: [[parseEther("2"), parseEther("1")]],
    });
    await until(() => bob.client.channel(id).phase === "Acting", 5_000, "Bob funded");
    for (let i = 0; i < 50; i++) await alice.client.pay(id, parseEther("0.01"));
    for (let i = 0; i < 10; i++) await bob.client.pay(id, parseEther("0.02"));
    const a = alice.client.channel(id);
    const b = bob.client.channel(id);
    expect(a.version).toBe(60n);
    expect(b.balances).toEqual(a.balances);
    expect(a.balances).toEqual([[parseEther("1.7"), parseEther("1.3")]]);

    const before = [await w.ethHolder.balanceOf(alice.address), await w.ethHolder.balanceOf(bob.address)];
    await alice.client.settle(id);
    await until(() => bob.client.channel(id).phase === "Withdrawn", 10_000, "Bob withdrew");
    expect(alice.client.channel(id).phase).toBe("Withdrawn");
    const withdrawn = (p: Party) =>
      p.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));
    expect(withdrawn(alice)).toEqual([parseEther("1.7")]);
    expect(withdrawn(bob)).toEqual([parseEther("1.3")]);
    expect(await w.ethHolder.holdings(fundingId(id, alice.address))).toBe(0n);
    // wallets grew by the payout minus gas (gas price is tiny on the embedded chain)
    const after = [await w.ethHolder.balanceOf(alice.address), await w.ethHolder.balanceOf(bob.address)];
    expect(after[0]! - before[0]!).toBeGreaterThan(parseEther("1.69"));
    expect(after[1]! - before[1]!).toBeGreaterThan(parseEther("1.29"));
    await alice.stop();
    await bob.stop();
  });

  it("concurrent proposals from both sides: the lower index wins, the other is retried; both agree", async () => {
    const [alice, bob] = await pair(3, 4);
    const id = await openFunded(alice, bob);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0 ? alice.client.pay(id, 1000n) : bob.client.pay(id, 3000n),
      ),
    );
    expect(results).toHaveLength(20);
    const a = alice.client.channel(id);
    const b = bob.client.channel(id);
    // Each side's concurrent payments share updates (at least one per side, at most one per payment).
    expect(a.version).toBe(b.version);
    expect(a.version).toBeGreaterThanOrEqual(2n);
    expect(a.version).toBeLessThanOrEqual(20n);
    expect(a.balances).toEqual(b.balances);
    expect(a.balances).toEqual([
      [parseEther("1") - 10n * 1000n + 10n * 3000n, parseEther("1") + 10n * 1000n - 10n * 3000n],
    ]);
    await alice.stop();
    await bob.stop();
  });

  it("the responder's handler can reject an update; nothing changes", async () => {
    const [alice, bob] = await pair(1, 2);
    const id = await openFunded(alice, bob);
    // Default handler: a payment that lowers Bob's balance is refused.
    const err = await alice.client
      .update(id, (s) => ({
        ...s,
        version: s.version + 1n,
        outcome: { ...s.outcome, balances: [[parseEther("1.5"), parseEther("0.5")]] },
      }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpdateRejectedError);
    expect(alice.client.channel(id).version).toBe(0n);
    expect(bob.client.channel(id).version).toBe(0n);
    await alice.client.pay(id, 5n);
    expect(bob.client.channel(id).version).toBe(1n);
    await alice.stop();
    await bob.stop();
  });

  it("Bob goes offline: Alice settles by dispute and gets her balance", async () => {
    const [alice, bob] = await pair(5, 6);
    const id = await openFunded(alice, bob, { challengeDuration: 100n });
    await alice.client.pay(id, parseEther("0.25"));
    await bob.stop();
    w.net.disconnect(bob.address);
    const settled = alice.client.settle(id);
    await until(() => alice.client.channel(id).phase === "Registered", 10_000, "registered");
    await w.advance(101);
    await settled;
    expect(alice.events.some((e) => e.type === "withdrawn" && e.amounts[0] === parseEther("0.75"))).toBe(
      true,
    );
    // Bob's share waits for him on chain.
    expect(await w.ethHolder.holdings(fundingId(id, bob.address))).toBe(parseEther("1.25"));
    w.net.reconnect(bob.address);
  });

  it("Mallory registers an old state: Bob's watcher refutes with the newest and Bob gets his full balance", async () => {
    const mallory = await w.party("Mallory", 1);
    const bob = await w.party("Bob", 2);
    const id = await openFunded(mallory, bob, { challengeDuration: 100n });
    // Remember version 0 with both signatures, then pay Bob.
    const rec0 = mallory.store.getChannel(id);
    const v0 = rec0?.machine.current as { state: State; sigs: Hex[] };
    await mallory.client.pay(id, parseEther("0.9"));
    await mallory.stop();
    // Mallory registers the stale version 0 directly on chain.
    await mallory.chain.register({ params: rec0!.machine.params, state: v0.state, sigs: v0.sigs });
    await until(
      () => bob.events.some((e) => e.type === "refuted" && e.channelID === id),
      10_000,
      "Bob's refutation",
    );
    await until(async () => (await w.conn.publicClient.getBlockNumber()) > 0n);
    const d = await bob.chain.dispute(id);
    await until(async () => (await bob.chain.dispute(id))?.version === 1n, 10_000, "refuted on chain");
    expect(d).toBeDefined();
    await w.advance(101);
    await until(() => bob.client.channel(id).phase === "Withdrawn", 10_000, "Bob withdrew");
    expect(bob.events.some((e) => e.type === "withdrawn" && e.amounts[0] === parseEther("1.9"))).toBe(true);
    await bob.stop();
  });

  it("funding timeout: the peer never deposits, our deposit comes back through the chain", async () => {
    const alice = await w.party("Alice", 3);
    // Bob accepts but his chain port never deposits (a peer that walks away).
    const lazy = (c: ChainPort): ChainPort =>
      Object.assign(Object.create(Object.getPrototypeOf(c)), c, {
        deposit: () => new Promise<void>(() => {}),
      });
    const bob = await w.party("Bob", 4, { chain: lazy(new EthChain(w.conn, w.adjudicator, devKey(4))) });
    const opening = alice.client.openChannel({
      peer: bob.address,
      assets: [w.eth],
      balances: [[parseEther("1"), parseEther("1")]],
      challengeDuration: 50n,
      fundingTimeout: 30n,
    });
    const outcome = opening.catch((e: unknown) => e);
    await until(() => alice.events.some((e) => e.type === "opened"), 5_000, "opened");
    const id = (alice.events.find((e) => e.type === "opened") as { channelID: Hex }).channelID;
    await until(
      async () => (await w.ethHolder.holdings(fundingId(id, alice.address))) > 0n,
      5_000,
      "deposit",
    );
    await w.advance(31);
    await until(() => alice.client.channel(id).phase === "Registered", 10_000, "recovery registered");
    await w.advance(51);
    const err = await outcome;
    expect(err).toBeInstanceOf(FundingTimeoutError);
    expect(alice.events.some((e) => e.type === "withdrawn" && e.amounts[0] === parseEther("1"))).toBe(true);
    expect(await w.ethHolder.holdings(fundingId(id, alice.address))).toBe(0n);
    await alice.stop();
    await bob.stop();
  });

  it("several assets (ETH + ERC20) in one channel, and several channels per client", async () => {
    const [alice, bob] = await pair(5, 6);
    const ids = await Promise.all(
      [0, 1].map(() =>
        alice.client.openChannel({
          peer: bob.address,
          assets: [w.eth, w.erc20],
          balances: [
            [parseEther("1"), parseEther("1")],
            [500n, 100n],
          ],
        }),
      ),
    );
    for (const id of ids) await until(() => bob.client.channel(id).phase === "Acting", 5_000, "funded");
    await alice.client.pay(ids[0]!, 200n, 1);
    await bob.client.pay(ids[1]!, parseEther("0.5"), 0);
    expect(bob.client.channel(ids[0]!).balances).toEqual([
      [parseEther("1"), parseEther("1")],
      [300n, 300n],
    ]);
    const tokensBefore = await w.tokenHolder.balanceOf(bob.address);
    await alice.client.settle(ids[0]!);
    await until(() => bob.client.channel(ids[0]!).phase === "Withdrawn", 10_000, "Bob withdrew");
    expect((await w.tokenHolder.balanceOf(bob.address)) - tokensBefore).toBe(300n);
    expect(bob.client.channel(ids[1]!).balances).toEqual([
      [parseEther("1.5"), parseEther("0.5")],
      [500n, 100n],
    ]);
    await alice.stop();
    await bob.stop();
  });

  it("rejects bad peer messages with a logged reason; the channel is unchanged and stays usable", async () => {
    const bob = await w.party("Bob", 2);
    // A hand-scripted peer ("Eve", dev key 9) speaking the wire protocol directly.
    const eveKey = devKey(9);
    const eve = privateKeyToSigner(eveKey);
    const eveNet = w.net.transport(eve);
    const inbox: WireMsg[] = [];
    eveNet.onMessage(({ msg }) => inbox.push(msg));
    const params: Params = {
      challengeDuration: 60n,
      nonce: 77n,
      participants: [
        { ethAddress: eve.address, ccAddress: "0x" },
        { ethAddress: bob.address, ccAddress: "0x" },
      ],
      app: ZERO_ADDRESS,
      ledgerChannel: true,
      virtualChannel: false,
    };
    const id = channelId(params);
    const v0: State = {
      channelID: id,
      version: 0n,
      outcome: { assets: [w.eth], backends: [0n], balances: [[1000n, 1000n]], locked: [] },
      appData: "0x",
      isFinal: false,
    };
    const proposalID = `0x${"11".repeat(32)}` as Hex;
    await eveNet.send(bob.address, {
      type: "channelProposal",
      proposalID,
      params,
      initial: v0,
      sig: signState(v0, eve),
      fundingTimeout: 600n,
    });
    await until(() => inbox.some((m) => m.type === "channelAccept"), 5_000, "accept");
    await new EthChain(w.conn, w.adjudicator, eveKey).deposit(w.eth, fundingId(id, eve.address), 1000n);
    await until(() => bob.client.channel(id).phase === "Acting", 5_000, "funded");

    const pay = (s: State, amount: bigint): State => ({
      ...s,
      version: s.version + 1n,
      outcome: {
        ...s.outcome,
        balances: [[s.outcome.balances[0]![0]! - amount, s.outcome.balances[0]![1]! + amount]],
      },
    });
    const errorsSoFar = () => inbox.filter((m) => m.type === "error").length;
    const expectRejected = async (msg: WireMsg, reason: RegExp) => {
      const n = errorsSoFar();
      await eveNet.send(bob.address, msg);
      await until(() => errorsSoFar() > n, 5_000, "error reply");
      const last = inbox.filter((m) => m.type === "error").at(-1) as { reason: string };
      expect(last.reason).toMatch(reason);
      expect(bob.logs.at(-1)).toMatch(reason);
      expect(bob.client.channel(id).version).toBe(0n);
    };
    // conservation broken: Bob gains more than Eve loses
    const inflated: State = { ...pay(v0, 10n), outcome: { ...v0.outcome, balances: [[990n, 1020n]] } };
    await expectRejected(
      { type: "update", channelID: id, from: 0, state: inflated, sig: signState(inflated, eve) },
      /total of asset 0 changed/i,
    );
    // a valid state with a signature by someone else
    const v1 = pay(v0, 10n);
    const mallorySig = signState(v1, privateKeyToSigner(devKey(8)));
    await expectRejected({ type: "update", channelID: id, from: 0, state: v1, sig: mallorySig }, /sign/i);
    // claiming to be participant 1 (Bob himself)
    await expectRejected(
      { type: "update", channelID: id, from: 1, state: v1, sig: signState(v1, eve) },
      /another participant/i,
    );
    // an unknown channel
    await expectRejected(
      { type: "update", channelID: `0x${"22".repeat(32)}`, from: 0, state: v1, sig: signState(v1, eve) },
      /No channel/i,
    );
    // the real update is accepted ...
    await eveNet.send(bob.address, {
      type: "update",
      channelID: id,
      from: 0,
      state: v1,
      sig: signState(v1, eve),
    });
    await until(() => bob.client.channel(id).version === 1n, 5_000, "v1");
    // ... and replaying it changes nothing: Bob answers with the state he already signed (both
    // signatures), so a peer whose answer got lost is not told to give its state up; version stays 1
    const syncsBefore = inbox.filter((m) => m.type === "sync").length;
    await eveNet.send(bob.address, {
      type: "update",
      channelID: id,
      from: 0,
      state: v1,
      sig: signState(v1, eve),
    });
    await until(
      () => inbox.filter((m) => m.type === "sync" && m.state.version === 1n).length > syncsBefore,
      5_000,
      "replay answered with the signed state",
    );
    expect(bob.client.channel(id).version).toBe(1n);
    // still usable: Bob pays Eve
    const paid = bob.client.pay(id, 5n);
    await until(
      () => inbox.some((m) => m.type === "update" && m.state.version === 2n),
      5_000,
      "Bob's update",
    );
    const u = inbox.find((m) => m.type === "update" && m.state.version === 2n) as Extract<
      WireMsg,
      { type: "update" }
    >;
    await eveNet.send(bob.address, {
      type: "updateAccept",
      channelID: id,
      from: 0,
      version: 2n,
      sig: signState(u.state, eve),
    });
    expect((await paid).version).toBe(2n);
    await bob.stop();
  });
});
