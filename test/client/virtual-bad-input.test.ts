/**
 * Virtual channels, bad input (design.md section 5; docs/virtual-channels.md), in process on the real
 * EVM: a cheating end (or both ends colluding) hands the intermediary Ingrid locks, contexts and
 * proposals that must not be signed. Every case checks that the bad message is refused with a reason
 * that says what is wrong, that the honest parties' ledger channels keep their state (version,
 * balances, locks), and that they still work afterwards.
 *
 * Mallory's messages are forged at the wire: each end's client runs on a transport the test can also
 * send on and listen to, V's states are signed with the ends' keys directly, and ledger updates the
 * client would never build (a wrong lock) are proposed through `client.update` with a crafted state.
 */
import { randomBytes } from "node:crypto";
import { parseEther } from "viem";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { devKey } from "../../src/chain/embedded.js";
import { type RentalTerms, rentalFee } from "../../src/channel/fees.js";
import { hopLockArgs, pathLocks } from "../../src/channel/path.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner, type Signer } from "../../src/channel/signer.js";
import type { Address, Hex, Params, State, SubAlloc } from "../../src/channel/types.js";
import { lockInLedger, virtualInitialState, virtualParams } from "../../src/channel/virtual.js";
import type { ClientOptions } from "../../src/client/client.js";
import { UpdateRejectedError } from "../../src/client/errors.js";
import { decodeJson } from "../../src/store/json.js";
import { decodeMsg, encodeMsg } from "../../src/wire/codec.js";
import { MalformedMessageError } from "../../src/wire/errors.js";
import type { Inbound, VirtualFundingMsg, WireMsg } from "../../src/wire/messages.js";
import type { Transport } from "../../src/wire/transport.js";
import { type Party, until, type World, world } from "./harness.js";

const terms: RentalTerms = { baseFee: 1_000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };
const FIVE = parseEther("5");
const ONE = parseEther("1");
const HOUR = 3_600n;
/** Ingrid waits this long for the twin of a lock; the ends wait longer for her answer. */
const INGRID_TIMEOUT_MS = 2_000;
const END_TIMEOUT_MS = 10_000;

/** An end whose client runs on a transport the test can also use: to forge messages and to read answers. */
interface Peer extends Party {
  readonly signer: Signer;
  readonly tx: Transport;
  /** Every message that reached this end, in order (the client sees them too). */
  readonly inbox: Inbound[];
}

interface Net {
  readonly alice: Peer;
  readonly ingrid: Party;
  readonly bob: Peer;
  readonly l1: Hex;
  readonly l2: Hex;
}

/** V as the ends agree on it (or forge it): what goes into virtualProposal and virtualFunding. */
interface Draft {
  readonly params: Params;
  readonly initial: State;
  readonly path: Address[];
  readonly ledgerIDs: Hex[];
  readonly fees: bigint[][];
  readonly expiry: bigint;
}

let w: World;
let running: Party[] = [];

beforeAll(async () => {
  w = await world();
});
beforeEach(() => w.resetNetwork());
afterEach(async () => {
  for (const p of running) await p.stop().catch(() => undefined);
  running = [];
});

/** A harness party that also records every message reaching it (the client sees them too). */
async function peer(name: string, index: number, options: ClientOptions = {}): Promise<Peer> {
  const party = await w.party(name, index, { options: { peerTimeoutMs: END_TIMEOUT_MS, ...options } });
  const inbox: Inbound[] = [];
  party.transport.onMessage((m) => inbox.push(m));
  const p: Peer = { ...party, signer: privateKeyToSigner(party.key), tx: party.transport, inbox };
  running.push(p);
  return p;
}

/** Alice - L1 - Ingrid (intermediary) - L2 - Bob, 5 ETH each side of each ledger channel. */
async function network(): Promise<Net> {
  const alice = await peer("Alice", 1);
  const bob = await peer("Bob", 2);
  const ingrid = await w.party("Ingrid", 3, {
    options: { intermediary: { terms }, peerTimeoutMs: INGRID_TIMEOUT_MS },
  });
  running.push(ingrid);
  const l1 = await alice.client.openChannel({
    peer: ingrid.address,
    assets: [w.eth],
    balances: [[FIVE, FIVE]],
  });
  const l2 = await bob.client.openChannel({
    peer: ingrid.address,
    assets: [w.eth],
    balances: [[FIVE, FIVE]],
  });
  await until(
    () => ingrid.client.channel(l1).phase === "Acting" && ingrid.client.channel(l2).phase === "Acting",
  );
  return { alice, ingrid, bob, l1, l2 };
}

function randomHex32(): Hex {
  return `0x${randomBytes(32).toString("hex")}`;
}

/** The fee Ingrid asks for renting 2 ETH of collateral for `seconds` (a little above: the clock moves). */
function feeFor(seconds: bigint): bigint {
  return rentalFee(terms, 2n * ONE, seconds) + 100n;
}

/** A fresh V of 1 ETH each side from Alice to Bob through Ingrid, valid for `seconds` from now (chain time). */
async function draft(n: Net, seconds = HOUR): Promise<Draft> {
  const params = virtualParams({
    alice: n.alice.address,
    bob: n.bob.address,
    nonce: BigInt(randomHex32()),
    challengeDuration: 60n,
  });
  return {
    params,
    initial: virtualInitialState(params, [w.eth], [[ONE, ONE]]),
    path: [n.alice.address, n.ingrid.address, n.bob.address],
    ledgerIDs: [n.l1, n.l2],
    fees: [[feeFor(seconds)]],
    expiry: (await n.ingrid.chain.now()) + seconds,
  };
}

/** V's initial state signed by both ends with their keys (the ends collude, or the test plays both). */
function bothSign(n: Net, d: Draft): Hex[] {
  return [signState(d.initial, n.alice.signer), signState(d.initial, n.bob.signer)];
}

function funding(d: Draft, sigs: readonly Hex[], over: Partial<VirtualFundingMsg> = {}): VirtualFundingMsg {
  return {
    type: "virtualFunding",
    path: d.path,
    ledgerIDs: d.ledgerIDs,
    params: d.params,
    initial: d.initial,
    sigs,
    fees: d.fees,
    expiry: d.expiry,
    ...over,
  };
}

/** Alice's end sends `msg` to `to` from her own transport: a message her client would not send. */
function forge(n: Net, to: Address, msg: WireMsg): Promise<void> {
  return n.alice.tx.send(to, msg);
}

function ledgerParams(p: Party, id: Hex): Params {
  const rec = p.store.getChannel(id);
  if (!rec) throw new Error(`${p.name} has no channel ${id}`);
  return rec.machine.params;
}

/** The correct lock of V in hop `hop` (0: L1 Alice-Ingrid, 1: L2 Ingrid-Bob), as the client builds it. */
function correctLock(d: Draft, hop: number, params: Params): (cur: State) => State {
  const h = pathLocks(d.path, d.initial, d.fees)[hop];
  if (!h) throw new Error(`no hop ${hop}`);
  const { roles, fee } = hopLockArgs(h, params);
  return (cur) => lockInLedger(cur, params, { id: d.initial.channelID, initial: d.initial }, roles, fee);
}

/** The last SubAlloc of `s` (the one a lock adds) replaced by `f(sub)`; balances adjusted by `adjust`. */
function withLastSub(
  s: State,
  f: (sub: SubAlloc) => SubAlloc,
  adjust: (balances: bigint[][]) => bigint[][] = (b) => b,
): State {
  const locked = [...s.outcome.locked];
  const last = locked.pop() as SubAlloc;
  return {
    ...s,
    outcome: {
      ...s.outcome,
      balances: adjust(s.outcome.balances.map((r) => [...r])),
      locked: [...locked, f(last)],
    },
  };
}

/** Resolves with the rejection's message if `p` is refused by the peer; fails clearly if it was signed. */
async function refused(p: Promise<unknown>, what: string): Promise<string> {
  const outcome = await p.then(
    () => ({ signed: true as const }),
    (e: unknown) => ({ signed: false as const, e }),
  );
  if (outcome.signed) throw new Error(`${what} was signed; it must be refused`);
  expect(outcome.e, `${what}: refused by the peer, not failed otherwise`).toBeInstanceOf(UpdateRejectedError);
  return (outcome.e as Error).message;
}

/** The first message from `from` in `p`'s inbox after index `since` that satisfies `pred`. */
async function received(
  p: Peer,
  from: Address,
  pred: (m: WireMsg) => boolean,
  since: number,
  what: string,
): Promise<WireMsg> {
  let found: WireMsg | undefined;
  await until(
    () => {
      found = p.inbox
        .slice(since)
        .find((m) => m.from.toLowerCase() === from.toLowerCase() && pred(m.msg))?.msg;
      return found !== undefined;
    },
    8_000,
    what,
  );
  return found as WireMsg;
}

/** Ingrid's answer refusing the lock of `ledger` to `version` that `p` proposed (updateReject, or error). */
async function lockRefusal(n: Net, p: Peer, ledger: Hex, version: bigint): Promise<string> {
  const m = await received(
    p,
    n.ingrid.address,
    (x) =>
      (x.type === "updateReject" && x.channelID === ledger && x.version === version) ||
      (x.type === "error" && x.channelID === ledger),
    0,
    `Ingrid's answer to ${p.name}'s lock`,
  );
  return "reason" in m ? m.reason : "";
}

/** An error answer to a message about no channel (a virtualFunding): the refusal of a context. */
function contextRefusal(m: WireMsg): boolean {
  return m.type === "error" && m.channelID === undefined;
}

/** Ingrid's durable record of the virtual channels she intermediates (what survives her restart). */
function storedContext(ingrid: Party, vID: Hex): VirtualFundingMsg | undefined {
  const row = ingrid.store.listRecords("virtual.context").find((r) => r.id === vID.toLowerCase());
  return row === undefined ? undefined : (decodeJson(row.value) as VirtualFundingMsg);
}

/** Every view of both ledger channels: phase, version, balances and locked ids. */
function views(n: Net) {
  const list: [Party, Hex, string][] = [
    [n.alice, n.l1, "Alice L1"],
    [n.ingrid, n.l1, "Ingrid L1"],
    [n.ingrid, n.l2, "Ingrid L2"],
    [n.bob, n.l2, "Bob L2"],
  ];
  return list.map(([p, id, who]) => {
    const m = p.store.getChannel(id)?.machine;
    const s = m?.current?.state;
    return {
      who,
      phase: m?.phase,
      version: s?.version,
      balances: s?.outcome.balances,
      locked: s?.outcome.locked.map((l) => `${l.ID}:${l.balances.join(",")}:${l.indexMap.join(",")}`),
    };
  });
}

/** Both ledger channels are back at rest exactly as `before`. */
async function expectUnchanged(n: Net, before: ReturnType<typeof views>): Promise<void> {
  await until(() => views(n).every((v) => v.phase === "Acting"), 10_000, "both ledger channels at rest");
  expect(views(n)).toEqual(before);
}

/** Both ledger channels still work: a payment each way in each, seen the same by both sides. */
async function expectUsable(n: Net): Promise<void> {
  const gwei = 10n ** 9n;
  for (const [end, id] of [
    [n.alice, n.l1],
    [n.bob, n.l2],
  ] as const) {
    const v0 = n.ingrid.client.channel(id).version as bigint;
    const b0 = n.ingrid.client.channel(id).balances as bigint[][];
    await n.ingrid.client.pay(id, 2n * gwei);
    await end.client.pay(id, gwei);
    await until(() => end.client.channel(id).version === v0 + 2n, 5_000, `${end.name} saw both payments`);
    // The end is participant 0 of its ledger channel (it opened it), Ingrid participant 1.
    const want = [[(b0[0]?.[0] as bigint) + gwei, (b0[0]?.[1] as bigint) - gwei]];
    expect(n.ingrid.client.channel(id).balances).toEqual(want);
    expect(end.client.channel(id).balances).toEqual(want);
  }
}

/**
 * Alice proposes `d` to Bob from her own transport (her client keeps no record of it); Bob's client, being
 * honest, accepts, hands Ingrid the context and proposes the correct lock in L2. Resolves with Bob's signature.
 */
async function proposeToBob(n: Net, d: Draft): Promise<Hex> {
  const proposalID = randomHex32();
  const since = n.alice.inbox.length;
  await forge(n, n.bob.address, {
    type: "virtualProposal",
    proposalID,
    path: d.path,
    ledgerIDs: d.ledgerIDs,
    params: d.params,
    initial: d.initial,
    sig: signState(d.initial, n.alice.signer),
    fees: d.fees,
    expiry: d.expiry,
  });
  const answer = await received(
    n.alice,
    n.bob.address,
    (m) => (m.type === "virtualAccept" || m.type === "virtualReject") && m.proposalID === proposalID,
    since,
    "Bob's answer to the proposal",
  );
  if (answer.type !== "virtualAccept") throw new Error(`Bob rejected V: ${JSON.stringify(answer)}`);
  return answer.sig;
}

describe("Ingrid refuses locks that do not match V (a cheating Alice; Bob's lock is correct)", () => {
  const rows: {
    name: string;
    /** Alice's lock in L1, from the correct one (`good`) or the ledger state before it (`prev`). */
    lock: (good: State, prev: State, d: Draft, params: Params) => State;
    reason: RegExp;
  }[] = [
    {
      name: "locks less than V's totals (1 of 2 ETH; Alice keeps the other)",
      lock: (good) =>
        withLastSub(
          good,
          (s) => ({ ...s, balances: [ONE] }),
          (b) => [[(b[0]?.[0] as bigint) + ONE, b[0]?.[1] as bigint]],
        ),
      reason: /not V's totals/,
    },
    {
      name: "locks more than V's totals (3 of 2 ETH)",
      lock: (good) =>
        withLastSub(
          good,
          (s) => ({ ...s, balances: [3n * ONE] }),
          (b) => [[(b[0]?.[0] as bigint) - ONE, b[0]?.[1] as bigint]],
        ),
      reason: /not V's totals/,
    },
    {
      name: "pays half the fee (below Ingrid's terms)",
      lock: (_good, prev, d, params) =>
        lockInLedger(
          prev,
          params,
          { id: d.initial.channelID, initial: d.initial },
          { left: 0, right: 1 },
          {
            payer: 0,
            payee: 1,
            amounts: [(d.fees[0]?.[0] as bigint) / 2n],
          },
        ),
      reason: /fee/,
    },
    {
      name: "pays no fee at all",
      lock: (_good, prev, d, params) =>
        lockInLedger(prev, params, { id: d.initial.channelID, initial: d.initial }, { left: 0, right: 1 }),
      reason: /fee/,
    },
    {
      name: "maps V's participants to [Ingrid, Alice] (indexMap swapped)",
      lock: (good) => withLastSub(good, (s) => ({ ...s, indexMap: [1, 0] })),
      reason: /indexMap/,
    },
  ];

  it.each(rows)("Alice's lock $name: both locks refused, nothing changes", async ({ lock, reason }) => {
    const n = await network();
    const before = views(n);
    const d = await draft(n);
    const bobSig = await proposeToBob(n, d);
    const sigs = [signState(d.initial, n.alice.signer), bobSig];
    await forge(n, n.ingrid.address, funding(d, sigs)); // the same context Bob handed over
    const params = ledgerParams(n.alice, n.l1);
    const bad = (cur: State) => lock(correctLock(d, 0, params)(cur), cur, d, params);

    const aliceRefusal = await refused(n.alice.client.update(n.l1, bad), "Alice's bad lock in L1");
    expect(aliceRefusal).toMatch(reason);
    // Bob's correct lock is refused with it: Ingrid never holds only one of the two.
    expect(await lockRefusal(n, n.bob, n.l2, 1n)).toMatch(reason);
    await expectUnchanged(n, before);
    // V is never funded for Bob: his refused open ends it (no longer listed, never usable).
    await until(
      () => n.bob.events.some((e) => e.type === "abandoned" && e.channelID === d.initial.channelID),
      5_000,
      "Bob abandons V",
    );
    expect(n.bob.client.channels().some((c) => c.channelID === d.initial.channelID)).toBe(false);
    await expectUsable(n);
  });
});

describe("reused virtual channel ids", () => {
  /** Opens V honestly (Alice's client), 1 ETH each side, for an hour. */
  async function openV(n: Net): Promise<Hex> {
    const v = await n.alice.client.openVirtualChannel({
      peer: n.bob.address,
      via: n.ingrid.address,
      ledger: n.l1,
      peerLedger: n.l2,
      balances: [[ONE, ONE]],
      fee: [feeFor(HOUR)],
      seconds: HOUR,
    });
    await until(() => n.bob.client.channel(v).phase === "Acting", 10_000, "Bob funded V");
    return v;
  }

  /** V's draft as the ends agreed on it, read from Alice's record. */
  function draftOf(n: Net, v: Hex): Draft {
    const rec = n.alice.store.getChannel(v);
    const info = rec?.meta.virtual as { path: Address[]; ledgerIDs: Hex[]; fees: bigint[][]; expiry: bigint };
    return {
      params: rec?.machine.params as Params,
      initial: rec?.machine.current?.state as State,
      path: info.path,
      ledgerIDs: info.ledgerIDs,
      fees: info.fees,
      expiry: info.expiry,
    };
  }

  it("Alice proposes to Bob the params of an existing V again (other balances): Bob rejects, V stays as it is", async () => {
    const n = await network();
    const v = await openV(n);
    const before = views(n);
    const bobV = n.bob.store.getChannel(v)?.machine.current;
    const d = draftOf(n, v);
    // Same params (so the same id), an initial state that gives Alice all of V.
    const reused: Draft = { ...d, initial: virtualInitialState(d.params, [w.eth], [[2n * ONE, 0n]]) };
    const proposalID = randomHex32();
    const since = n.alice.inbox.length;
    await forge(n, n.bob.address, {
      type: "virtualProposal",
      proposalID,
      path: reused.path,
      ledgerIDs: reused.ledgerIDs,
      params: reused.params,
      initial: reused.initial,
      sig: signState(reused.initial, n.alice.signer),
      fees: reused.fees,
      expiry: reused.expiry,
    });
    const answer = await received(
      n.alice,
      n.bob.address,
      (m) => (m.type === "virtualAccept" || m.type === "virtualReject") && m.proposalID === proposalID,
      since,
      "Bob's answer",
    );
    expect(answer.type).toBe("virtualReject");
    expect(answer.type === "virtualReject" && answer.reason).toMatch(/already in use/);
    // Bob's V is the one he signed; the ledger channels are as they were (V locked once in each).
    expect(n.bob.store.getChannel(v)?.machine.current).toEqual(bobV);
    expect(n.bob.client.channel(v).phase).toBe("Acting");
    await expectUnchanged(n, before);
    await n.alice.client.pay(v, parseEther("0.1"));
    await until(() => n.bob.client.channel(v).version === 1n, 5_000, "Bob saw the payment in V");
    expect(n.bob.client.channel(v).balances).toEqual([[parseEther("0.9"), parseEther("1.1")]]);
    await expectUsable(n);
  });

  it("a second context for a V Ingrid intermediates, with another initial state (ends collude): refused, the first stays", async () => {
    const n = await network();
    const v = await openV(n);
    const before = views(n);
    const d = draftOf(n, v);
    const first = storedContext(n.ingrid, v);
    expect(first?.initial.outcome.balances).toEqual([[ONE, ONE]]);
    // Both ends sign another version 0 of the same V: Bob's part all Alice's.
    const other: Draft = { ...d, initial: virtualInitialState(d.params, [w.eth], [[2n * ONE, 0n]]) };
    const since = n.alice.inbox.length;
    await forge(n, n.ingrid.address, funding(other, bothSign(n, other)));
    const err = await received(n.alice, n.ingrid.address, contextRefusal, since, "Ingrid's refusal");
    expect(err.type === "error" && err.reason.toLowerCase()).toContain(v.toLowerCase());
    expect(storedContext(n.ingrid, v)).toEqual(first);
    await expectUnchanged(n, before);

    // V still works and closes exactly: Ingrid nets her fee.
    await n.alice.client.pay(v, parseEther("0.3")); // V: Alice 0.7, Bob 1.3
    await n.alice.client.settleVirtual(v);
    await until(() => n.bob.client.channel(v).virtual?.unlocked === true, 10_000, "Bob unlocked V");
    const fee = d.fees[0]?.[0] as bigint;
    expect(n.ingrid.client.channel(n.l1).balances).toEqual([
      [FIVE - ONE - fee + parseEther("0.7"), FIVE - ONE + fee + parseEther("1.3")],
    ]);
    expect(n.ingrid.client.channel(n.l2).balances).toEqual([
      [FIVE - ONE + parseEther("1.3"), FIVE - ONE + parseEther("0.7")],
    ]);
    await expectUsable(n);
  });

  it("a second SubAlloc of V in L1, where V is already locked: the wire refuses the state, L1 keeps one lock", async () => {
    const n = await network();
    const v = await openV(n);
    const before = views(n);
    const cur = n.alice.store.getChannel(n.l1)?.machine.current?.state as State;
    expect(cur.outcome.locked.map((l) => l.ID)).toEqual([v]);
    const sub = cur.outcome.locked[0] as SubAlloc;
    const twice: State = {
      ...cur,
      version: cur.version + 1n,
      outcome: {
        ...cur.outcome,
        balances: [
          [(cur.outcome.balances[0]?.[0] as bigint) - 2n * ONE, cur.outcome.balances[0]?.[1] as bigint],
        ],
        locked: [sub, { ...sub }],
      },
    };
    const msg: WireMsg = {
      type: "update",
      channelID: n.l1,
      from: 0,
      state: twice,
      sig: signState(twice, n.alice.signer),
    };
    // The codec names the offending field ...
    let caught: unknown;
    try {
      decodeMsg(encodeMsg(msg));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(MalformedMessageError);
    expect((caught as MalformedMessageError).message).toMatch(/locked\[1\]\.ID/);
    // ... and over the wire the frame never reaches Ingrid's channel: Alice's next payment (same
    // connection, so it arrives after it) is version 2 on top of the single lock.
    await forge(n, n.ingrid.address, msg);
    await n.alice.client.pay(n.l1, 1_000n);
    const ingridL1 = n.ingrid.store.getChannel(n.l1)?.machine.current?.state;
    expect(ingridL1?.version).toBe(2n);
    expect(ingridL1?.outcome.locked).toEqual(cur.outcome.locked);
    expect(ingridL1?.outcome.balances).toEqual([
      [(cur.outcome.balances[0]?.[0] as bigint) - 1_000n, (cur.outcome.balances[0]?.[1] as bigint) + 1_000n],
    ]);
    expect(views(n).slice(2)).toEqual(before.slice(2)); // L2 untouched
    await expectUsable(n);
  });

  const relocks: { name: string; relock: (s: SubAlloc, balances: bigint[][]) => [SubAlloc, bigint[][]] }[] = [
    {
      name: "V's shares both paid to Alice (indexMap [Alice, Alice])",
      relock: (s, b) => [{ ...s, indexMap: [0, 0] }, b],
    },
    {
      name: "nothing locked any more (Alice takes V's 2 ETH back)",
      relock: (s, b) => [
        { ...s, balances: [0n] },
        [[(b[0]?.[0] as bigint) + (s.balances[0] as bigint), b[0]?.[1] as bigint]],
      ],
    },
  ];

  it.each(relocks)("Alice locks V again in L1 in place of its lock, $name: Ingrid refuses", async ({
    relock,
  }) => {
    const n = await network();
    const v = await openV(n);
    const before = views(n);
    const again = (cur: State): State => {
      const at = cur.outcome.locked.findIndex((l) => l.ID.toLowerCase() === v.toLowerCase());
      const [sub, balances] = relock(
        cur.outcome.locked[at] as SubAlloc,
        cur.outcome.balances.map((r) => [...r]),
      );
      const locked = [...cur.outcome.locked];
      locked[at] = sub;
      return { ...cur, version: cur.version + 1n, outcome: { ...cur.outcome, balances, locked } };
    };
    await refused(n.alice.client.update(n.l1, again), "Alice's second lock of V in L1");
    await expectUnchanged(n, before);
    await expectUsable(n);
  });
});

describe("expired virtual channels", () => {
  it("context and locks of a V whose expiry is past (chain time): Ingrid refuses to lock", async () => {
    const n = await network();
    const before = views(n);
    const d = await draft(n, 60n);
    await w.advance(120); // V expired a minute ago
    const since = n.alice.inbox.length;
    await forge(n, n.ingrid.address, funding(d, bothSign(n, d)));
    const [a, b] = await Promise.all([
      refused(n.alice.client.update(n.l1, correctLock(d, 0, ledgerParams(n.alice, n.l1))), "Alice's lock"),
      refused(n.bob.client.update(n.l2, correctLock(d, 1, ledgerParams(n.bob, n.l2))), "Bob's lock"),
    ]);
    // Ingrid may refuse the context already or keep it and refuse the locks; either way her answers
    // say why: V has expired.
    const contextAnswer = n.alice.inbox.slice(since).find((m) => contextRefusal(m.msg))?.msg;
    const reasons = [a, b, contextAnswer?.type === "error" ? contextAnswer.reason : ""];
    expect(
      reasons.some((r) => /expired/.test(r)),
      `no refusal names the expiry: ${reasons.join(" | ")}`,
    ).toBe(true);
    await expectUnchanged(n, before);
    await expectUsable(n);
  });

  it("a context accepted in time, locks proposed after V's expiry: both refused as expired", async () => {
    const n = await network();
    const before = views(n);
    const d = await draft(n, 60n);
    await forge(n, n.ingrid.address, funding(d, bothSign(n, d)));
    await until(() => storedContext(n.ingrid, d.initial.channelID) !== undefined, 5_000, "Ingrid kept V");
    await w.advance(120);
    const [a, b] = await Promise.all([
      refused(n.alice.client.update(n.l1, correctLock(d, 0, ledgerParams(n.alice, n.l1))), "Alice's lock"),
      refused(n.bob.client.update(n.l2, correctLock(d, 1, ledgerParams(n.bob, n.l2))), "Bob's lock"),
    ]);
    expect(a).toMatch(/expired/);
    expect(b).toMatch(/expired/);
    await expectUnchanged(n, before);
    await expectUsable(n);
  });
});

describe("locks of a V that is not Ingrid's to fund here", () => {
  it("V's path does not contain Ingrid: the context and both locks are refused", async () => {
    const n = await network();
    const before = views(n);
    const d = await draft(n);
    const carol = privateKeyToSigner(devKey(4)).address;
    const since = n.alice.inbox.length;
    await forge(
      n,
      n.ingrid.address,
      funding(d, bothSign(n, d), { path: [n.alice.address, carol, n.bob.address] }),
    );
    const err = await received(n.alice, n.ingrid.address, contextRefusal, since, "Ingrid's refusal");
    expect(err.type === "error" && err.reason).toMatch(/intermediary/);
    // The locks as if Ingrid were on the path: she has no context for V, so she signs neither.
    const [a, b] = await Promise.all([
      refused(n.alice.client.update(n.l1, correctLock(d, 0, ledgerParams(n.alice, n.l1))), "Alice's lock"),
      refused(n.bob.client.update(n.l2, correctLock(d, 1, ledgerParams(n.bob, n.l2))), "Bob's lock"),
    ]);
    expect(a).toMatch(/context/);
    expect(b).toMatch(/context/);
    await expectUnchanged(n, before);
    await expectUsable(n);
  });

  it("V's ledger ids do not contain L2: the lock in L2 is refused, and the one in L1 with it", async () => {
    const n = await network();
    const before = views(n);
    const d0 = await draft(n);
    const d: Draft = { ...d0, ledgerIDs: [n.l1, randomHex32()] };
    const since = n.alice.inbox.length;
    await forge(n, n.ingrid.address, funding(d, bothSign(n, d)));
    // Ingrid may refuse such a context outright, or keep it and refuse the lock: either way nothing is signed.
    await until(
      () =>
        storedContext(n.ingrid, d.initial.channelID) !== undefined ||
        n.alice.inbox.slice(since).some((m) => contextRefusal(m.msg)),
      5_000,
      "Ingrid handled the context",
    );
    const [a, b] = await Promise.all([
      refused(n.alice.client.update(n.l1, correctLock(d, 0, ledgerParams(n.alice, n.l1))), "Alice's lock"),
      refused(n.bob.client.update(n.l2, correctLock(d, 1, ledgerParams(n.bob, n.l2))), "Bob's lock"),
    ]);
    expect(a).toBeTruthy();
    expect(b).toMatch(/path|context/);
    await expectUnchanged(n, before);
    await expectUsable(n);
  });
});
