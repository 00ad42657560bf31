/**
 * A connection to an EVM chain: the embedded EDR chain, any JSON-RPC URL (hardhat node, anvil, geth,
 * a testnet) or any EIP-1193 provider object (an injected wallet's, another library's). Everything
 * else in src/chain talks to the chain only through this.
 *
 * Transactions are always signed here with the key given to `wallet(key)` and sent raw
 * (`eth_sendRawTransaction`), so a provider only has to forward requests; it never holds our key.
 */
import {
  type Account,
  type Chain,
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  type EIP1193Provider,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Hex } from "../channel/types.js";
import { InvalidArgumentError } from "../errors.js";
import type { EmbeddedChain } from "./embedded.js";
import { ChainUnreachableError } from "./errors.js";

export type Wallet = WalletClient<Transport, Chain, Account>;

export interface ChainConnection {
  readonly chain: Chain;
  readonly chainId: number;
  /** "embedded" or the JSON-RPC URL. */
  readonly url: string;
  readonly publicClient: PublicClient<Transport, Chain>;
  /** The raw EIP-1193 provider, for dev-chain methods (evm_increaseTime, ...). */
  readonly provider: EIP1193Provider;
  wallet(privateKey: Hex): Wallet;
}

export type ConnectOptions =
  | { rpcUrl: string }
  | { embedded: EmbeddedChain }
  | {
      provider: EIP1193Provider;
      /** What `url` says (default "eip1193"); for messages only. */
      name?: string;
      /** How often to poll for receipts and blocks (ms, default 1,000). */
      pollingMs?: number;
    };

/** What `url` says for a connection through an EIP-1193 provider given without a name. */
export const EIP1193_URL = "eip1193";

export async function connectChain(options: ConnectOptions): Promise<ChainConnection> {
  let transport: Transport;
  let url: string;
  let chainId: number;
  if ("provider" in options) {
    const provider = options.provider as { request?: unknown } | null | undefined;
    if (typeof provider !== "object" || provider === null || typeof provider.request !== "function") {
      throw new InvalidArgumentError(
        "chain provider",
        "an EIP-1193 provider (an object with a request({ method, params }) function)",
        provider,
      );
    }
    url = options.name ?? EIP1193_URL;
    transport = custom(options.provider, { retryCount: 0 });
    try {
      chainId = await createPublicClient({ transport }).getChainId();
    } catch (cause) {
      throw new ChainUnreachableError(url, cause);
    }
  } else if ("embedded" in options) {
    // No retries: the embedded chain reports reverts without a JSON-RPC code, which viem would
    // otherwise treat as transient and retry with back-off (about 1 s per revert).
    transport = custom(options.embedded.provider, { retryCount: 0 });
    url = "embedded";
    chainId = options.embedded.chainId;
  } else {
    url = options.rpcUrl;
    if (!/^(https?|wss?):\/\/.+/.test(url)) {
      throw new InvalidArgumentError("chain RPC URL", "an http(s):// or ws(s):// URL", url);
    }
    transport = http(url, { retryCount: 0, timeout: 10_000 });
    try {
      const probe = createPublicClient({ transport });
      chainId = await probe.getChainId();
    } catch (cause) {
      throw new ChainUnreachableError(url, cause);
    }
  }
  const chain = defineChain({
    id: chainId,
    name: url === "embedded" ? "perun-embedded" : `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [/^(https?|wss?):\/\//.test(url) ? url : "http://127.0.0.1"] } },
  });
  // Local chains mine instantly; poll receipts fast rather than viem's 4 s default.
  const pollingInterval =
    "provider" in options && options.pollingMs !== undefined
      ? options.pollingMs
      : url === "embedded" || /127\.0\.0\.1|localhost/.test(url)
        ? 20
        : 1_000;
  // No cached block number: a caller that just saw a transaction mined must never read an older block.
  const publicClient = createPublicClient({ chain, transport, pollingInterval, cacheTime: 0 });
  const provider: EIP1193Provider =
    "embedded" in options
      ? options.embedded.provider
      : "provider" in options
        ? options.provider
        : ({
            request: (args: { method: string; params?: unknown }) => publicClient.request(args as never),
          } as EIP1193Provider);
  const wallets = new Map<string, Wallet>();
  return {
    chain,
    chainId,
    url,
    publicClient,
    provider,
    wallet(privateKey: Hex): Wallet {
      let w = wallets.get(privateKey);
      if (!w) {
        w = createWalletClient({
          account: privateKeyToAccount(privateKey),
          chain,
          transport,
          pollingInterval,
        });
        wallets.set(privateKey, w);
      }
      return w;
    },
  };
}
