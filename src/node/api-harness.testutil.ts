/**
 * Test-only: two nodes in this process with a funded ledger channel, for the local API's auth tests
 * and fuzzer (src/node/api-auth.test.ts, src/node/api-fuzz.test.ts, bench/fuzz.ts). The embedded chain
 * is served over JSON-RPC on a free port, the stores are SQLite files in a temp dir, the wire is real
 * WebSocket. Bob opens the channel to Alice (Alice accepts proposals, Bob accepts none): so whatever
 * Alice's API is asked to open is refused by Bob before anything is deposited, and Alice's API, the
 * one under test, can only move money by paying Bob.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EthChain } from "../chain/chain-port.js";
import { connectChain } from "../chain/connection.js";
import { deployApps, deployPerun } from "../chain/deploy.js";
import { createEmbeddedChain, devKey } from "../chain/embedded.js";
import { type RpcServer, serveJsonRpc } from "../chain/rpc-server.js";
import { fundingId } from "../channel/hash.js";
import { privateKeyToSigner } from "../channel/signer.js";
import type { Address, Asset, Hex } from "../channel/types.js";
import { ApiClient } from "./api-client.js";
import { type NodeConfig, parseConfig } from "./config.js";
import { type NodeHandle, startNode } from "./node.js";

export interface ApiHarness {
  readonly dir: string;
  readonly alice: NodeHandle;
  readonly bob: NodeHandle;
  /** Alice's and Bob's API, with their secrets. */
  readonly a: ApiClient;
  readonly b: ApiClient;
  /** The funded channel Bob opened to Alice. */
  readonly channelID: Hex;
  readonly eth: Asset;
  /**
   * Config of a node, to restart it on the same database and data directory; `extra` overrides
   * fields (a `store` in it replaces the SQLite `db`).
   */
  config(name: "alice" | "bob", extra?: Record<string, unknown>): NodeConfig;
  readonly env: Record<string, string>;
  /** On-chain holdings of `who` in channel `id`. */
  holdings(id: Hex, who: Address): Promise<bigint>;
  /** The node log lines so far (JSON), for failure messages. */
  readonly logs: string[];
  stop(): Promise<void>;
}

export interface ApiHarnessOptions {
  /** Bob's and Alice's deposits into the channel (wei). */
  readonly deposits?: readonly [bigint, bigint];
  /** Log to `logs` (default); false: drop the logs (the fuzzer's long runs). */
  readonly keepLogs?: boolean;
}

export async function startApiHarness(options: ApiHarnessOptions = {}): Promise<ApiHarness> {
  const embedded = await createEmbeddedChain();
  const rpc: RpcServer = await serveJsonRpc(embedded.provider, { port: 0 });
  const conn = await connectChain({ rpcUrl: rpc.url });
  const contracts = await deployPerun(conn, devKey(0));
  const { ticTacToeApp } = await deployApps(conn, devKey(0));
  const dir = mkdtempSync(join(tmpdir(), "perun-api-harness-"));
  const logs: string[] = [];
  const keep = options.keepLogs ?? true;
  const log = (level: string, msg: string, details?: Record<string, unknown>) => {
    if (!keep) return;
    logs.push(JSON.stringify({ level, msg, ...details }, (_k, v) => (typeof v === "bigint" ? `${v}` : v)));
    if (logs.length > 2000) logs.splice(0, 1000);
  };
  const env = { KEY_alice: devKey(1), KEY_bob: devKey(2) };
  let bobWire = "";
  const config = (name: "alice" | "bob", extra: Record<string, unknown> = {}) =>
    parseConfig(
      {
        ...(extra.store === undefined ? { db: `${name}.db` } : {}),
        key: { env: `KEY_${name}` },
        chain: { rpcUrl: rpc.url },
        contracts: {
          adjudicator: contracts.adjudicator,
          assets: { ETH: contracts.assetHolderETH },
          apps: { tictactoe: ticTacToeApp },
        },
        wire: { host: "127.0.0.1", port: 0 },
        api: { host: "127.0.0.1", port: 0 },
        dataDir: name,
        ...(name === "alice" && bobWire !== ""
          ? { peers: { [privateKeyToSigner(devKey(2)).address]: bobWire } }
          : {}),
        defaults: { challengeDuration: 10, fundingTimeout: 60 },
        accept: { proposals: name === "alice", updates: "gains-only" },
        // A development chain: seconds, and peers' channels may take our deposit.
        policy: {
          challengeDuration: { min: 1 },
          fundingTimeout: { min: 1 },
          maxDeposit: { ETH: "1000000000000000000000" },
        },
        pollMs: 20,
        ...extra,
      },
      join(dir, `${name}.json`),
    );
  const opts = { env, log, peerTimeoutMs: 5_000 };
  const bob = await startNode(config("bob"), opts);
  bobWire = bob.wireUrl;
  const alice = await startNode(config("alice"), opts);
  // The secrets as given (read from the files the nodes name); discovery has its own tests.
  const a = new ApiClient(alice.apiUrl, { secret: readFileSync(alice.apiSecretFile, "utf8").trim() });
  const b = new ApiClient(bob.apiUrl, { secret: readFileSync(bob.apiSecretFile, "utf8").trim() });
  const [bobDeposit, aliceDeposit] = options.deposits ?? [10n ** 18n, 10n ** 18n];
  const { channelID } = await b.open({
    peer: alice.address,
    peerUrl: alice.wireUrl,
    deposit: bobDeposit,
    peerDeposit: aliceDeposit,
  });
  const end = Date.now() + 15_000;
  while ((await a.channel(channelID)).phase !== "Acting") {
    if (Date.now() > end)
      throw new Error(`Alice did not see the channel funded\n${logs.slice(-20).join("\n")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const eth: Asset = { chainID: BigInt(conn.chainId), ethHolder: contracts.assetHolderETH, ccHolder: "0x" };
  const reader = new EthChain(conn, contracts.adjudicator, devKey(0));
  return {
    dir,
    alice,
    bob,
    a,
    b,
    channelID,
    eth,
    config,
    env,
    holdings: (id, who) => reader.holdings(eth, fundingId(id, who)),
    logs,
    async stop() {
      await alice.stop();
      await bob.stop();
      await rpc.close();
    },
  };
}
