/**
 * In-process harness for client tests: one embedded EVM with the contracts,
 * an in-process network, and parties (Alice, Bob, ...) each with their own
 * client, store, chain port and watcher. Scenarios between separate OS
 * processes live in test/scenarios; this one is for fast, exact checks.
 */
import { EthAssetHolder } from "../../src/chain/asset-holder.js";
import { type ChainPort, EthChain } from "../../src/chain/chain-port.js";
import { type ChainConnection, connectChain } from "../../src/chain/connection.js";
import { deployApps, deployAssetHolderERC20, deployPerun } from "../../src/chain/deploy.js";
import { increaseTime } from "../../src/chain/devtools.js";
import { createEmbeddedChain, devKey } from "../../src/chain/embedded.js";
import { TestTokenAbi, TestTokenBytecode } from "../../src/chain/generated/index.js";
import { deploy } from "../../src/chain/transact.js";
import type { AppDefinition } from "../../src/channel/app.js";
import {
  DEV_CHAIN_BOUNDS,
  type SigningPolicy,
  type SigningPolicyInput,
  signingPolicy,
} from "../../src/channel/policy.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import { ticTacToeApp } from "../../src/channel/tictactoe.js";
import type { Address, Asset, Hex } from "../../src/channel/types.js";
import { Client, type ClientEvent, type ClientOptions } from "../../src/client/client.js";
import { createMemoryStore } from "../../src/store/memory-store.js";
import type { Store } from "../../src/store/store.js";
import { Watcher } from "../../src/watcher/watcher.js";
import { createMemoryNetwork, type MemoryNetwork } from "../../src/wire/memory-transport.js";
import type { Transport } from "../../src/wire/transport.js";

export interface Party {
  readonly name: string;
  readonly key: Hex;
  readonly address: Address;
  readonly client: Client;
  readonly store: Store;
  readonly chain: ChainPort;
  readonly watcher: Watcher;
  /** The party's own wire endpoint (a test may listen on it, or send forged messages from it). */
  readonly transport: Transport;
  readonly events: ClientEvent[];
  /** Log lines of the client ("level: message reason"). */
  readonly logs: string[];
  /**
   * Stops watcher and client (the store stays, as on disk). With `leave`, the party also leaves the
   * network, so that a restarted party with the same key can join it again (a crash and restart).
   */
  stop(opts?: { leave?: boolean }): Promise<void>;
}

export interface World {
  readonly conn: ChainConnection;
  /** The in-process network of the current test (see resetNetwork). */
  readonly net: MemoryNetwork;
  /** A fresh network, so that a test can reuse the dev keys of an earlier one. */
  resetNetwork(): void;
  readonly adjudicator: Address;
  readonly eth: Asset;
  readonly token: Address;
  readonly erc20: Asset;
  readonly ethHolder: EthAssetHolder;
  readonly tokenHolder: EthAssetHolder;
  /** The example app contracts; every party plays tic-tac-toe unless given `apps`. */
  readonly apps: { readonly ticTacToe: Address };
  party(
    name: string,
    index: number,
    opts?: {
      store?: Store;
      chain?: ChainPort;
      /** Default: a transport on the world's in-memory network. */
      transport?: Transport;
      options?: ClientOptions;
      policy?: Partial<SigningPolicyInput>;
      /** The apps the party plays, by contract address (default: tic-tac-toe). */
      apps?: ReadonlyMap<string, AppDefinition>;
    },
  ): Promise<Party>;
  /** The policy parties get by default: a development chain's bounds, our two asset holders, deposits up to 1,000 units. */
  policy(overrides?: Partial<SigningPolicyInput>): SigningPolicy;
  advance(seconds: number | bigint): Promise<void>;
}

export async function world(): Promise<World> {
  const embedded = await createEmbeddedChain();
  const conn = await connectChain({ embedded });
  const { adjudicator, assetHolderETH } = await deployPerun(conn, devKey(0));
  const holders = [1, 2, 3, 4, 5, 6].map((i) => privateKeyToSigner(devKey(i)).address);
  const token = (await deploy(conn, devKey(0), TestTokenAbi, TestTokenBytecode, [holders, 10n ** 24n]))
    .address;
  const erc20Holder = await deployAssetHolderERC20(conn, devKey(0), adjudicator, token);
  const { ticTacToeApp: ticTacToe } = await deployApps(conn, devKey(0));
  let net = createMemoryNetwork();
  const chainId = BigInt(conn.chainId);
  const policy = (overrides: Partial<SigningPolicyInput> = {}): SigningPolicy => {
    const cap = 1_000n * 10n ** 18n;
    return signingPolicy({
      chainId,
      assetHolders: [assetHolderETH, erc20Holder],
      ...DEV_CHAIN_BOUNDS,
      maxDeposit: { [assetHolderETH]: cap, [erc20Holder]: cap * 1_000_000n },
      ...overrides,
    });
  };
  return {
    conn,
    get net() {
      return net;
    },
    resetNetwork() {
      net = createMemoryNetwork();
    },
    adjudicator,
    eth: { chainID: chainId, ethHolder: assetHolderETH, ccHolder: "0x" },
    token,
    erc20: { chainID: chainId, ethHolder: erc20Holder, ccHolder: "0x" },
    ethHolder: new EthAssetHolder(conn, assetHolderETH),
    tokenHolder: new EthAssetHolder(conn, erc20Holder, token),
    apps: { ticTacToe },
    async party(name, index, opts = {}) {
      const key = devKey(index);
      const signer = privateKeyToSigner(key);
      const store = opts.store ?? createMemoryStore();
      const chain = opts.chain ?? new EthChain(conn, adjudicator, key);
      const logs: string[] = [];
      const transport = opts.transport ?? net.transport(signer);
      const apps = opts.apps ?? new Map([[ticTacToe.toLowerCase(), ticTacToeApp]]);
      const client = new Client({
        apps,
        log: (level, message, details) => logs.push(`${level}: ${message} ${JSON.stringify(details ?? {})}`),
        policy: policy({ apps: [...apps.keys()] as Address[], ...opts.policy }),
        signer,
        transport,
        store,
        chain,
        options: { peerTimeoutMs: 5_000, pollMs: 20, concludeFinalGraceMs: 200, ...opts.options },
      });
      const events: ClientEvent[] = [];
      client.onEvent((e) => events.push(e));
      client.onProposal(() => ({ accept: true }));
      await client.start();
      const watcher = new Watcher(chain, store, client, { pollMs: 20 });
      await watcher.start();
      return {
        name,
        key,
        address: signer.address,
        client,
        store,
        chain,
        watcher,
        transport,
        events,
        logs,
        async stop(opts = {}) {
          await watcher.stop();
          await client.close();
          if (opts.leave) await transport.close();
        },
      };
    },
    advance: (seconds) => increaseTime(conn, seconds),
    policy,
  };
}

/** Resolves when `pred` holds, polling; rejects after `ms`. For waiting on other actors, not on time. */
export async function until(
  pred: () => boolean | Promise<boolean>,
  ms = 15_000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
