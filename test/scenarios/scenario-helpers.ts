/**
 * Shared pieces of the attack / crash / funding scenarios (ledger-dispute, ledger-crash,
 * ledger-funding, virtual-dispute): one `perun chain` process per file with a reader on it
 * (holdings, dispute record, Withdrawn events, chain-time moves via evm_increaseTime + evm_mine),
 * node specs that can be started, killed (-9) and restarted on the same config and database (and
 * whose database can be copied once the node is down), and the node's JSON log. Built on
 * ./processes.ts; every wait is bounded.
 */
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createPublicClient, http, type PublicClient, parseAbiItem } from "viem";
import { EthChain } from "../../src/chain/chain-port.js";
import { type ChainConnection, connectChain } from "../../src/chain/connection.js";
import { increaseTime } from "../../src/chain/devtools.js";
import { fundingId } from "../../src/channel/hash.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Address, Asset, Hex } from "../../src/channel/types.js";
import type { ApiChannel } from "../../src/node/api-client.js";
import {
  type ChainProcess,
  freePort,
  type NodeConfigJson,
  type NodeProcess,
  nodeConfig,
  spawnChain,
  spawnNode,
  tempDir,
  until,
} from "./processes.js";

/** The chain process of a test file and what the test reads from it. */
export interface Scene {
  readonly chain: ChainProcess;
  readonly rpc: PublicClient;
  readonly conn: ChainConnection;
  /** Read-only use (dispute record, holdings); pays no gas. */
  readonly reader: EthChain;
  readonly eth: Asset;
  readonly dir: string;
  key(i: number): Hex;
  /** Moves chain time by `seconds` (evm_increaseTime + evm_mine): never sleep for chain time. */
  advance(seconds: number): Promise<void>;
  holdings(id: Hex, who: Address): Promise<bigint>;
  /** Amounts of the Withdrawn events of `who`'s funding id in channel `id`. */
  withdrawn(id: Hex, who: Address): Promise<bigint[]>;
}

const WITHDRAWN = parseAbiItem(
  "event Withdrawn(bytes32 indexed fundingID, uint256 amount, address receiver)",
);

export async function startScene(): Promise<Scene> {
  const chain = await spawnChain();
  const rpc = createPublicClient({ transport: http(chain.info.rpcUrl) }) as PublicClient;
  const conn = await connectChain({ rpcUrl: chain.info.rpcUrl });
  const key = (i: number): Hex => {
    const k = chain.info.devKeys[i];
    if (k === undefined) throw new Error(`no dev key ${i}`);
    return k;
  };
  const reader = new EthChain(conn, chain.info.contracts.adjudicator, key(0));
  const eth: Asset = {
    chainID: BigInt(chain.info.chainId),
    ethHolder: chain.info.contracts.assetHolderETH,
    ccHolder: "0x",
  };
  return {
    chain,
    rpc,
    conn,
    reader,
    eth,
    dir: tempDir(),
    key,
    advance: (seconds) => increaseTime(conn, seconds),
    holdings: (id, who) => reader.holdings(eth, fundingId(id, who)),
    async withdrawn(id, who) {
      const logs = await rpc.getLogs({
        address: eth.ethHolder,
        event: WITHDRAWN,
        args: { fundingID: fundingId(id, who) },
        fromBlock: 0n,
        toBlock: "latest",
      });
      return logs.map((l) => l.args.amount as bigint);
    },
  };
}

/** A node that can be (re)started on the same config file and database. */
export interface NodeSpec {
  readonly name: string;
  readonly key: Hex;
  readonly address: Address;
  readonly wirePort: number;
  readonly wireUrl: string;
  config: NodeConfigJson;
}

export async function nodeSpec(scene: Scene, name: string, keyIndex: number): Promise<NodeSpec> {
  const key = scene.key(keyIndex);
  const wirePort = await freePort();
  return {
    name,
    key,
    address: privateKeyToSigner(key).address,
    wirePort,
    wireUrl: `ws://127.0.0.1:${wirePort}`,
    config: nodeConfig(scene.chain.info, { db: `${name}.db`, wirePort, peers: {} }),
  };
}

/** Two node specs that know each other's wire URL. */
export async function nodePair(
  scene: Scene,
  a: [name: string, keyIndex: number],
  b: [name: string, keyIndex: number],
): Promise<[NodeSpec, NodeSpec]> {
  const sa = await nodeSpec(scene, ...a);
  const sb = await nodeSpec(scene, ...b);
  sa.config = { ...sa.config, peers: { [sb.address]: sb.wireUrl } };
  sb.config = { ...sb.config, peers: { [sa.address]: sa.wireUrl } };
  return [sa, sb];
}

/** Starts (or restarts, on the same config and database) the node of `spec`. */
export function runNode(scene: Scene, spec: NodeSpec): Promise<NodeProcess> {
  return spawnNode(scene.dir, spec.name, spec.config, { PERUN_KEY: spec.key });
}

/** kill -9 and wait for the exit. */
export async function crash(node: NodeProcess): Promise<void> {
  node.kill("SIGKILL");
  await node.waitExit(10_000);
}

/** The node's JSON log lines (stderr) so far; non-JSON lines are skipped. */
export function logLines(node: NodeProcess): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of node.stderr().split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by kill -9
    }
  }
  return out;
}

/** Resolves once both nodes show the same version and balances of `id` in phase Acting. */
export async function untilInSync(
  a: NodeProcess,
  b: NodeProcess,
  id: Hex,
  ms = 30_000,
): Promise<[ApiChannel, ApiChannel]> {
  let views: [ApiChannel, ApiChannel] | undefined;
  await until(
    async () => {
      try {
        const va = await a.api.channel(id);
        const vb = await b.api.channel(id);
        views = [va, vb];
        return (
          va.phase === "Acting" &&
          vb.phase === "Acting" &&
          va.version === vb.version &&
          JSON.stringify(va.balances) === JSON.stringify(vb.balances)
        );
      } catch {
        return false;
      }
    },
    `${id.slice(0, 10)} in sync on both nodes (last seen ${JSON.stringify(views)})`,
    ms,
  );
  return views as [ApiChannel, ApiChannel];
}

/** Retries `fn` (e.g. a payment while the peer restarts) until it succeeds; bounded. */
export async function retry<T>(
  fn: () => Promise<T>,
  what: string,
  ms = 45_000,
): Promise<{ value: T; failures: string[] }> {
  const end = Date.now() + ms;
  const failures: string[] = [];
  for (;;) {
    try {
      return { value: await fn(), failures };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      failures.push(`${e.code ?? "?"}: ${e.message ?? String(err)}`);
      if (Date.now() > end) throw new Error(`${what} kept failing: ${failures.slice(-5).join(" | ")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A's balance of asset 0 in an API view (as bigint). */
export function balanceOf(view: ApiChannel, idx: number): bigint {
  const b = view.balances?.[0]?.[idx];
  if (b === undefined) throw new Error(`no balance ${idx} in ${JSON.stringify(view)}`);
  return BigInt(b);
}

export { until };

/** Node specs that all know each other's wire URL (e.g. Alice, Ingrid and Bob of a virtual channel). */
export async function nodeMesh(
  scene: Scene,
  nodes: readonly [name: string, keyIndex: number][],
): Promise<NodeSpec[]> {
  const specs: NodeSpec[] = [];
  for (const [name, keyIndex] of nodes) specs.push(await nodeSpec(scene, name, keyIndex));
  for (const s of specs) {
    const peers = Object.fromEntries(specs.filter((o) => o !== s).map((o) => [o.address, o.wireUrl]));
    s.config = { ...s.config, peers };
  }
  return specs;
}

/**
 * Copies the database of a node that is not running (killed or stopped) to `<to>.db`, with its WAL
 * file: what a cheater keeps to register an old state later. Returns the copy's path.
 */
export function copyDatabase(scene: Scene, spec: NodeSpec, to: string): string {
  const from = join(scene.dir, `${spec.name}.db`);
  const dest = join(scene.dir, `${to}.db`);
  copyFileSync(from, dest);
  if (existsSync(`${from}-wal`)) copyFileSync(`${from}-wal`, `${dest}-wal`);
  return dest;
}
