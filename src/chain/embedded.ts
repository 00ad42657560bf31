/**
 * The embedded chain: Hardhat's EDR (a real EVM) in this process, used by
 * default, by the tests and by `perun chain` (which serves it over JSON-RPC).
 *
 * Hardhat 2 is used as a library through its provider constructor, not its
 * runtime environment, so one process can hold several independent chains.
 */
import { createRequire } from "node:module";
import { keccak_256 } from "@noble/hashes/sha3";
import { bytesToHex, type EIP1193Provider } from "viem";
import type { Hex } from "../channel/types.js";

const require = createRequire(import.meta.url);

/** Hardhat 3's default (osaka) fails in its EDR; prague is the newest fork that works here. */
export const EMBEDDED_HARDFORK = "prague";
export const EMBEDDED_CHAIN_ID = 31337;
const DEFAULT_BALANCE = 10n ** 24n; // 1,000,000 ETH per dev account

export interface EmbeddedChainOptions {
  chainId?: number;
  /** Private keys to fund; defaults to `devKeys(10)`. */
  accounts?: readonly Hex[];
  balance?: bigint;
}

export interface EmbeddedChain {
  readonly provider: EIP1193Provider;
  readonly chainId: number;
  readonly accounts: readonly Hex[];
}

/** Deterministic development keys: keccak256("perun-ts/dev/<i>"). Never hold real money with them. */
export function devKey(i: number): Hex {
  return bytesToHex(keccak_256(new TextEncoder().encode(`perun-ts/dev/${i}`)));
}

export function devKeys(n: number): Hex[] {
  return Array.from({ length: n }, (_, i) => devKey(i));
}

export async function createEmbeddedChain(options: EmbeddedChainOptions = {}): Promise<EmbeddedChain> {
  const chainId = options.chainId ?? EMBEDDED_CHAIN_ID;
  const accounts = options.accounts ?? devKeys(10);
  const balance = (options.balance ?? DEFAULT_BALANCE).toString();
  const { resolveConfig } = require("hardhat/internal/core/config/config-resolution");
  const { createProvider } = require("hardhat/internal/core/providers/construction");
  // resolveConfig wants a config file path only to derive project paths; no file is read.
  const config = resolveConfig(require.resolve("hardhat/package.json"), {
    networks: {
      hardhat: {
        hardfork: EMBEDDED_HARDFORK,
        chainId,
        accounts: accounts.map((privateKey) => ({ privateKey, balance })),
        loggingEnabled: false,
        initialBaseFeePerGas: 0,
        blockGasLimit: 60_000_000,
      },
    },
  });
  const provider = (await createProvider(config, "hardhat")) as EIP1193Provider;
  return { provider, chainId, accounts };
}
