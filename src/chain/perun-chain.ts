/**
 * A chain as a library user holds it (README "Use it as a library"): a connection plus the Perun
 * contracts on it, checked, ready for `createPerunClient`. Three ways to one:
 * - `createEmbeddedChain()`: an EVM in this process (Hardhat's EDR), the contracts deployed, dev
 *   accounts funded; time moves when you say so (`increaseTime`);
 * - `connectChain({ rpcUrl | provider, contracts })`: any EVM chain where the contracts are deployed
 *   (their code, and that each asset holder answers to the adjudicator, is checked before use);
 * - `deployContracts({ rpcUrl | provider, privateKey })`: deploys them first (anvil, a testnet).
 *
 * These build on the bare EVM (`createEmbeddedChain` of ./embedded.ts) and the bare connection
 * (`connectChain` of ./connection.ts), which the package does not export under their own names: one
 * name, one meaning.
 */
import type { EIP1193Provider } from "viem";
import { privateKeyToSigner } from "../channel/signer.js";
import type { Address, Hex } from "../channel/types.js";
import { describe, InvalidArgumentError } from "../errors.js";
import { addressOption, onlyFields, optionsObject } from "../options.js";
import { type ChainConnection, connectChain as connect } from "./connection.js";
import { deployApps, deployPerun } from "./deploy.js";
import { increaseTime } from "./devtools.js";
import { createEmbeddedChain as createEvm, devKeys } from "./embedded.js";
import { ContractsMissingError } from "./errors.js";
import { AssetHolderETHAbi } from "./generated/index.js";

/** Where the Perun contracts of a chain are. */
export interface PerunContracts {
  readonly adjudicator: Address;
  /** Asset holder by symbol; "ETH" holds the chain's native currency. */
  readonly assets: Readonly<Record<string, Address>>;
  /** App contracts by app name (e.g. { tictactoe: "0x..." }): the channels a client can play. */
  readonly apps?: Readonly<Record<string, Address>>;
}

/** A chain with the Perun contracts, checked: what `createPerunClient` takes as `chain`. */
export interface PerunChain {
  readonly chainId: number;
  /** "embedded", the JSON-RPC URL, or the provider's name ("eip1193" unless given). */
  readonly url: string;
  readonly contracts: PerunContracts;
  /**
   * A development chain (the embedded one): clients on it default to the signing policy's development
   * bounds (seconds, not hours; `DEV_CHAIN_BOUNDS`). False for every chain reached by URL or provider.
   */
  readonly dev: boolean;
  /** The viem clients and raw provider underneath, for reads and tools of your own. */
  readonly connection: ChainConnection;
  /** On-chain balance of `address` in wei. */
  balance(address: Address): Promise<bigint>;
}

/** The embedded chain: a `PerunChain` with funded development accounts and a clock you move. */
export interface EmbeddedPerunChain extends PerunChain {
  readonly dev: true;
  /**
   * Private keys of the funded development accounts (deterministic, the same on every start; never
   * use them on a real chain). `accounts[0]` deployed the contracts.
   */
  readonly accounts: readonly Hex[];
  /** Mines a block `seconds` later than the last one: how disputes run out without waiting. */
  increaseTime(seconds: number | bigint): Promise<void>;
}

export interface EmbeddedChainOptions {
  /** How many development accounts to fund (default 10, at most 100). */
  readonly accounts?: number;
  /** Wei each account starts with (default 1,000,000 ETH). */
  readonly balance?: bigint;
}

/** A chain reached by a JSON-RPC URL or an EIP-1193 provider. */
export type ChainEndpoint =
  | { readonly rpcUrl: string }
  | {
      readonly provider: EIP1193Provider;
      /** For messages (default "eip1193"). */
      readonly name?: string;
      /** How often to poll for receipts (ms, default 1,000). */
      readonly pollingMs?: number;
    };

export type ConnectChainOptions = ChainEndpoint & { readonly contracts: PerunContracts };

export type DeployContractsOptions = ChainEndpoint & {
  /** Pays for the deployment (about 3,000,000 gas). */
  readonly privateKey: Hex;
};

/**
 * Starts an EVM in this process (Hardhat's EDR), deploys the Perun contracts and funds development
 * accounts: a complete chain for tests, demos and trying things out. Nothing leaves the process.
 *
 * @example
 * const chain = await createEmbeddedChain();
 * const [, aliceKey, bobKey] = chain.accounts; // accounts[0] deployed the contracts
 * const alice = await createPerunClient({ signer: aliceKey, chain, store: "memory" });
 */
export async function createEmbeddedChain(options: EmbeddedChainOptions = {}): Promise<EmbeddedPerunChain> {
  const opts = optionsObject(options, "createEmbeddedChain options");
  onlyFields(opts, ["accounts", "balance"], "createEmbeddedChain options");
  const count = options.accounts ?? 10;
  if (!Number.isInteger(count) || count < 1 || count > 100) {
    throw new InvalidArgumentError("createEmbeddedChain option accounts", "an integer from 1 to 100", count);
  }
  if (options.balance !== undefined && (typeof options.balance !== "bigint" || options.balance < 0n)) {
    throw new InvalidArgumentError(
      "createEmbeddedChain option balance",
      "a non-negative bigint (wei)",
      options.balance,
    );
  }
  const accounts = devKeys(count);
  const evm = await createEvm({
    accounts,
    ...(options.balance === undefined ? {} : { balance: options.balance }),
  });
  const connection = await connect({ embedded: evm });
  const deployed = await deployPerun(connection, accounts[0] as Hex);
  const apps = await deployApps(connection, accounts[0] as Hex);
  return {
    ...perunChain(
      connection,
      {
        adjudicator: deployed.adjudicator,
        assets: { ETH: deployed.assetHolderETH },
        apps: { tictactoe: apps.ticTacToeApp },
      },
      true,
    ),
    dev: true,
    accounts,
    increaseTime: (seconds) => increaseTime(connection, seconds),
  };
}

/**
 * Connects to a chain where the Perun contracts are deployed, by JSON-RPC URL or EIP-1193 provider,
 * and checks that the contracts are there (code at each address, each asset holder answering to the
 * adjudicator) before anything is signed against them.
 *
 * @example
 * const chain = await connectChain({
 *   rpcUrl: "http://127.0.0.1:8545",
 *   contracts: { adjudicator: "0xCf7a...", assets: { ETH: "0xeE8d..." } },
 * });
 * // or, with any EIP-1193 provider (viem's `custom` transport underneath):
 * const chain2 = await connectChain({ provider: window.ethereum, contracts });
 */
export async function connectChain(options: ConnectChainOptions): Promise<PerunChain> {
  const connection = await endpoint(options, "connectChain", ["contracts"]);
  const contracts = checkContracts(options.contracts);
  await requireContracts(connection, contracts);
  return perunChain(connection, contracts, false);
}

/**
 * Deploys the Perun contracts (Adjudicator, AssetHolderETH, the example apps) on a chain and returns their addresses,
 * for `connectChain`. Once per chain, not per client.
 *
 * @example
 * const contracts = await deployContracts({ rpcUrl: "http://127.0.0.1:8545", privateKey: deployerKey });
 * const chain = await connectChain({ rpcUrl: "http://127.0.0.1:8545", contracts });
 */
export async function deployContracts(options: DeployContractsOptions): Promise<PerunContracts> {
  const connection = await endpoint(options, "deployContracts", ["privateKey"]);
  try {
    privateKeyToSigner(options.privateKey);
  } catch (cause) {
    throw new InvalidArgumentError(
      "deployContracts option privateKey",
      "a 0x-prefixed 32-byte private key",
      "(not shown)",
      `The key was refused: ${(cause as Error).message.split("\n")[0]}`,
    );
  }
  const d = await deployPerun(connection, options.privateKey);
  const apps = await deployApps(connection, options.privateKey);
  return {
    adjudicator: d.adjudicator,
    assets: { ETH: d.assetHolderETH },
    apps: { tictactoe: apps.ticTacToeApp },
  };
}

function perunChain(connection: ChainConnection, contracts: PerunContracts, dev: boolean): PerunChain {
  return {
    chainId: connection.chainId,
    url: connection.url,
    contracts,
    dev,
    connection,
    balance: (address) => connection.publicClient.getBalance({ address }),
  };
}

async function endpoint(
  options: ChainEndpoint,
  fn: string,
  extra: readonly string[],
): Promise<ChainConnection> {
  const opts = optionsObject(options, `${fn} options`);
  const hasUrl = opts.rpcUrl !== undefined;
  const hasProvider = opts.provider !== undefined;
  if (hasUrl === hasProvider) {
    throw new InvalidArgumentError(
      `${fn} options`,
      "exactly one of rpcUrl (a JSON-RPC URL) and provider (an EIP-1193 provider)",
      Object.keys(opts),
    );
  }
  if (hasUrl) {
    onlyFields(opts, ["rpcUrl", ...extra], `${fn} options`);
    if (typeof opts.rpcUrl !== "string") {
      throw new InvalidArgumentError(`${fn} option rpcUrl`, "an http(s):// or ws(s):// URL", opts.rpcUrl);
    }
    return connect({ rpcUrl: opts.rpcUrl });
  }
  onlyFields(opts, ["provider", "name", "pollingMs", ...extra], `${fn} options`);
  if (opts.name !== undefined && typeof opts.name !== "string") {
    throw new InvalidArgumentError(`${fn} option name`, "a string", opts.name);
  }
  const pollingMs = opts.pollingMs;
  if (pollingMs !== undefined && (!Number.isInteger(pollingMs) || (pollingMs as number) < 1)) {
    throw new InvalidArgumentError(`${fn} option pollingMs`, "a positive integer (ms)", pollingMs);
  }
  return connect({
    provider: opts.provider as EIP1193Provider,
    ...(opts.name === undefined ? {} : { name: opts.name as string }),
    ...(pollingMs === undefined ? {} : { pollingMs: pollingMs as number }),
  });
}

function checkContracts(value: unknown): PerunContracts {
  const c = optionsObject(value, "connectChain option contracts");
  onlyFields(c, ["adjudicator", "assets", "apps"], "connectChain option contracts");
  const address = (what: string, v: unknown): Address => addressOption(v, `connectChain option ${what}`);
  const adjudicator = address("contracts.adjudicator", c.adjudicator);
  const assets = optionsObject(c.assets, "connectChain option contracts.assets");
  if (Object.keys(assets).length === 0) {
    throw new InvalidArgumentError(
      "connectChain option contracts.assets",
      'at least one asset holder by symbol, e.g. { ETH: "0x..." }',
      assets,
    );
  }
  const apps = c.apps === undefined ? undefined : optionsObject(c.apps, "connectChain option contracts.apps");
  return {
    adjudicator,
    assets: Object.fromEntries(
      Object.entries(assets).map(([sym, h]) => [sym, address(`contracts.assets.${sym}`, h)]),
    ),
    ...(apps === undefined
      ? {}
      : {
          apps: Object.fromEntries(
            Object.entries(apps).map(([name, a]) => [name, address(`contracts.apps.${name}`, a)]),
          ),
        }),
  };
}

async function requireContracts(conn: ChainConnection, contracts: PerunContracts): Promise<void> {
  const code = async (what: string, address: Address) => {
    const c = await conn.publicClient.getCode({ address });
    if (c === undefined || c === "0x") throw new ContractsMissingError(what, address, conn.url);
  };
  await code("contracts.adjudicator", contracts.adjudicator);
  for (const [name, app] of Object.entries(contracts.apps ?? {})) await code(`contracts.apps.${name}`, app);
  for (const [sym, holder] of Object.entries(contracts.assets)) {
    await code(`contracts.assets.${sym}`, holder);
    // A holder of another deployment would take our deposits and never pay them out by our adjudicator.
    let adj: unknown;
    try {
      adj = await conn.publicClient.readContract({
        address: holder,
        abi: AssetHolderETHAbi,
        functionName: "adjudicator",
      });
    } catch (cause) {
      throw new ContractsMissingError(`contracts.assets.${sym}`, holder, conn.url, cause);
    }
    if (typeof adj !== "string" || adj.toLowerCase() !== contracts.adjudicator.toLowerCase()) {
      throw new InvalidArgumentError(
        `connectChain option contracts.assets.${sym}`,
        `an asset holder of adjudicator ${contracts.adjudicator}`,
        `${holder} (its adjudicator is ${describe(adj)})`,
        "Take the adjudicator and the asset holders from the same deployment.",
      );
    }
  }
}
