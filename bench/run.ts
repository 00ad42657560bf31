/**
 * `npm run bench`: gas per on-chain operation against perun-eth-contracts
 * v1.0.0 compiled with our compiler settings (measured with the same scenario
 * on the same EVM, see bench/reference/), and signer speed against the
 * pure-JS fallback. Writes bench/results/latest.json and prints a readable
 * table.
 *
 * `node dist/bench/run.js --gas-only` measures gas only and replaces just the
 * gas sections of latest.json and the gas table of latest.md (seconds, not
 * the minutes of the whole run).
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
import { measureCrypto } from "./crypto.js";
import { type GasRecord, measureGas } from "./gas-scenario.js";
import { measureLedger } from "./ledger.js";
import { measureVirtual } from "./virtual.js";
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

/** `--gas-only`: replaces the gas sections of latest.json and the gas table of latest.md, keeps the rest. */
async function gasOnly(outDir: string): Promise<void> {
  const g = await gasSections();
  const jsonPath = join(outDir, "latest.json");
  const mdPath = join(outDir, "latest.md");
  const previous = JSON.parse(readFileSync(jsonPath, "utf8")) as Record<string, unknown>;
  // Same key order: the gas sections go where the old ones were.
  const merged: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(previous)) {
    if (!k.startsWith("gas")) merged[k] = v;
    else if (!("gas" in merged)) Object.assign(merged, g, { gasMeasuredAt: new Date().toISOString() });
  }
  writeFileSync(jsonPath, `${JSON.stringify(merged, null, 2)}\n`);
  const md = readFileSync(mdPath, "utf8");
  const cut = md.indexOf("\n\n");
  writeFileSync(mdPath, `${gasTable(g)}${cut < 0 ? "\n" : md.slice(cut)}`);
  process.stdout.write(`${gasTable(g)}\n\ntargets: ${JSON.stringify(g.gasTargets)}\n`);
  process.stdout.write("wrote the gas sections of bench/results/latest.json and latest.md\n");
}

async function main(): Promise<void> {
  const outDir = join(root, "bench", "results");
  if (process.argv.includes("--gas-only")) return gasOnly(outDir);
  const startedAt = new Date().toISOString();
  const gas = await gasSections();
  const crypto = measureCrypto(sampleState);
  const ledger = await measureLedger(crypto);
  const virtual = await measureVirtual();
  const virtualDispute = await measureVirtualDispute();

  const result = {
    startedAt,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version },
    ...gas,
    crypto,
    ledger,
    virtual,
    virtualDispute,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "latest.json"), `${JSON.stringify(result, null, 2)}\n`);

  const table = gasTable(gas);
  const cryptoTable = [
    "| signer | signs/s | recovers/s |",
    "|---|---:|---:|",
    `| ${crypto.signer} | ${crypto.signsPerSec.toLocaleString("en-US")} | ${crypto.recoversPerSec.toLocaleString("en-US")} |`,
    `| pure JS (@noble/curves) | ${crypto.pureJs.signsPerSec.toLocaleString("en-US")} | ${crypto.pureJs.recoversPerSec.toLocaleString("en-US")} |`,
    `| ratio | ${crypto.ratioVsPureJs.sign}x | ${crypto.ratioVsPureJs.recover}x |`,
  ].join("\n");
  const ledgerTable = [
    "| ledger channel, 2 processes, SQLite | figure |",
    "|---|---:|",
    `| updates/s | ${ledger.updatesPerSecond.toLocaleString("en-US")} |`,
    `| signature bound 1/(sign+recover) | ${ledger.signatureBound.toLocaleString("en-US")} |`,
    `| ratio to the bound | ${ledger.ratioToSignatureBound} |`,
    `| latency p50 / p99 (ms) | ${ledger.updateLatencyMs.p50} / ${ledger.updateLatencyMs.p99} |`,
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
  writeFileSync(
    join(outDir, "latest.md"),
    `${table}\n\n${cryptoTable}\n\n${ledgerTable}\n\n${virtualTable}\n\n${disputeTable}\n`,
  );
  process.stdout.write(
    `${table}\n\n${cryptoTable}\n\n${ledgerTable}\n\n${virtualTable}\n\n${disputeTable}\n\nstate encode+keccak: ${crypto.hashStatePerSec}/s\n`,
  );
  process.stdout.write(`targets: ${JSON.stringify(result.gasTargets)}\nwrote bench/results/latest.json\n`);
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
