/**
 * `npm run bench`: gas per on-chain operation against perun-eth-contracts
 * v1.0.0 compiled with our compiler settings (measured with the same scenario
 * on the same EVM, see bench/reference/), and signer speed against the
 * pure-JS fallback. Writes bench/results/latest.json and prints a readable
 * table.
 *
 * `node dist/bench/run.js --only gas,hub` runs only those sections (gas,
 * crypto, ledger, virtual, virtualDispute, hub, postgres) and keeps the others'
 * figures from latest.json; `npm run bench` runs them all.
 *
 * Section `postgres` runs the ledger and hub figures again with Postgres stores
 * (`ledger.postgres`, `ledger.sqliteFull`: SQLite with an fsync per commit, the
 * durability Postgres gives; `hub.postgres`), read against the SQLite figures of
 * the same run: selecting it runs `ledger` and `hub` too. Only this part:
 * `node dist/bench/run.js --only postgres`.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AdjudicatorBytecode,
  AssetHolderERC20Bytecode,
  AssetHolderETHBytecode,
  TestTokenBytecode,
  TrivialAppBytecode,
} from "../src/chain/generated/index.js";
import type { State } from "../src/channel/types.js";
import { type CryptoRecord, measureCrypto } from "./crypto.js";
import { type GasRecord, measureGas } from "./gas-scenario.js";
import { type HubRecord, measureHub } from "./hub.js";
import { type LedgerRecord, measureLedger } from "./ledger.js";
import { measureVirtual, type VirtualRecord } from "./virtual.js";
import { measureVirtualDispute, type VirtualDisputeSummary } from "./virtual-dispute.js";

// Compiled to dist/bench/run.js; sources and results live at the repository root.
const here = dirname(fileURLToPath(import.meta.url));
const root = here.includes(`${join("dist", "bench")}`) ? join(here, "..", "..") : join(here, "..");

const sampleState: State = {
  channelID: `0x${"ab".repeat(32)}`,
  version: 1n,
  outcome: {
    assets: [{ chainID: 31337n, ethHolder: `0x${"11".repeat(20)}`, ccHolder: "0x" }],
    backends: [0n],
    balances: [[10n ** 18n, 2n * 10n ** 18n]],
    locked: [],
  },
  appData: "0x",
  isFinal: false,
};

/** go-nitro's cooperative lifecycle: deposit + deposit + conclude-and-transfer (its published gas results). */
const GO_NITRO_COOPERATIVE = 187_418;

type ReferenceGas = Omit<GasRecord, "concludeFinalAndPayout" | "cooperativeWithPayout">;

interface ReferenceFile {
  reference: string;
  gas: ReferenceGas;
  compiler: unknown;
  evm: string;
}

const ratioOf = (a: number, b: number): number => Math.round((a / b) * 1000) / 1000;

/** Our gas figures next to the reference's (compiled with our settings): the gas sections of latest.json. */
async function gasSections() {
  const ours = await measureGas({
    adjudicator: AdjudicatorBytecode,
    assetHolderETH: AssetHolderETHBytecode,
    assetHolderERC20: AssetHolderERC20Bytecode,
    token: TestTokenBytecode,
    trivialApp: TrivialAppBytecode,
  });
  const readReference = (file: string) =>
    JSON.parse(readFileSync(join(root, "bench", "reference", file), "utf8")) as ReferenceFile;
  const reference = readReference("perun-eth-contracts-v1.0.0-our-settings.json");
  const asPublished = readReference("perun-eth-contracts-v1.0.0.json");
  const keys = Object.keys(reference.gas) as (keyof ReferenceGas)[];
  const ratio = Object.fromEntries(keys.map((k) => [k, ratioOf(ours[k], reference.gas[k])]));
  const withPayout = ours.cooperativeWithPayout ?? Number.POSITIVE_INFINITY;
  return {
    gas: ours,
    gasReference: {
      source: reference.reference,
      evm: reference.evm,
      compiler: reference.compiler,
      gas: reference.gas,
    },
    /** The earlier baseline, compiled with their truffle settings (optimizer 200 runs, no viaIR). */
    gasReferenceRuns200: { compiler: asPublished.compiler, gas: asPublished.gas },
    gasRatioOursToReference: {
      ...ratio,
      // Our cooperative lifecycle with the payout in the conclusion, against theirs (with withdrawals).
      cooperativeWithPayout: ratioOf(withPayout, reference.gas.cooperative),
    },
    gasTargets: {
      noOperationDearer: keys.every((k) => ours[k] <= reference.gas[k]),
      cooperativeWithPayoutBelowGoNitro: withPayout < GO_NITRO_COOPERATIVE,
      cooperativeWithPayoutBelow75PercentOfReference: withPayout < 0.75 * reference.gas.cooperative,
      disputeBelow75PercentOfReference: ours.dispute < 0.75 * reference.gas.dispute,
    },
    gasGoNitroCooperative: GO_NITRO_COOPERATIVE,
  };
}

type GasSections = Awaited<ReturnType<typeof gasSections>>;

/** The gas table of latest.md and of the printed output. */
function gasTable(g: GasSections): string {
  const n = (x: number | undefined) => (x === undefined ? "-" : x.toLocaleString("en-US"));
  const ref = g.gasReference.gas as Partial<Record<keyof GasRecord, number>>;
  const ratios = g.gasRatioOursToReference as Partial<Record<keyof GasRecord, number>>;
  // Our cooperative lifecycle with the payout is set against theirs with withdrawals.
  const refOf = (k: keyof GasRecord) => (k === "cooperativeWithPayout" ? ref.cooperative : ref[k]);
  const label = (k: keyof GasRecord) => (k === "cooperativeWithPayout" ? `${k} (ref: cooperative)` : k);
  const rows = (Object.keys(g.gas) as (keyof GasRecord)[]).map(
    (k) => `| ${label(k)} | ${n(g.gas[k])} | ${n(refOf(k))} | ${ratios[k]?.toFixed(3) ?? "-"} |`,
  );
  return [
    "| gas (receipt gasUsed) | perun-ts | perun-eth-contracts v1.0.0, our compiler settings | ours / ref |",
    "|---|---:|---:|---:|",
    ...rows,
    `| go-nitro cooperative (2 deposits + conclude-and-transfer) | | ${n(g.gasGoNitroCooperative)} | |`,
  ].join("\n");
}

/** The hub figures with the bound and the virtual-channel opens they are read against. */
type HubSection = HubRecord & {
  readonly signatureBound: number;
  readonly virtualOpensPerSecond: Record<string, number>;
};

/** A ledger or hub run on another store, with its rate over SQLite's of the same run. */
type Beside<T> = T & { readonly ratioToSqlite: number };
type LedgerSection = LedgerRecord & {
  readonly sqliteFull?: Beside<LedgerRecord> & { readonly ratio64ToSqlite: number };
  readonly postgres?: Beside<LedgerRecord> & { readonly ratio64ToSqlite: number };
};
type HubWithPostgres = HubSection & {
  readonly postgres?: Beside<HubRecord> & {
    readonly virtualOpensPerSecond: Record<string, number>;
    readonly virtualOpenLatencyMs: { readonly intermediaries1: number; readonly intermediaries3: number };
  };
};

/** Sections of the bench; `--only ledger,hub` runs those and keeps the others from latest.json. */
const SECTIONS = ["gas", "crypto", "ledger", "virtual", "virtualDispute", "hub", "postgres"] as const;
type Section = (typeof SECTIONS)[number];

function selected(): Set<Section> {
  const i = process.argv.indexOf("--only");
  if (i < 0) return new Set(SECTIONS);
  const names = (process.argv[i + 1] ?? "").split(",").filter((n) => n !== "");
  const bad = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (names.length === 0 || bad.length > 0) {
    throw new Error(
      `--only takes a comma-separated list of ${SECTIONS.join(", ")}; got "${process.argv[i + 1] ?? ""}"`,
    );
  }
  // Postgres's figures are read against SQLite's of the same run.
  if (names.includes("postgres")) names.push("ledger", "hub");
  return new Set(names as Section[]);
}

/** Ratio a / b to three places. */
const per = (a: number, b: number): number => Math.round((a / b) * 1000) / 1000;

async function main(): Promise<void> {
  const only = selected();
  const outDir = join(root, "bench", "results");
  const latest = join(outDir, "latest.json");
  // Sections not run this time keep their figures (and say when they were measured).
  const previous = (() => {
    try {
      return JSON.parse(readFileSync(latest, "utf8")) as Record<string, unknown>;
    } catch {
      return {};
    }
  })();
  const startedAt = new Date().toISOString();
  const gas = only.has("gas")
    ? await gasSections()
    : (Object.fromEntries(Object.entries(previous).filter(([k]) => k.startsWith("gas"))) as GasSections);
  const crypto =
    only.has("crypto") || only.has("ledger") ? measureCrypto(sampleState) : (previous.crypto as CryptoRecord);
  const sqliteLedger = only.has("ledger") ? await measureLedger(crypto) : (previous.ledger as LedgerSection);
  // The same ledger run on Postgres, and on SQLite with Postgres's durability (an fsync per commit).
  const beside = (r: LedgerRecord) => ({
    ...r,
    ratioToSqlite: per(r.updatesPerSecond, sqliteLedger.updatesPerSecond),
    ratio64ToSqlite: per(r.paymentsPerSecond64, sqliteLedger.paymentsPerSecond64),
  });
  const ledger: LedgerSection = only.has("postgres")
    ? {
        ...sqliteLedger,
        sqliteFull: beside(await measureLedger(crypto, undefined, "sqlite-full")),
        postgres: beside(await measureLedger(crypto, undefined, "postgres")),
      }
    : sqliteLedger;
  const virtual = only.has("virtual") ? await measureVirtual() : (previous.virtual as VirtualRecord);
  const virtualDispute = only.has("virtualDispute")
    ? await measureVirtualDispute()
    : (previous.virtualDispute as Awaited<ReturnType<typeof measureVirtualDispute>>);
  const hubOptions = {
    channels: 1_000,
    peerProcesses: 4,
    loadSeconds: 10,
    recoverWithinSeconds: 120,
    log: (l: string) => process.stderr.write(`hub: ${l}\n`),
  };
  const sqliteHub = only.has("hub")
    ? {
        ...(await measureHub(hubOptions)),
        signatureBound: ledger.signatureBound,
        virtualOpensPerSecond: virtual.hubScale.virtualOpensPerSecond,
      }
    : (previous.hub as HubWithPostgres | undefined);
  const hub: HubWithPostgres | undefined =
    only.has("postgres") && sqliteHub !== undefined
      ? {
          ...sqliteHub,
          postgres: await (async () => {
            const h = await measureHub({
              ...hubOptions,
              store: "postgres",
              log: (l) => process.stderr.write(`hub (postgres): ${l}\n`),
            });
            // The virtual-channel run's hub figures too: V opened and closed 1,000 times through one intermediary.
            const v = await measureVirtual(undefined, undefined, undefined, "postgres");
            return {
              ...h,
              ratioToSqlite: per(h.paymentsPerSecond, sqliteHub.paymentsPerSecond),
              virtualOpensPerSecond: v.hubScale.virtualOpensPerSecond,
              virtualOpenLatencyMs: v.openLatencyMs,
            };
          })(),
        }
      : sqliteHub;

  const result = {
    startedAt,
    sectionsRun: [...only],
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version },
    ...gas,
    crypto,
    ledger,
    virtual,
    virtualDispute,
    ...(hub === undefined ? {} : { hub }),
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(latest, `${JSON.stringify(result, null, 2)}\n`);

  const table = gasTable(gas);
  const cryptoTable = [
    "| signer | signs/s | recovers/s |",
    "|---|---:|---:|",
    `| ${crypto.signer} | ${crypto.signsPerSec.toLocaleString("en-US")} | ${crypto.recoversPerSec.toLocaleString("en-US")} |`,
    `| pure JS (@noble/curves) | ${crypto.pureJs.signsPerSec.toLocaleString("en-US")} | ${crypto.pureJs.recoversPerSec.toLocaleString("en-US")} |`,
    `| ratio | ${crypto.ratioVsPureJs.sign}x | ${crypto.ratioVsPureJs.recover}x |`,
    ...(crypto.keccak
      ? [
          "",
          "| keccak256 candidate | hashes/s, 64 B | hashes/s, 800 B |",
          "|---|---:|---:|",
          `| native binding (keccak package, in use) | ${crypto.keccak.native.b64.toLocaleString("en-US")} | ${crypto.keccak.native.b800.toLocaleString("en-US")} |`,
          `| pure JS (@noble/hashes) | ${crypto.keccak.noble.b64.toLocaleString("en-US")} | ${crypto.keccak.noble.b800.toLocaleString("en-US")} |`,
        ]
      : []),
  ].join("\n");
  const ledgerTable = [
    "| ledger channel, 2 processes, SQLite | figure |",
    "|---|---:|",
    `| updates/s | ${ledger.updatesPerSecond.toLocaleString("en-US")} |`,
    `| signature bound 1/(sign+recover) | ${ledger.signatureBound.toLocaleString("en-US")} |`,
    `| ratio to the bound | ${ledger.ratioToSignatureBound} |`,
    `| latency p50 / p99 (ms) | ${ledger.updateLatencyMs.p50} / ${ledger.updateLatencyMs.p99} |`,
    `| payments/s, 64 pay requests in flight (${ledger.payments64.updates} updates for ${ledger.payments64.payments}) | ${ledger.paymentsPerSecond64.toLocaleString("en-US")} (${ledger.ratio64ToSignatureBound}x the bound) |`,
    `| latency with 64 in flight p50 / p99 (ms) | ${ledger.payments64.latencyMs.p50} / ${ledger.payments64.latencyMs.p99} |`,
  ].join("\n");
  const hubTable =
    hub === undefined
      ? ""
      : [
          `| hub: one perun node, ${hub.channels} ledger channels, peers in ${hub.peerProcesses} processes | figure |`,
          "|---|---:|",
          `| channels opened in (s) | ${hub.openSeconds} |`,
          `| payments/s, every channel paying (bound ${hub.signatureBound}) | ${hub.paymentsPerSecond} (${(hub.paymentsPerSecond / hub.signatureBound).toFixed(3)}x) |`,
          `| payment latency p50 / p99 (ms) | ${hub.paymentLatencyMs.p50} / ${hub.paymentLatencyMs.p99} |`,
          `| hub memory per channel, KB: live heap / RSS with channels open / RSS under load | ${hub.liveHeapPerChannelKB} / ${hub.rssPerChannelKB} / ${hub.rssUnderLoadPerChannelKB} |`,
          `| killed under load: seconds until every channel paid again | ${hub.restartSeconds} |`,
          `| channels stuck after the restart | ${hub.stuckAfterRestart} |`,
          `| channels whose ends disagree once the load stopped | ${hub.viewsDiffer} |`,
          ...Object.entries(hub.virtualOpensPerSecond).map(
            ([n, v]) => `| virtual channel opens/s around V number ${n} | ${v} |`,
          ),
        ].join("\n");
  const virtualTable = [
    "| virtual channel (5 clients, WebSocket, SQLite) | 1 intermediary | 3 intermediaries |",
    "|---|---:|---:|",
    `| open latency (ms, median of ${virtual.rounds}) | ${virtual.openLatencyMs.intermediaries1} | ${virtual.openLatencyMs.intermediaries3} |`,
    `| close latency (ms, median of ${virtual.rounds}) | ${virtual.closeLatencyMs.intermediaries1} | ${virtual.closeLatencyMs.intermediaries3} |`,
    "",
    "| payments over V (3 intermediaries) | figure |",
    "|---|---:|",
    `| V updates/s (same setup: ledger ${virtual.ledgerUpdatesPerSecondSameSetup}/s) | ${virtual.updatesPerSecond} (${virtual.ratioToLedger}x) |`,
    `| messages received by the intermediaries per payment | ${virtual.intermediaryMessagesPerPayment} |`,
    "",
    `| one intermediary, ${virtual.hubScale.cycles} Vs opened and closed one after another | figure |`,
    "|---|---:|",
    ...Object.entries(virtual.hubScale.virtualOpensPerSecond).map(
      ([n, v]) => `| V opens/s around V number ${n} | ${v} |`,
    ),
    `| last / first | ${virtual.hubScale.lastToFirst} |`,
    ...Object.entries(virtual.hubScale.intermediaryRecords).map(
      ([n, v]) => `| her V records in the store after ${n} Vs | ${v} |`,
    ),
  ].join("\n");
  const disputeTable = virtualDisputeTable(virtualDispute.intermediaries1, virtualDispute.intermediaries3);
  const postgresTable = storesTable(ledger, hub);
  writeFileSync(
    join(outDir, "latest.md"),
    `${table}\n\n${cryptoTable}\n\n${ledgerTable}\n\n${hubTable}\n\n${postgresTable}\n\n${virtualTable}\n\n${disputeTable}\n`,
  );
  process.stdout.write(
    `${table}\n\n${cryptoTable}\n\n${ledgerTable}\n\n${hubTable}\n\n${postgresTable}\n\n${virtualTable}\n\n${disputeTable}\n\nstate encode+keccak: ${crypto.hashStatePerSec}/s\n`,
  );
  process.stdout.write(`targets: ${JSON.stringify(result.gasTargets)}\nwrote bench/results/latest.json\n`);
}

/** The ledger and hub figures of each store, measured in the same run ("" without a Postgres run). */
function storesTable(ledger: LedgerSection, hub: HubWithPostgres | undefined): string {
  const pg = ledger.postgres;
  const full = ledger.sqliteFull;
  if (pg === undefined || full === undefined) return "";
  const n = (x: number) => x.toLocaleString("en-US");
  const lat = (l: { p50: number; p99: number }) => `${l.p50} / ${l.p99}`;
  const row = (label: string, r: LedgerRecord, ratio: number, ratio64: number) =>
    `| ${label} | ${n(r.updatesPerSecond)} (${ratio}) | ${lat(r.updateLatencyMs)} | ${n(r.paymentsPerSecond64)} (${ratio64}) |`;
  const lines = [
    "| ledger channel, 2 processes, by store | updates/s (/ SQLite) | latency p50 / p99 (ms) | payments/s, 64 in flight (/ SQLite) |",
    "|---|---:|---:|---:|",
    row("SQLite (WAL, commit per write)", ledger, 1, 1),
    row("SQLite (WAL, fsync per commit)", full, full.ratioToSqlite, full.ratio64ToSqlite),
    row("Postgres (loopback, synchronous_commit on)", pg, pg.ratioToSqlite, pg.ratio64ToSqlite),
  ];
  const hp = hub?.postgres;
  if (hub !== undefined && hp !== undefined) {
    const hubRow = (label: string, a: string | number, b: string | number) => `| ${label} | ${a} | ${b} |`;
    const last = Object.keys(hp.virtualOpensPerSecond).at(-1) ?? "";
    lines.push(
      "",
      `| hub: one perun node, ${hub.channels} ledger channels, by store | SQLite | Postgres |`,
      "|---|---:|---:|",
      hubRow("channels opened in (s)", hub.openSeconds, hp.openSeconds),
      hubRow(
        "payments/s, every channel paying",
        hub.paymentsPerSecond,
        `${hp.paymentsPerSecond} (${hp.ratioToSqlite}x)`,
      ),
      hubRow("payment latency p50 / p99 (ms)", lat(hub.paymentLatencyMs), lat(hp.paymentLatencyMs)),
      hubRow("hub memory per channel (KB of RSS)", hub.rssPerChannelKB, hp.rssPerChannelKB),
      hubRow(
        "killed under load: seconds until every channel paid again",
        hub.restartSeconds,
        hp.restartSeconds,
      ),
      hubRow("channels stuck after the restart", hub.stuckAfterRestart, hp.stuckAfterRestart),
      hubRow("channels whose ends disagree once the load stopped", hub.viewsDiffer, hp.viewsDiffer),
      hubRow(
        `virtual channel opens/s around V number 50 / ${last} (SQLite: the virtual section's figures)`,
        `${hub.virtualOpensPerSecond["50"]} / ${hub.virtualOpensPerSecond[last]}`,
        `${hp.virtualOpensPerSecond["50"]} / ${hp.virtualOpensPerSecond[last]}`,
      ),
    );
  }
  return lines.join("\n");
}

/** Gas and time of a virtual-channel dispute (Bob offline), one column per path length. */
function virtualDisputeTable(...cases: VirtualDisputeSummary[]): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const row = (label: string, cell: (c: VirtualDisputeSummary) => string) =>
    `| ${label} | ${cases.map(cell).join(" | ")} |`;
  const hubNames = [...new Set(cases.flatMap((c) => Object.keys(c.representative.paid)))].filter(
    (name) => name !== "Alice",
  );
  return [
    `| virtual dispute, Bob offline (gas, representative of ${cases[0]?.runs} runs) | ${cases.map((c) => `${c.intermediaries} intermediar${c.intermediaries === 1 ? "y" : "ies"}`).join(" | ")} |`,
    `|---|${cases.map(() => "---:").join("|")}|`,
    row("Alice: register (her ledger channel + V)", (c) => n(c.representative.alice.register)),
    row("Alice: conclude (her ledger channel)", (c) => {
      const a = c.representative.alice;
      return a.concludedBy === "Alice" ? n(a.conclude) : `${n(a.conclude)} (sent by ${a.concludedBy})`;
    }),
    row("Alice: withdraw", (c) => n(c.representative.alice.withdraw)),
    row("Alice: total (when she concludes)", (c) => n(c.representative.alice.total)),
    ...hubNames.map((h) =>
      row(`${h}: paid (transactions)`, (c) => {
        const g = c.representative.paid[h];
        return g ? `${n(g.total)} (${g.transactions})` : "-";
      }),
    ),
    row(
      "network total, median (min - max)",
      (c) => `${n(c.networkGas.median)} (${n(c.networkGas.min)} - ${n(c.networkGas.max)})`,
    ),
    row("of which duplicates and reverts, median", (c) => n(c.wastedGas.median)),
    row("network total without them, median", (c) => n(c.usefulGas.median)),
    row(
      "challenge durations waited",
      (c) => `${c.representative.challengeDurations} x ${c.representative.challengeDurationSeconds} s`,
    ),
    row("blocks on the critical path (estimate)", (c) => `${c.representative.blocksOnCriticalPath}`),
    row(
      "off-chain: reaction / after timeout (ms)",
      (c) => `${c.representative.reactionMs} / ${c.representative.afterTimeoutMs}`,
    ),
  ].join("\n");
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
