/**
 * The attacks of the hostile review (docs/security.md, issue "Safe to hold money"), each played by
 * Mallory against honest clients on the real EVM: what she sends is well-formed and correctly signed,
 * only not what an honest peer would send. Every test checks on chain that the honest party keeps its
 * money (or that nothing was signed or deposited), not only that a message was refused.
 *
 * Attack 12 (the local API without authentication) is in src/node/api-auth.test.ts; the contracts'
 * own defences (a final state that locks sub-channels, a sub-channel's timeout, the same asset twice)
 * are in test/contracts.
 */
import { parseEther } from "viem";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { devKey } from "../../src/chain/embedded.js";
import {
  AssetHolderERC20Abi,
  AssetHolderERC20Bytecode,
  AssetHolderETHAbi,
  AssetHolderETHBytecode,
} from "../../src/chain/generated/index.js";
import { deploy } from "../../src/chain/transact.js";
import { type RentalTerms, rentalFee } from "../../src/channel/fees.js";
import { fundingId } from "../../src/channel/hash.js";
import { hopLockArgs, pathLocks } from "../../src/channel/path.js";
import { POLICY_DEFAULTS, type SigningPolicyInput } from "../../src/channel/policy.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Address, Asset, Hex, Params, State } from "../../src/channel/types.js";
import { lockInLedger, virtualInitialState, virtualParams } from "../../src/channel/virtual.js";
import { ProposalRejectedError, UpdateRejectedError } from "../../src/client/errors.js";
import type { WireMsg } from "../../src/wire/messages.js";
import { type Party, until, type World, world } from "../client/harness.js";
import { ledgerProposal, type Mallory, MalloryChannel, mallory, randomHex32 } from "./mallory.js";

const ONE = parseEther("1");
const FIVE = parseEther("5");
const HOUR = 3_600n;
const terms: RentalTerms = { baseFee: 1_000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };

/** The bounds safe on Ethereum mainnet, with deposits into peers' channels allowed up to 10 ETH. */
let mainnet: Partial<SigningPolicyInput>;

let w: World;
let running: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  w = await world();
  mainnet = {
    challengeDuration: POLICY_DEFAULTS.challengeDuration,
    fundingTimeout: POLICY_DEFAULTS.fundingTimeout,
    maxDeposit: { [w.eth.ethHolder]: 10n * ONE, [w.erc20.ethHolder]: 10n * ONE },
  };
});
beforeEach(async () => {
  for (const p of running) await p.stop().catch(() => undefined);
  running = [];
  w.resetNetwork();
});
afterAll(async () => {
  for (const p of running) await p.stop().catch(() => undefined);
});

async function party(name: string, index: number, opts: Parameters<World["party"]>[2] = {}): Promise<Party> {
  const p = await w.party(name, index, opts);
  running.push(p);
  return p;
}

function villain(index: number, name = "Mallory"): Mallory {
  const m = mallory(w, index, name);
  running.push({ stop: () => m.close() });
  return m;
}

/** The victim's answer to proposal `proposalID` (accept or reject), as Mallory received it. */
async function answerTo(m: Mallory, victim: Party, proposalID: Hex, since = 0): Promise<WireMsg> {
  return m.receive(
    victim.address,
    (x) => (x.type === "channelAccept" || x.type === "channelReject") && x.proposalID === proposalID,
    since,
  );
}

async function ethBalance(a: Address): Promise<bigint> {
  return w.ethHolder.balanceOf(a);
}

const holdings = (id: Hex, who: Address, asset: Asset = w.eth) =>
  (asset.ethHolder === w.eth.ethHolder ? w.ethHolder : w.tokenHolder).holdings(fundingId(id, who));

/** Past the funding deadline (30 s): the victim registers version 0; past its challenge duration it concludes and withdraws. */
async function recover(victim: Party, id: Hex): Promise<void> {
  await w.advance(31);
  await until(() => victim.client.channel(id).phase === "Registered", 10_000, "version 0 registered");
  await w.advance(61);
  await until(() => victim.client.channel(id).phase === "Withdrawn", 10_000, "the victim recovered");
}

function withdrawnOf(p: Party, id: Hex): bigint[] {
  return p.events.flatMap((e) => (e.type === "withdrawn" && e.channelID === id ? e.amounts : []));
}

// ------------------------------------------------------------------------------------------------
describe("attack 1: the same proposal twice funds once", () => {
  it("a proposal sent twice makes one channel and one deposit; when Mallory never deposits, the victim gets exactly its deposit back", async () => {
    const victim = await party("Victim", 2);
    const m = villain(3);
    const d = ledgerProposal(m, victim.address, {
      assets: [w.eth],
      balances: [[ONE, ONE]],
      fundingTimeout: 30n,
    });
    await Promise.all([m.send(victim.address, d.msg), m.send(victim.address, d.msg)]);
    const answers = async () =>
      m.inbox.filter(
        (x) =>
          (x.msg.type === "channelAccept" || x.msg.type === "channelReject") &&
          x.msg.proposalID === d.msg.proposalID,
      );
    await until(async () => (await answers()).length === 2, 5_000, "two answers");
    expect((await answers()).map((x) => x.msg.type).sort()).toEqual(["channelAccept", "channelReject"]);
    const id = d.initial.channelID;
    await until(async () => (await holdings(id, victim.address)) > 0n, 5_000, "the victim's deposit");
    await new Promise((r) => setTimeout(r, 300)); // a second funding run would deposit now
    expect(await holdings(id, victim.address)).toBe(ONE);
    expect(victim.client.channels().filter((c) => c.channelID === id)).toHaveLength(1);
    // Mallory never deposits: at the deadline the victim recovers exactly its deposit.
    await recover(victim, id);
    expect(withdrawnOf(victim, id)).toEqual([ONE]);
    expect(await holdings(id, victim.address)).toBe(0n);
    expect(await holdings(id, m.address)).toBe(0n);
  });

  it("answering the victim's own proposal with a sync of version 0 and an accept at once starts one funding run", async () => {
    const victim = await party("Victim", 2);
    const m = villain(3);
    const opening = victim.client
      .openChannel({ peer: m.address, assets: [w.eth], balances: [[ONE, ONE]], fundingTimeout: 30n })
      .catch((e: unknown) => e);
    const proposal = (await m.receive(victim.address, (x) => x.type === "channelProposal")) as Extract<
      WireMsg,
      { type: "channelProposal" }
    >;
    const id = proposal.initial.channelID;
    const mSig = m.sign(proposal.initial);
    await Promise.all([
      m.send(victim.address, {
        type: "sync",
        channelID: id,
        state: proposal.initial,
        sigs: [proposal.sig, mSig],
      }),
      m.send(victim.address, {
        type: "channelAccept",
        proposalID: proposal.proposalID,
        channelID: id,
        sig: mSig,
      }),
    ]);
    await until(async () => (await holdings(id, victim.address)) > 0n, 5_000, "the victim's deposit");
    await new Promise((r) => setTimeout(r, 300));
    expect(await holdings(id, victim.address)).toBe(ONE);
    await recover(victim, id);
    expect(String(await opening)).toMatch(/not fully funded in time/);
    expect(withdrawnOf(victim, id)).toEqual([ONE]);
    expect(await holdings(id, victim.address)).toBe(0n);
  });

  it("an accept from anyone but the proposed peer is ignored", async () => {
    const victim = await party("Victim", 2);
    const peer = villain(3, "Peer");
    const stranger = villain(4, "Stranger");
    const opening = victim.client
      .openChannel({ peer: peer.address, assets: [w.eth], balances: [[ONE, 0n]] })
      .catch((e: unknown) => e);
    const proposal = (await peer.receive(victim.address, (x) => x.type === "channelProposal")) as Extract<
      WireMsg,
      { type: "channelProposal" }
    >;
    // The stranger learned the proposal id somehow; her reject and accept change nothing.
    await stranger.send(victim.address, {
      type: "channelReject",
      proposalID: proposal.proposalID,
      reason: "no",
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(victim.client.channel(proposal.initial.channelID).phase).toBe("InitSigning");
    await peer.send(victim.address, {
      type: "channelReject",
      proposalID: proposal.proposalID,
      reason: "not now",
    });
    expect(await opening).toBeInstanceOf(ProposalRejectedError);
    // A refused open ends: it is not listed as busy forever, and nothing was deposited.
    expect(victim.client.channels().some((c) => c.channelID === proposal.initial.channelID)).toBe(false);
    expect(await holdings(proposal.initial.channelID, victim.address)).toBe(0n);
  });
});

// ------------------------------------------------------------------------------------------------
/** A virtual channel Alice - Ingrid - Bob, opened honestly, with Bob having paid Alice over it. */
async function virtualNetwork(opts: { ingridPolicy?: Partial<SigningPolicyInput> } = {}) {
  const alice = await party("Alice", 1);
  const bob = await party("Bob", 2);
  const ingrid = await party("Ingrid", 3, {
    options: { intermediary: { terms } },
    ...(opts.ingridPolicy ? { policy: opts.ingridPolicy } : {}),
  });
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
    5_000,
    "Ingrid's ledger channels open",
  );
  return { alice, bob, ingrid, l1, l2 };
}

describe("attack 2: a final ledger state that still locks a virtual channel", () => {
  it("Ingrid refuses to sign Bob's ledger channel as final while it locks V; Bob's own client refuses to build it; V's payments reach Alice", async () => {
    const { alice, bob, ingrid, l1, l2 } = await virtualNetwork();
    const fee = rentalFee(terms, 2n * ONE, HOUR) + 100n;
    const v = await alice.client.openVirtualChannel({
      peer: bob.address,
      via: ingrid.address,
      ledger: l1,
      peerLedger: l2,
      balances: [[ONE, ONE]],
      fee: [fee],
      seconds: HOUR,
    });
    await until(() => bob.client.channel(v).phase === "Acting", 5_000, "Bob's side of V");
    await bob.client.pay(v, parseEther("0.4")); // Bob pays Alice over V
    // Bob's key signs "L2 final, nothing else changed" and sends it from his transport.
    const cur = bob.store.getChannel(l2)?.machine.current?.state as State;
    const finalLocked: State = { ...cur, version: cur.version + 1n, isFinal: true };
    const refusals: WireMsg[] = [];
    bob.transport.onMessage((x) => {
      if (x.msg.type === "error" || x.msg.type === "updateReject") refusals.push(x.msg);
    });
    await bob.transport.send(ingrid.address, {
      type: "update",
      channelID: l2,
      from: 0,
      state: finalLocked,
      sig: signState(finalLocked, privateKeyToSigner(bob.key)),
    });
    await until(() => refusals.length > 0, 5_000, "Ingrid's refusal");
    expect(JSON.stringify(refusals)).toMatch(/must lock nothing/);
    const ingridL2 = ingrid.store.getChannel(l2)?.machine;
    expect(ingridL2?.phase).toBe("Acting");
    expect(ingridL2?.current?.state.isFinal).toBe(false);
    expect(ingridL2?.current?.state.version).toBe(cur.version);
    // Bob's client would not have built it either: a cooperative close of a ledger channel that
    // locks V is refused with a hint.
    await expect(bob.client.settle(l2)).rejects.toThrow(/still locks 1 virtual channel/);
    // V closes cooperatively and Alice gets what Bob paid her, in L1.
    const before = alice.client.channel(l1).balances?.[0]?.[0] as bigint;
    await alice.client.settleVirtual(v);
    await until(
      () => ingrid.client.channel(l2).balances?.[0]?.[0] === FIVE - parseEther("0.4"),
      5_000,
      "L2 unlocked",
    );
    expect(alice.client.channel(l1).balances?.[0]?.[0]).toBe(before + parseEther("1.4"));
  });
});

// ------------------------------------------------------------------------------------------------
/** Mallory proposes a ledger channel to a victim with the mainnet-safe policy; the answer must be a refusal naming `rule`. */
async function refusedProposal(
  opts: Parameters<typeof ledgerProposal>[2],
  rule: string,
): Promise<{ victim: Party; id: Hex }> {
  const victim = await party("Victim", 2, { policy: mainnet });
  const m = villain(3);
  const d = ledgerProposal(m, victim.address, opts);
  const wallet = await ethBalance(victim.address);
  await m.send(victim.address, d.msg);
  const answer = await answerTo(m, victim, d.msg.proposalID);
  expect(answer.type).toBe("channelReject");
  expect((answer as { reason: string }).reason).toContain(`policy: ${rule}`);
  // Nothing signed, stored or deposited: the victim's wallet did not move at all.
  expect(victim.client.channels()).toEqual([]);
  expect(victim.store.listChannels()).toEqual([]);
  expect(await ethBalance(victim.address)).toBe(wallet);
  return { victim, id: d.initial.channelID };
}

describe("attacks 3-8: proposals whose parameters would cost the victim its deposit", () => {
  it("3: an asset holder Mallory deployed (she is its adjudicator and could pay herself) is refused, for ETH and for the real token", async () => {
    const m = villain(4, "Deployer");
    const rogueEth = (await deploy(w.conn, m.key, AssetHolderETHAbi, AssetHolderETHBytecode, [m.address]))
      .address;
    const rogueToken = (
      await deploy(w.conn, m.key, AssetHolderERC20Abi, AssetHolderERC20Bytecode, [m.address, w.token])
    ).address;
    const chainID = w.eth.chainID;
    const { victim } = await refusedProposal(
      {
        assets: [{ chainID, ethHolder: rogueEth, ccHolder: "0x" }],
        balances: [[0n, ONE]],
        challengeDuration: HOUR,
      },
      "asset-holder",
    );
    const tokens = await w.tokenHolder.balanceOf(victim.address);
    const m2 = villain(5, "Mallory again");
    const d = ledgerProposal(m2, victim.address, {
      assets: [{ chainID, ethHolder: rogueToken, ccHolder: "0x" }],
      balances: [[0n, ONE]],
      challengeDuration: HOUR,
    });
    await m2.send(victim.address, d.msg);
    const answer = await answerTo(m2, victim, d.msg.proposalID);
    expect((answer as { reason: string }).reason).toContain("policy: asset-holder");
    // No approval of the real token to the rogue holder, no transfer.
    expect(await w.tokenHolder.balanceOf(victim.address)).toBe(tokens);
    expect(await allowance(victim.address, rogueToken)).toBe(0n);
  });

  it("4: a challenge duration of 2^64 s (register could never succeed) is refused", async () => {
    await refusedProposal(
      { assets: [w.eth], balances: [[ONE, ONE]], challengeDuration: 1n << 64n },
      "challenge-duration",
    );
  });

  it("5: a challenge duration of 1 s (no refutation can land in time) is refused", async () => {
    await refusedProposal(
      { assets: [w.eth], balances: [[ONE, ONE]], challengeDuration: 1n },
      "challenge-duration",
    );
  });

  it("7: an asset of another chain (the outcome would never be paid out here) is refused", async () => {
    await refusedProposal(
      { assets: [{ ...w.eth, chainID: 1n }], balances: [[ONE, ONE]], challengeDuration: HOUR },
      "asset-chain",
    );
  });

  it("8: the same asset twice (every conclusion would revert) is refused", async () => {
    await refusedProposal(
      {
        assets: [w.eth, w.eth],
        balances: [
          [ONE, ONE],
          [ONE, ONE],
        ],
        challengeDuration: HOUR,
      },
      "asset-duplicate",
    );
  });

  it("a funding timeout of 1 s, a deposit beyond the cap, and an initial state that locks funds are refused", async () => {
    await refusedProposal(
      { assets: [w.eth], balances: [[ONE, ONE]], challengeDuration: HOUR, fundingTimeout: 1n },
      "funding-timeout",
    );
    w.resetNetwork();
    await refusedProposal(
      { assets: [w.eth], balances: [[0n, 11n * ONE]], challengeDuration: HOUR },
      "deposit-cap",
    );
  });

  it("the same victim accepts a proposal within its policy, and nothing else changed", async () => {
    const victim = await party("Victim", 2, { policy: mainnet });
    const m = villain(3);
    const d = ledgerProposal(m, victim.address, {
      assets: [w.eth],
      balances: [[ONE, ONE]],
      challengeDuration: HOUR,
      fundingTimeout: 600n,
    });
    await m.send(victim.address, d.msg);
    expect((await answerTo(m, victim, d.msg.proposalID)).type).toBe("channelAccept");
    await until(async () => (await holdings(d.initial.channelID, victim.address)) === ONE, 5_000, "deposit");
  });
});

async function allowance(owner: Address, spender: Address): Promise<bigint> {
  return (await w.conn.publicClient.readContract({
    address: w.token,
    abi: [
      {
        type: "function",
        name: "allowance",
        stateMutability: "view",
        inputs: [
          { name: "o", type: "address" },
          { name: "s", type: "address" },
        ],
        outputs: [{ name: "", type: "uint256" }],
      },
    ] as const,
    functionName: "allowance",
    args: [owner, spender],
  })) as bigint;
}

// ------------------------------------------------------------------------------------------------
/** A virtual channel as Mallory drafts it (she may be its Alice), through `ingrid` to `bob`. */
function draftV(
  alice: Address,
  ingrid: Address,
  bob: Address,
  ledgerIDs: Hex[],
  expiry: bigint,
  opts: { challengeDuration?: bigint; fee?: bigint } = {},
) {
  const params = virtualParams({
    alice,
    bob,
    nonce: BigInt(randomHex32()),
    challengeDuration: opts.challengeDuration ?? 60n,
  });
  const initial = virtualInitialState(params, [w.eth], [[ONE, ONE]]);
  return {
    params,
    initial,
    path: [alice, ingrid, bob] as Address[],
    ledgerIDs,
    fees: [[opts.fee ?? rentalFee(terms, 2n * ONE, HOUR) + 100n]],
    expiry,
  };
}

type Draft = ReturnType<typeof draftV>;

/** Mallory (V's Alice) proposes `d` to Bob; resolves with Bob's answer. */
async function proposeV(m: Mallory, bob: Party, d: Draft): Promise<WireMsg> {
  const proposalID = randomHex32();
  const since = m.inbox.length;
  await m.send(bob.address, {
    type: "virtualProposal",
    proposalID,
    path: d.path,
    ledgerIDs: d.ledgerIDs,
    params: d.params,
    initial: d.initial,
    sig: m.sign(d.initial),
    fees: d.fees,
    expiry: d.expiry,
  });
  return m.receive(
    bob.address,
    (x) => (x.type === "virtualAccept" || x.type === "virtualReject") && x.proposalID === proposalID,
    since,
  );
}

/** Mallory opens a ledger channel with `peer` (she proposes, both deposit); resolves once the peer sees it Acting. */
async function malloryLedger(m: Mallory, peer: Party, challengeDuration: bigint): Promise<MalloryChannel> {
  const d = ledgerProposal(m, peer.address, { assets: [w.eth], balances: [[FIVE, FIVE]], challengeDuration });
  await m.send(peer.address, d.msg);
  const answer = await answerTo(m, peer, d.msg.proposalID);
  if (answer.type !== "channelAccept") throw new Error(`refused: ${JSON.stringify(answer)}`);
  const ch = new MalloryChannel(m, peer.address, d.params, 0);
  ch.signedByBoth(d.initial, answer.sig);
  await ch.deposit(w.eth, FIVE);
  await until(() => peer.client.channel(ch.id).phase === "Acting", 10_000, "the ledger channel open");
  return ch;
}

function ledgerView(p: Party, id: Hex) {
  const m = p.store.getChannel(id)?.machine;
  return {
    phase: m?.phase,
    version: m?.current?.state.version,
    balances: m?.current?.state.outcome.balances,
    locked: m?.current?.state.outcome.locked.length,
  };
}

describe("attack 6: a short ledger channel under a long virtual channel", () => {
  it("with mainnet-safe bounds Ingrid refuses the 1 s ledger channel itself", async () => {
    const ingrid = await party("Ingrid", 3, { policy: mainnet, options: { intermediary: { terms } } });
    const m = villain(1);
    const d = ledgerProposal(m, ingrid.address, {
      assets: [w.eth],
      balances: [[FIVE, FIVE]],
      challengeDuration: 1n,
    });
    await m.send(ingrid.address, d.msg);
    expect((await answerTo(m, ingrid, d.msg.proposalID)) as unknown).toMatchObject({ type: "channelReject" });
  });

  it("where the bounds allow it, Ingrid refuses to lock a 60 s V in a 1 s ledger channel (the staircase); Bob's V ends, nothing is locked", async () => {
    const ingrid = await party("Ingrid", 3, { options: { intermediary: { terms } } }); // dev bounds: 1 s allowed
    const bob = await party("Bob", 2);
    const m = villain(1, "Mallory (V's Alice)");
    const l1 = await malloryLedger(m, ingrid, 1n);
    const l2 = await bob.client.openChannel({
      peer: ingrid.address,
      assets: [w.eth],
      balances: [[FIVE, FIVE]],
      challengeDuration: 60n,
    });
    await until(() => ingrid.client.channel(l2).phase === "Acting", 5_000, "L2 open");
    const before = [ledgerView(ingrid, l1.id), ledgerView(ingrid, l2)];
    const d = draftV(m.address, ingrid.address, bob.address, [l1.id, l2], (await m.chain.now()) + HOUR);
    const answer = await proposeV(m, bob, d);
    expect(answer.type).toBe("virtualAccept"); // Bob's own ledger channel lasts long enough
    const sigs = [m.sign(d.initial), (answer as { sig: Hex }).sig];
    await m.send(ingrid.address, { type: "virtualFunding", ...d, sigs });
    const lock = firstHopLock(l1, d);
    const r = await l1.propose(lock);
    expect(r).toMatchObject({ signed: false, reason: expect.stringMatching(/staircase/) });
    await until(
      () => bob.events.some((e) => e.type === "abandoned" && e.channelID === d.initial.channelID),
      10_000,
      "Bob's V ends",
    );
    expect(bob.client.channels().some((c) => c.channelID === d.initial.channelID)).toBe(false);
    await until(() => ingrid.client.channel(l2).phase === "Acting", 5_000, "L2 at rest");
    expect([ledgerView(ingrid, l1.id), ledgerView(ingrid, l2)]).toEqual(before);
  });
});

/** Mallory's lock of `d` in her ledger channel with Ingrid (hop 0), exactly as the path agreed on it. */
function firstHopLock(l1: MalloryChannel, d: Draft): State {
  const hop = pathLocks(d.path, d.initial, d.fees)[0];
  if (!hop) throw new Error("no hop 0");
  const { roles, fee } = hopLockArgs(hop, l1.params);
  return lockInLedger(
    l1.latest.state,
    l1.params,
    { id: d.initial.channelID, initial: d.initial },
    roles,
    fee,
  );
}

describe("attack 9: virtual channels that could never be settled, or rentals beyond the terms", () => {
  it("a V with a challenge duration of 2^64 s is refused by Bob and its lock by Ingrid", async () => {
    const ingrid = await party("Ingrid", 3, { options: { intermediary: { terms } } });
    const bob = await party("Bob", 2);
    const m = villain(1, "Mallory (V's Alice)");
    const l1 = await malloryLedger(m, ingrid, 120n);
    const l2 = await bob.client.openChannel({
      peer: ingrid.address,
      assets: [w.eth],
      balances: [[FIVE, FIVE]],
      challengeDuration: 60n,
    });
    await until(() => ingrid.client.channel(l2).phase === "Acting", 5_000, "L2 open");
    const d = draftV(m.address, ingrid.address, bob.address, [l1.id, l2], (await m.chain.now()) + HOUR, {
      challengeDuration: 1n << 64n,
    });
    const answer = await proposeV(m, bob, d);
    expect(answer).toMatchObject({
      type: "virtualReject",
      reason: expect.stringMatching(/challenge-duration/),
    });
    // Mallory plays Bob too (a second key) to get V signed by both: Ingrid still refuses the lock.
    const sigs = [m.sign(d.initial), signState(d.initial, privateKeyToSigner(bob.key))];
    await m.send(ingrid.address, { type: "virtualFunding", ...d, sigs });
    const lock = firstHopLock(l1, d);
    expect(await l1.propose(lock)).toMatchObject({
      signed: false,
      reason: expect.stringMatching(/challenge-duration/),
    });
    expect(ingrid.client.channel(l1.id).phase).toBe("Acting");
  });

  it("a rental longer than Ingrid's maximum is refused with a reason, both ledger channels stay usable, and a restart replays nothing", async () => {
    const { alice, bob, ingrid, l1, l2 } = await virtualNetwork();
    const seconds = terms.maxDurationSeconds + 100n;
    const opening = alice.client
      .openVirtualChannel({
        peer: bob.address,
        via: ingrid.address,
        ledger: l1,
        peerLedger: l2,
        balances: [[ONE, ONE]],
        fee: [parseEther("0.1")],
        seconds,
      })
      .catch((e: unknown) => e);
    const err = await opening;
    expect(err).toBeInstanceOf(UpdateRejectedError);
    expect(String(err)).toMatch(/rental-duration/);
    await until(
      () =>
        [
          alice.client.channel(l1),
          ingrid.client.channel(l1),
          ingrid.client.channel(l2),
          bob.client.channel(l2),
        ].every((c) => c.phase === "Acting"),
      10_000,
      "every ledger channel at rest",
    );
    // Ingrid restarts: no held lock is replayed, both channels take payments.
    await ingrid.stop({ leave: true });
    const again = await party("Ingrid", 3, { store: ingrid.store, options: { intermediary: { terms } } });
    await alice.client.pay(l1, 1n);
    await bob.client.pay(l2, 1n);
    await until(
      () => again.client.channel(l1).version === alice.client.channel(l1).version,
      5_000,
      "L1 in sync",
    );
    expect(again.client.channel(l2).phase).toBe("Acting");
  });
});

// ------------------------------------------------------------------------------------------------
describe("attack 10: a flood of made-up virtual channels", () => {
  it("final states and contexts of virtual channels Ingrid has no part in are refused and not stored", async () => {
    const ingrid = await party("Ingrid", 3, { options: { intermediary: { terms } } });
    const m = villain(1);
    const accomplice = privateKeyToSigner(devKey(5)); // a second key of Mallory's
    const big = `0x${"ab".repeat(200_000)}` as Hex; // 200 kB of app data
    const replies: WireMsg[] = [];
    m.transport.onMessage((x) => replies.push(x.msg));
    const started = Date.now();
    for (let i = 0; i < 60; i++) {
      const params: Params = virtualParams({
        alice: m.address,
        bob: accomplice.address,
        nonce: BigInt(randomHex32()),
        challengeDuration: 60n,
      });
      const state: State = {
        ...virtualInitialState(params, [w.eth], [[ONE, ONE]]),
        version: 9n,
        isFinal: true,
        appData: big,
      };
      await m.send(ingrid.address, {
        type: "virtualFinal",
        params,
        state,
        sigs: [m.sign(state), signState(state, accomplice)],
      });
    }
    // A context naming Ingrid on a path with no ledger channel of hers.
    const d = draftV(
      m.address,
      ingrid.address,
      accomplice.address,
      [randomHex32(), randomHex32()],
      (await m.chain.now()) + HOUR,
    );
    await m.send(ingrid.address, {
      type: "virtualFunding",
      ...d,
      sigs: [m.sign(d.initial), signState(d.initial, accomplice)],
    });
    await until(() => replies.filter((x) => x.type === "error").length === 61, 20_000, "61 refusals");
    expect(
      replies.slice(0, 60).every((x) => x.type === "error" && /no part in virtual channel/.test(x.reason)),
    ).toBe(true);
    expect(replies[60]).toMatchObject({ type: "error", reason: expect.stringMatching(/not ours/) });
    expect(ingrid.store.listRecords("virtual.context")).toEqual([]);
    expect(ingrid.store.listRecords("virtual.final")).toEqual([]);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

// ------------------------------------------------------------------------------------------------
describe("attack 11: a virtual channel whose locks were refused is never usable", () => {
  it("a fee below Ingrid's terms: both ends end V, a restart deposits nothing under V's ids, and the ledger channels are untouched", async () => {
    const { alice, bob, ingrid, l1, l2 } = await virtualNetwork();
    const before = [ledgerView(alice, l1), ledgerView(bob, l2)];
    const err = await alice.client
      .openVirtualChannel({
        peer: bob.address,
        via: ingrid.address,
        ledger: l1,
        peerLedger: l2,
        balances: [[ONE, ONE]],
        fee: [1n], // far below her terms
        seconds: HOUR,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpdateRejectedError);
    expect(String(err)).toMatch(/fee/);
    const abandoned = (p: Party) =>
      p.events.find((e) => e.type === "abandoned")?.channelID as Hex | undefined;
    await until(
      () => abandoned(alice) !== undefined && abandoned(bob) !== undefined,
      10_000,
      "both ends end V",
    );
    const v = abandoned(alice) as Hex;
    expect(abandoned(bob)).toBe(v);
    for (const p of [alice, bob]) {
      expect(p.client.channels().some((c) => c.channelID === v)).toBe(false);
      expect(() => p.client.channel(v)).toThrow(/No channel/);
    }
    await expect(bob.client.pay(v, 1n)).rejects.toThrow();
    // Both ends restart: nothing resumes "funding" V on chain.
    const restarted: Party[] = [];
    for (const [p, i] of [
      [alice, 1],
      [bob, 2],
    ] as const) {
      await p.stop({ leave: true });
      restarted.push(await party(p.name, i, { store: p.store }));
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const p of restarted) {
      expect(await holdings(v, p.address)).toBe(0n);
      expect(p.client.channels().some((c) => c.channelID === v)).toBe(false);
    }
    await until(
      () =>
        restarted[0]!.client.channel(l1).phase === "Acting" &&
        restarted[1]!.client.channel(l2).phase === "Acting",
      5_000,
      "ledger channels at rest",
    );
    expect([ledgerView(restarted[0]!, l1), ledgerView(restarted[1]!, l2)]).toEqual(before);
  });
});
