/**
 * The node daemon (design.md section 2, top layer): wires the edges to one Client from a config
 * file: the store (SQLite, or Postgres for a hub), WebSocket transport (listening, with the configured peers), the chain
 * (EthChain with the node's key), the Watcher and the local API; with "intermediary" terms in the
 * config, the client also offers virtual channels through its ledger channels. Restart-safe by
 * construction: `client.start()` restores every channel from the store and re-syncs with peers as
 * they connect, and the watcher resumes from the last block it stored.
 *
 * The local API needs the secret in `<dataDir>/<db name>.api-secret` (created 0600 at first start, reused after;
 * an unsafe one stops the node before anything else starts), and the node leaves a pointer to that file
 * in its user's run directory so that the CLI finds it from the API URL alone (src/node/api-secret.ts).
 *
 * @example
 * const node = await startNode(loadConfig("alice.json"));
 * console.log(node.address, node.apiUrl);
 * await node.stop();
 */

import { EthChain } from "../chain/chain-port.js";
import { type ChainConnection, connectChain } from "../chain/connection.js";
import { signingPolicy } from "../channel/policy.js";
import { privateKeyToSigner } from "../channel/signer.js";
import type { Address, Asset } from "../channel/types.js";
import { Client, type Logger } from "../client/client.js";
import { closeStore, openStore } from "../store/open-store.js";
import { Watcher } from "../watcher/watcher.js";
import { createWsTransport, type WsTransport } from "../wire/index.js";
import { type ApiServer, startApi } from "./api.js";
import { loadOrCreateApiSecret, removeApiPointer, writeApiPointer } from "./api-secret.js";
import { appsByAddress } from "./apps.js";
import type { NodeConfig } from "./config.js";
import { ContractsMissingError } from "./errors.js";
import { loadNodeKey } from "./key.js";
import { jsonLogger } from "./log.js";

export interface NodeHandle {
  readonly address: Address;
  readonly chainId: number;
  readonly apiUrl: string;
  /** The file with the local API's secret (mode 0600); clients send its content as a bearer token. */
  readonly apiSecretFile: string;
  readonly wireUrl: string;
  readonly client: Client;
  /** Stops API, watcher, client, transport and store, in that order; idempotent. */
  stop(): Promise<void>;
  /**
   * Resolves once the node has stopped itself because its store failed for good (a commit failed,
   * the database server went away): it cannot keep what it would sign, so it signs nothing more.
   * Pending while the node runs; `perun node` exits with the error.
   */
  readonly failed: Promise<Error>;
}

export interface StartNodeOptions {
  /** Where the key's environment variables are read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Default: JSON lines on stderr. */
  readonly log?: Logger;
  /** How long to wait for a peer's answer (ms, default 10 s). */
  readonly peerTimeoutMs?: number;
}

export async function startNode(config: NodeConfig, options: StartNodeOptions = {}): Promise<NodeHandle> {
  const log = options.log ?? jsonLogger();
  const env = options.env ?? process.env;
  // First: an unsafe secret file must stop the node before it touches the chain or its peers.
  const apiSecret = loadOrCreateApiSecret(config.apiSecretFile);
  const key = await loadNodeKey(config.key, env);
  const signer = privateKeyToSigner(key);
  // Everything opened so far, closed in reverse if a later step fails.
  const cleanup: (() => Promise<void> | void)[] = [];
  const unwind = async () => {
    for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => undefined);
  };
  try {
    const conn = await connectChain({ rpcUrl: config.chain.rpcUrl });
    await requireCode(conn, "contracts.adjudicator", config.contracts.adjudicator);
    for (const [sym, holder] of Object.entries(config.contracts.assets)) {
      await requireCode(conn, `contracts.assets.${sym}`, holder);
    }
    for (const [name, app] of Object.entries(config.contracts.apps)) {
      await requireCode(conn, `contracts.apps.${name}`, app);
    }
    const apps = appsByAddress(config.contracts.apps);
    const { store, where } = await openStore(config.store);
    // Awaits the last commit (Postgres): stop() resolves only once everything written is in the database.
    cleanup.push(() => closeStore(store));
    const transport: WsTransport = await createWsTransport({
      signer,
      listen: config.wire,
      log: (level, msg, details) => log(level, msg, { component: "wire", ...details }),
    });
    cleanup.push(() => transport.close());
    for (const [peer, url] of Object.entries(config.peers)) transport.addPeer(peer as Address, url);

    const chain = new EthChain(conn, config.contracts.adjudicator, key);
    const holders = config.contracts.assets;
    const policy = signingPolicy({
      chainId: BigInt(conn.chainId),
      assetHolders: Object.values(holders),
      apps: Object.values(config.contracts.apps),
      challengeDuration: config.policy.challengeDuration,
      fundingTimeout: config.policy.fundingTimeout,
      maxDeposit: Object.fromEntries(
        Object.entries(config.policy.maxDeposit).map(([sym, cap]) => [holders[sym] as Address, cap]),
      ),
      virtualSeconds: config.policy.virtualSeconds,
      challengeMargin: config.policy.challengeMargin,
      updates: config.accept.updates,
    });
    const client = new Client({
      apps,
      policy,
      signer,
      transport,
      store,
      chain,
      log: (level, msg, details) => log(level, msg, { component: "client", ...details }),
      options: {
        pollMs: config.pollMs,
        ...(options.peerTimeoutMs === undefined ? {} : { peerTimeoutMs: options.peerTimeoutMs }),
        ...(config.intermediary === undefined ? {} : { intermediary: { terms: config.intermediary } }),
      },
    });
    cleanup.push(() => client.close());
    // Proposals reach this handler only once the signing policy allowed them: "accept" means "accept
    // what the policy allows", never "accept anything".
    client.onProposal((p) => {
      log("info", config.accept.proposals ? "accepting channel proposal" : "rejecting channel proposal", {
        peer: p.from,
        virtual: p.params.virtualChannel,
        balances: p.initial.outcome.balances.map((r) => r.map((b) => b.toString())),
      });
      return config.accept.proposals
        ? { accept: true }
        : { accept: false, reason: "this node accepts no proposals" };
    });
    // Every payment is an "updated" event: debug, so the info log stays readable under load.
    client.onEvent((e) =>
      log(e.type === "updated" ? "debug" : "info", `channel ${e.type}`, { component: "client", ...e }),
    );
    await client.start();

    const watcher = new Watcher(chain, store, client, {
      pollMs: config.pollMs,
      log: (level, msg, details) => log(level, msg, { component: "watcher", ...details }),
    });
    await watcher.start();
    cleanup.push(() => watcher.stop());

    const chainId = conn.chainId;
    const assets: Record<string, Asset> = {};
    for (const [sym, holder] of Object.entries(config.contracts.assets)) {
      assets[sym] = { chainID: BigInt(chainId), ethHolder: holder, ccHolder: "0x" };
    }
    const wireUrl = transport.url ?? "";
    const api: ApiServer = await startApi(
      {
        client,
        info: {
          address: signer.address,
          chainId,
          wireUrl,
          adjudicator: config.contracts.adjudicator,
          assets: config.contracts.assets,
          apps: config.contracts.apps,
          ...(config.intermediary === undefined ? {} : { intermediary: config.intermediary }),
        },
        assets,
        defaults: config.defaults,
        addPeer: (peer, url) => transport.addPeer(peer, url),
        auth: apiSecret,
        log: (level, msg, details) => log(level, msg, { component: "api", ...details }),
      },
      config.api,
    );
    cleanup.push(() => api.close());
    // Where the CLI finds the secret from the URL alone. Without it the API still works; clients then
    // need --api-secret-file, so a failure here is a warning, not a reason to stop.
    try {
      const pointer = writeApiPointer(config.api.host, api.port, apiSecret.file, env);
      cleanup.push(() => removeApiPointer(pointer));
    } catch (err) {
      log("warn", "api: no pointer file for the CLI; clients need --api-secret-file", {
        component: "api",
        error: (err as Error).message.split("\n")[0],
        secretFile: apiSecret.file,
      });
    }
    log("info", "node started", {
      address: signer.address,
      chainId,
      apiUrl: api.url,
      apiSecretFile: apiSecret.file,
      wireUrl,
      store: where,
    });

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= unwind().then(() => log("info", "node stopped", { address: signer.address }));
      return stopping;
    };
    const failed = store.failure().then(async (e): Promise<Error> => {
      // Nothing signed after this could be kept: stopping is safe (what the store holds is what the
      // peers may have seen, durable-first) and a restart on a repaired store resumes from there.
      log("error", "the store failed; the node stops", { store: where, error: e.message });
      await stop();
      return e;
    });
    return {
      address: signer.address,
      chainId,
      apiUrl: api.url,
      apiSecretFile: apiSecret.file,
      wireUrl,
      client,
      stop,
      failed,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

async function requireCode(conn: ChainConnection, what: string, address: Address): Promise<void> {
  const code = await conn.publicClient.getCode({ address });
  if (code === undefined || code === "0x") throw new ContractsMissingError(what, address, conn.url);
}
