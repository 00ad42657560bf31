/**
 * What a dispute over a virtual channel costs, in gas and in time, through one and through three
 * intermediaries (design.md section 5, "Disputes"). Scenario: Bob goes offline after V is open and
 * some payments. Alice registers her ledger channel with I1 with V as sub-channel; every intermediary's
 * watcher, seeing V on chain, disputes its ledger channels that still lock V; time moves past the
 * challenge duration; the watchers conclude and withdraw. Every transaction of the run is read back
 * from the chain (receipt gasUsed) and attributed to its sender and operation (decoded calldata).
 *
 * In-process clients on the embedded EVM with the in-process wire (this is about gas and chain time,
 * not the network); a fresh chain per run, so every run starts from the same state. The payouts are
 * checked (Alice gets V's outcome, every intermediary nets exactly its fee, Bob's share waits on
 * chain), so a broken run cannot yield figures.
 */
import { decodeFunctionData } from "viem";
import { type ChainPort, EthChain } from "../src/chain/chain-port.js";
import { type ChainConnection, connectChain } from "../src/chain/connection.js";
import { deployPerun } from "../src/chain/deploy.js";
import { increaseTime } from "../src/chain/devtools.js";
import { createEmbeddedChain, devKey } from "../src/chain/embedded.js";
import { AdjudicatorAbi, AssetHolderETHAbi } from "../src/chain/generated/index.js";
import { type RentalTerms, rentalFee } from "../src/channel/fees.js";
import { fundingId } from "../src/channel/hash.js";
import { devChainPolicy } from "../src/channel/policy.js";
import { privateKeyToSigner } from "../src/channel/signer.js";
import type { Address, Asset, Hex } from "../src/channel/types.js";
import { Client, type ClientEvent } from "../src/client/client.js";
import { createMemoryStore } from "../src/store/memory-store.js";
import { Watcher } from "../src/watcher/watcher.js";
import { createMemoryNetwork } from "../src/wire/memory-transport.js";

export interface PartyGas {
  readonly total: number;
  readonly transactions: number;
  /** gasUsed summed per operation (decoded function name; "(reverted)" marks a failed one). */
  readonly byOperation: Readonly<Record<string, number>>;
}

export interface VirtualDisputeCase {
  readonly intermediaries: number;
  /**
   * Alice's side: her registration of her ledger channel with V, its conclusion, her withdrawal. The
   * conclude goes to whichever member's watcher is first after the timeout (`concludedBy`); `total`
   * is what Alice pays when that is her.
   */
  readonly alice: {
    readonly register: number;
    readonly conclude: number;
    readonly withdraw: number;
    readonly total: number;
    readonly concludedBy: string;
  };
  /** What each party paid in this run (Bob, offline, sends nothing). */
  readonly paid: Readonly<Record<string, PartyGas>>;
  /** What the intermediaries paid together. */
  readonly hubsTotal: number;
  /** Everything the dispute cost the network. */
  readonly networkTotal: number;
  /**
   * Registrations of a ledger channel already on record with the same state (both members of a
   * middle ledger channel react to V on chain): the contract skips them, the gas is spent anyway.
   */
  readonly redundantRegistrations: { readonly count: number; readonly gas: number };
  /** Transactions that reverted (two members racing for the same conclude or withdrawal). */
  readonly reverted: { readonly count: number; readonly gas: number };
  readonly transactions: number;
  /** The transactions in chain order: "sender operation channel gasUsed". */
  readonly log: readonly string[];
  /** Challenge durations the clock had to move (V's and every ledger channel's are the same). */
  readonly challengeDurations: number;
  readonly challengeDurationSeconds: number;
  /**
   * Estimated blocks on the critical path: Alice's registration, then the intermediaries' (in
   * parallel, but one party's transactions go one after the other, each waiting for its receipt),
   * then after the timeout the longest run of one party's transactions (concludes, withdrawals).
   */
  readonly blocksOnCriticalPath: number;
  /** Wall time from Alice's dispute call until every ledger channel of the path is registered. */
  readonly reactionMs: number;
  /** Wall time from the timeout until Alice and every intermediary withdrew. */
  readonly afterTimeoutMs: number;
}

/** Spread of a figure over the runs of one path length. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/**
 * One path length over several runs: which member of a ledger channel registers or concludes it is a
 * race between watchers, so the split between parties and the gas lost to duplicates move from run to
 * run; the gas of the transactions that did something (`usefulGas`) does not, up to calldata bytes.
 */
export interface VirtualDisputeSummary {
  readonly intermediaries: number;
  readonly runs: number;
  readonly networkGas: Spread;
  /** Gas of the transactions that changed something (network total minus duplicates and reverts). */
  readonly usefulGas: Spread;
  /** Gas of registrations already on record and of reverted transactions. */
  readonly wastedGas: Spread;
  /** The run whose network gas is the median, in full. */
  readonly representative: VirtualDisputeCase;
}

export interface VirtualDisputeRecord {
  readonly intermediaries1: VirtualDisputeSummary;
  readonly intermediaries3: VirtualDisputeSummary;
  readonly note: string;
}

const ONE = 10n ** 18n;
const FIVE = 5n * ONE;
const SECONDS = 3_600n;
const CHALLENGE_DURATION = 60n;
const terms: RentalTerms = { baseFee: 1_000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };
// A little above the terms: the chain clock moves between the quote and the intermediary's check.
const FEE = rentalFee(terms, 2n * ONE, SECONDS) + 100n;
const PAYMENTS = 10n;
const PAYMENT = 4n * 10n ** 16n; // 10 x 0.04: V ends at Alice 0.6, Bob 1.4

interface Member {
  readonly name: string;
  readonly address: Address;
  readonly client: Client;
  readonly chain: ChainPort;
  readonly watcher: Watcher;
  readonly events: ClientEvent[];
  stop(): Promise<void>;
}

async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`virtual dispute bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`virtual dispute bench: ${what}`);
}

function paid(p: Member, id: Hex): bigint {
  return p.events.reduce(
    (s, e) => (e.type === "withdrawn" && e.channelID === id ? s + (e.amounts[0] ?? 0n) : s),
    0n,
  );
}

interface Call {
  readonly op: string;
  /** The channel the call is about (register/conclude: the ledger channel; withdraw: the auth's). */
  readonly channel: Hex | undefined;
  readonly version: bigint | undefined;
}

/** What a transaction called, from its calldata (Adjudicator or ETH asset holder). */
function decodeCall(input: Hex): Call {
  for (const abi of [AdjudicatorAbi, AssetHolderETHAbi]) {
    let call: { functionName: string; args?: readonly unknown[] | undefined };
    try {
      call = decodeFunctionData({ abi, data: input }) as typeof call;
    } catch {
      continue; // not this contract's function
    }
    const [a0, a1] = call.args ?? [];
    const state =
      call.functionName === "register"
        ? (a0 as { state: { channelID: Hex; version: bigint } }).state
        : call.functionName === "conclude"
          ? (a1 as { channelID: Hex; version: bigint })
          : undefined;
    const channel =
      state?.channelID ??
      (call.functionName === "withdraw" ? (a0 as { channelID: Hex }).channelID : undefined);
    return { op: call.functionName, channel, version: state?.version };
  }
  return { op: input.slice(0, 10), channel: undefined, version: undefined };
}

interface Tx extends Call {
  readonly from: Address;
  readonly gas: number;
  readonly block: bigint;
  readonly ok: boolean;
}

/** Every transaction in blocks (from, to], in chain order, with its receipt's gasUsed. */
async function transactions(conn: ChainConnection, from: bigint, to: bigint): Promise<Tx[]> {
  const out: Tx[] = [];
  for (let b = from + 1n; b <= to; b++) {
    const block = await conn.publicClient.getBlock({ blockNumber: b, includeTransactions: true });
    for (const tx of block.transactions) {
      const receipt = await conn.publicClient.getTransactionReceipt({ hash: tx.hash });
      out.push({
        ...decodeCall(tx.input),
        from: tx.from,
        gas: Number(receipt.gasUsed),
        block: b,
        ok: receipt.status === "success",
      });
    }
  }
  return out;
}

function gasOf(txs: readonly Tx[]): PartyGas {
  const byOperation: Record<string, number> = {};
  for (const t of txs) {
    const op = t.ok ? t.op : `${t.op} (reverted)`;
    byOperation[op] = (byOperation[op] ?? 0) + t.gas;
  }
  return { total: txs.reduce((s, t) => s + t.gas, 0), transactions: txs.length, byOperation };
}

/** Bob offline after V is open and some payments; Alice disputes. `hubs` intermediaries on the path. */
export async function measureDisputeCase(hubs: number): Promise<VirtualDisputeCase> {
  const embedded = await createEmbeddedChain();
  const conn = await connectChain({ embedded });
  const { adjudicator, assetHolderETH } = await deployPerun(conn, devKey(0));
  const eth: Asset = { chainID: BigInt(conn.chainId), ethHolder: assetHolderETH, ccHolder: "0x" };
  const net = createMemoryNetwork();
  const running: Member[] = [];

  const member = async (name: string, index: number, intermediary: boolean): Promise<Member> => {
    const key = devKey(index);
    const signer = privateKeyToSigner(key);
    const store = createMemoryStore();
    const chain = new EthChain(conn, adjudicator, key);
    const client = new Client({
      signer,
      transport: net.transport(signer),
      store,
      chain,
      policy: devChainPolicy(conn.chainId, [assetHolderETH]),
      options: {
        peerTimeoutMs: 5_000,
        pollMs: 20,
        concludeFinalGraceMs: 200,
        ...(intermediary ? { intermediary: { terms } } : {}),
      },
    });
    const events: ClientEvent[] = [];
    client.onEvent((e) => events.push(e));
    client.onProposal(() => ({ accept: true }));
    await client.start();
    const watcher = new Watcher(chain, store, client, { pollMs: 20 });
    await watcher.start();
    const m: Member = {
      name,
      address: signer.address,
      client,
      chain,
      watcher,
      events,
      async stop() {
        await watcher.stop();
        await client.close();
        running.splice(running.indexOf(m), 1);
      },
    };
    running.push(m);
    return m;
  };

  try {
    const alice = await member("Alice", 1, false);
    const bob = await member("Bob", 2, false);
    const via: Member[] = [];
    for (let k = 0; k < hubs; k++) via.push(await member(`I${k + 1}`, 3 + k, true));
    const path = [alice, ...via, bob];
    const ledgers: Hex[] = [];
    for (let k = 0; k + 1 < path.length; k++) {
      const left = path[k] as Member;
      const right = path[k + 1] as Member;
      // Decreasing towards Bob by the intermediaries' margin (60 s): each can learn its right lock's
      // fate before a dispute of its left ledger channel ends. The last hop needs no margin.
      const challengeDuration = CHALLENGE_DURATION + BigInt(Math.max(0, hubs - 1 - k)) * 60n;
      const id = await left.client.openChannel({
        peer: right.address,
        assets: [eth],
        balances: [[FIVE, FIVE]],
        challengeDuration,
      });
      await until(
        () => left.client.channel(id).phase === "Acting" && right.client.channel(id).phase === "Acting",
        `ledger ${left.name}-${right.name} open`,
      );
      ledgers.push(id);
    }
    const v = await alice.client.openVirtualChannel({
      peer: bob.address,
      via: via.map((h) => h.address),
      ledger: ledgers[0] as Hex,
      peerLedger: ledgers.slice(1),
      balances: [[ONE, ONE]],
      fee: via.map(() => [FEE]),
      seconds: SECONDS,
      challengeDuration: CHALLENGE_DURATION,
    });
    await until(() => bob.client.channel(v).phase === "Acting", "Bob funded V");
    for (let i = 0n; i < PAYMENTS; i++) await alice.client.pay(v, PAYMENT);
    await bob.stop();
    net.disconnect(bob.address);

    const start = await conn.publicClient.getBlockNumber();
    const t0 = performance.now();
    await alice.client.dispute(ledgers[0] as Hex);
    // Time may only move once every ledger channel that locks V is registered (as in the real world,
    // where the intermediaries react within the challenge duration).
    await until(async () => {
      for (const id of ledgers) if ((await alice.chain.dispute(id)) === undefined) return false;
      return true;
    }, "every ledger channel of the path registered");
    const reactionMs = performance.now() - t0;
    // Late reactions (a member registering a ledger channel the other member registered first) still
    // come before the timeout in the real world: let them land before the clock moves.
    let registeredAt = await conn.publicClient.getBlockNumber();
    for (let quiet = 0; quiet < 20; ) {
      await new Promise((r) => setTimeout(r, 10));
      const head = await conn.publicClient.getBlockNumber();
      quiet = head === registeredAt ? quiet + 1 : 0;
      registeredAt = head;
    }

    const done = () =>
      alice.client.channel(ledgers[0] as Hex).phase === "Withdrawn" &&
      via.every((h, k) =>
        [ledgers[k], ledgers[k + 1]].every((id) => h.client.channel(id as Hex).phase === "Withdrawn"),
      );
    let challengeDurations = 0;
    let t1 = 0;
    while (!done()) {
      check(challengeDurations < 2 * hubs + 2, "not settled in time");
      await increaseTime(conn, CHALLENGE_DURATION);
      challengeDurations++;
      t1 = performance.now();
      await until(done, "Alice and every intermediary withdrew", 15_000).catch(() => undefined);
    }
    const afterTimeoutMs = performance.now() - t1;
    const end = await conn.publicClient.getBlockNumber();

    // The payouts: Alice V's outcome minus the fees, each intermediary exactly its fee, Bob's share waits.
    const vAlice = ONE - PAYMENTS * PAYMENT;
    const vBob = ONE + PAYMENTS * PAYMENT;
    const aliceGot = paid(alice, ledgers[0] as Hex);
    check(aliceGot === FIVE - ONE - BigInt(hubs) * FEE + vAlice, `Alice withdrew ${aliceGot}`);
    via.forEach((h, k) => {
      const gain = paid(h, ledgers[k] as Hex) + paid(h, ledgers[k + 1] as Hex) - 2n * FIVE;
      check(gain === FEE, `${h.name} netted ${gain}, not its fee ${FEE}`);
    });
    const bobWaiting = await alice.chain.holdings(eth, fundingId(ledgers[hubs] as Hex, bob.address));
    check(bobWaiting === FIVE - ONE + vBob, `Bob's share on chain is ${bobWaiting}`);

    const txs = await transactions(conn, start, end);
    const names = new Map(path.map((p) => [p.address.toLowerCase(), p.name]));
    const nameOf = (a: Address) => names.get(a.toLowerCase()) ?? a;
    const ledgerName = (id: Hex | undefined) => {
      const k = ledgers.findIndex((l) => l.toLowerCase() === id?.toLowerCase());
      return k < 0 ? (id ?? "?") : `${path[k]?.name}-${path[k + 1]?.name}`;
    };
    const of = (p: Member) => txs.filter((t) => nameOf(t.from) === p.name);
    check(of(bob).length === 0, "Bob, offline, sent a transaction");
    const paidBy = Object.fromEntries(path.slice(0, -1).map((p) => [p.name, gasOf(of(p))]));
    const hubsTotal = via.reduce((s, h) => s + (paidBy[h.name]?.total ?? 0), 0);
    const l1 = (ledgers[0] as Hex).toLowerCase();
    const onL1 = (op: string, who?: string) =>
      txs.find(
        (t) => t.ok && t.op === op && t.channel?.toLowerCase() === l1 && (!who || nameOf(t.from) === who),
      );
    const aliceRegister = onL1("register", "Alice")?.gas ?? 0;
    const l1Conclude = onL1("conclude");
    const aliceWithdraw = onL1("withdraw", "Alice")?.gas ?? 0;
    const redundant = txs.filter(
      (t, i) =>
        t.op === "register" &&
        txs
          .slice(0, i)
          .some((u) => u.op === "register" && u.channel === t.channel && u.version === t.version),
    );
    const reverted = txs.filter((t) => !t.ok);
    // Blocks on the critical path (see VirtualDisputeCase): 1 + the most registrations of one
    // intermediary + the longest run of one party's transactions after the timeout.
    const before = (p: Member) => of(p).filter((t) => t.block <= registeredAt).length;
    const after = (p: Member) => of(p).filter((t) => t.block > registeredAt).length;
    const blocksOnCriticalPath =
      1 + Math.max(...via.map((h) => before(h))) + Math.max(...path.map((p) => after(p)));

    return {
      intermediaries: hubs,
      alice: {
        register: aliceRegister,
        conclude: l1Conclude?.gas ?? 0,
        withdraw: aliceWithdraw,
        total: aliceRegister + (l1Conclude?.gas ?? 0) + aliceWithdraw,
        concludedBy: l1Conclude ? nameOf(l1Conclude.from) : "nobody",
      },
      paid: paidBy,
      hubsTotal,
      networkTotal: txs.reduce((s, t) => s + t.gas, 0),
      redundantRegistrations: { count: redundant.length, gas: redundant.reduce((s, t) => s + t.gas, 0) },
      reverted: { count: reverted.length, gas: reverted.reduce((s, t) => s + t.gas, 0) },
      transactions: txs.length,
      log: txs.map(
        (t) =>
          `${nameOf(t.from)} ${t.op} ${ledgerName(t.channel)} ${t.gas}${t.ok ? "" : " (reverted)"}${redundant.includes(t) ? " (already on record)" : ""}`,
      ),
      challengeDurations,
      challengeDurationSeconds: Number(CHALLENGE_DURATION),
      blocksOnCriticalPath,
      reactionMs: Math.round(reactionMs),
      afterTimeoutMs: Math.round(afterTimeoutMs),
    };
  } finally {
    for (const m of [...running]) await m.stop();
  }
}

function spread(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? 0, min: s[0] ?? 0, max: s[s.length - 1] ?? 0 };
}

async function summary(hubs: number, runs: number): Promise<VirtualDisputeSummary> {
  const cases: VirtualDisputeCase[] = [];
  for (let r = 0; r < runs; r++) cases.push(await measureDisputeCase(hubs));
  const wasted = (c: VirtualDisputeCase) => c.redundantRegistrations.gas + c.reverted.gas;
  const byNetwork = [...cases].sort((a, b) => a.networkTotal - b.networkTotal);
  return {
    intermediaries: hubs,
    runs,
    networkGas: spread(cases.map((c) => c.networkTotal)),
    usefulGas: spread(cases.map((c) => c.networkTotal - wasted(c))),
    wastedGas: spread(cases.map(wasted)),
    representative: byNetwork[Math.floor(runs / 2)] as VirtualDisputeCase,
  };
}

export async function measureVirtualDispute(runs = 5): Promise<VirtualDisputeRecord> {
  return {
    intermediaries1: await summary(1, runs),
    intermediaries3: await summary(3, runs),
    note:
      "Bob offline after V is open and 10 payments; Alice registers her ledger channel with V, every " +
      "intermediary's watcher registers its ledger channels that lock V (V itself is on chain already), " +
      "the clock moves one challenge duration at a time until Alice and every intermediary withdrew. Gas: " +
      "receipt gasUsed of every transaction from Alice's registration on, by sender and decoded operation, " +
      "on a fresh embedded chain per run. Both members of a ledger channel react: who registers or " +
      "concludes it first is a race, the other one's transaction is a registration already on record " +
      "(skipped by the contract, gas spent) or a reverted conclude; hence the split between parties and " +
      "the wasted gas vary by run (representative = the run with the median network gas). Real-world " +
      "time = challengeDurations x challengeDurationSeconds + blocksOnCriticalPath blocks; reactionMs and " +
      "afterTimeoutMs are the clients' off-chain part here (20 ms polling).",
  };
}
