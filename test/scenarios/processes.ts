/**
 * Helpers for scenarios across separate OS processes: the `perun` binary (dist/, built by
 * `npm run build`) serving the chain (`perun chain --deploy`) and running nodes (`perun node`),
 * talked to over their local APIs. Every child is registered so that `killAll()` (in afterAll)
 * ends them even when a test fails. Waits are on process output and conditions with bounded
 * timeouts, never on time alone. A node's ApiClient carries the node's API secret, read from the
 * file the node names when it is up (apiSecretFile; this process runs as the node's user).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Address, Hex } from "../../src/channel/types.js";
import { ApiClient } from "../../src/node/api-client.js";

export const BIN = join(import.meta.dirname, "..", "..", "dist", "src", "cli", "main.js");

export interface ChainInfo {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly contracts: {
    readonly adjudicator: Address;
    readonly assetHolderETH: Address;
    readonly apps: { readonly tictactoe: Address };
  };
  readonly devKeys: readonly Hex[];
}

export interface Child {
  readonly proc: ChildProcess;
  /** Everything the child wrote to stderr so far (the node's JSON log lines). */
  readonly stderr: () => string;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code (or the signal) once the child has exited. */
  waitExit(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ChainProcess extends Child {
  readonly info: ChainInfo;
}

export interface NodeProcess extends Child {
  readonly address: Address;
  readonly apiUrl: string;
  /** The node's API secret file (mode 0600, in its data directory). */
  readonly apiSecretFile: string;
  readonly wireUrl: string;
  /** A client of the node's API with its secret. */
  readonly api: ApiClient;
  readonly configPath: string;
}

const children = new Set<ChildProcess>();

/** Kills every child still running (SIGKILL) and waits for them. For afterAll. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map(async (p) => {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once("exit", r));
        p.kill("SIGKILL");
        await exited;
      }
      children.delete(p);
    }),
  );
}

/** A port that was free a moment ago (bind 0, read, close). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (addr === null || typeof addr === "string") throw new Error("no TCP address");
  return addr.port;
}

/** A fresh temporary directory for configs and databases. */
export function tempDir(prefix = "perun-scenario-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** What a finished `perun` command printed, and its exit code. */
export interface PerunRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `perun <args>` to the end (the built CLI in its own process), with `env` added to this
 * process's environment, optionally as another Unix user (`as`, from the root directory).
 */
export function runPerun(
  args: readonly string[],
  env: Record<string, string> = {},
  as?: { uid: number; gid: number },
): Promise<PerunRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
      ...(as === undefined ? {} : { ...as, cwd: "/" }),
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => {
      stdout += d;
    });
    p.stderr.on("data", (d) => {
      stderr += d;
    });
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `perun <args>` and resolves with its first stdout line (parsed as JSON). */
async function spawnPerun(
  args: string[],
  env: NodeJS.ProcessEnv,
  startMs: number,
): Promise<{ child: Child; first: unknown }> {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  children.add(proc);
  let stdout = "";
  let stderr = "";
  proc.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once("exit", (code, signal) => {
      children.delete(proc);
      resolve({ code, signal });
    });
  });
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`perun ${args[0]} printed nothing within ${startMs} ms\n${stderr}`)),
      startMs,
    );
    proc.stdout?.on("data", (d) => {
      stdout += d;
      const nl = stdout.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(stdout.slice(0, nl));
      }
    });
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`perun ${args[0]} exited (${code ?? signal}) before it was up\n${stderr}`));
    });
  });
  const child: Child = {
    proc,
    stderr: () => stderr,
    kill: (signal = "SIGTERM") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    waitExit: (ms = 15_000) =>
      Promise.race([
        exit,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`perun ${args[0]} did not exit within ${ms} ms`)), ms).unref(),
        ),
      ]),
  };
  return { child, first: JSON.parse(first) };
}

/** `perun chain --port 0 --deploy`: the embedded chain over JSON-RPC, contracts deployed. */
export async function spawnChain(): Promise<ChainProcess> {
  const { child, first } = await spawnPerun(["chain", "--port", "0", "--deploy"], process.env, 60_000);
  return { ...child, info: first as ChainInfo };
}

/** Node config in the file format of src/node/config.ts (paths relative to the file). */
export type NodeConfigJson = Record<string, unknown>;

/**
 * Writes `config` to `<dir>/<name>.json` and runs `perun node --config` on it with `env` added to
 * this process's environment (e.g. PERUN_KEY). Resolves once the node printed its address and URLs.
 */
export async function spawnNode(
  dir: string,
  name: string,
  config: NodeConfigJson,
  env: Record<string, string> = {},
): Promise<NodeProcess> {
  const configPath = join(dir, `${name}.json`);
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const { child, first } = await spawnPerun(
    ["node", "--config", configPath],
    { ...process.env, ...env },
    30_000,
  );
  const info = first as { address: Address; apiUrl: string; apiSecretFile: string; wireUrl: string };
  const secret = readFileSync(info.apiSecretFile, "utf8").trim();
  return { ...child, ...info, api: new ApiClient(info.apiUrl, { secret }), configPath };
}

/** A node config for the chain of `chain`, with the given wire port and peers; api on a free port. */
export function nodeConfig(
  chain: ChainInfo,
  opts: {
    db: string;
    wirePort: number;
    peers?: Record<string, string>;
    acceptProposals?: boolean;
    pollMs?: number;
    /** Rental terms: the node offers virtual channels as an intermediary (config "intermediary"). */
    intermediary?: { baseFee: string; ratePerSecondPerUnit: string; maxDurationSeconds: number };
  },
): NodeConfigJson {
  return {
    key: { env: "PERUN_KEY" },
    chain: { rpcUrl: chain.rpcUrl },
    contracts: {
      adjudicator: chain.contracts.adjudicator,
      assets: { ETH: chain.contracts.assetHolderETH },
      apps: chain.contracts.apps,
    },
    wire: { host: "127.0.0.1", port: opts.wirePort },
    api: { host: "127.0.0.1", port: 0 },
    db: opts.db,
    peers: opts.peers ?? {},
    defaults: { challengeDuration: 60, fundingTimeout: 600 },
    accept: { proposals: opts.acceptProposals ?? true, updates: "gains-only" },
    // A development chain: time moves when the test says so; peers' channels may take our deposits.
    policy: {
      challengeDuration: { min: 1 },
      fundingTimeout: { min: 1 },
      maxDeposit: { ETH: "1000000000000000000000" },
      challengeMargin: 60,
    },
    ...(opts.intermediary === undefined ? {} : { intermediary: opts.intermediary }),
    pollMs: opts.pollMs ?? 50,
  };
}

/** Resolves when `pred` holds (polled); rejects after `ms` with `what`. */
export async function until(
  pred: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
