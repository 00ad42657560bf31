/**
 * The options of `createPerunClient` (./perun-client.ts), their types and their check: every field is
 * validated before anything is opened, and the error names the field, what was expected and what
 * arrived. The signing policy comes from the chain (its id, its asset holders) plus what the caller
 * relaxes or tightens; the defaults are safe on Ethereum mainnet, or `DEV_CHAIN_BOUNDS` on the
 * embedded chain (src/channel/policy.ts, docs/security.md).
 */
import { readFile } from "node:fs/promises";
import type { PerunChain } from "../chain/perun-chain.js";
import type { RentalTerms } from "../channel/fees.js";
import { isHex } from "../channel/hex.js";
import {
  type Bounds,
  DEV_CHAIN_BOUNDS,
  MAX_SECONDS,
  type SigningPolicy,
  signingPolicy,
} from "../channel/policy.js";
import { privateKeyToSigner, type Signer } from "../channel/signer.js";
import type { Address, Hex, Params, State } from "../channel/types.js";
import type { Logger } from "../client/client.js";
import { InvalidArgumentError, PerunError } from "../errors.js";
import { KNOWN_APPS } from "../node/apps.js";
import { decryptKeystore } from "../node/keystore.js";
import {
  addressOption,
  amountOption,
  integerOption,
  onlyFields,
  optionsObject,
  wsUrlOption,
} from "../options.js";
import type { StoreSpec } from "../store/open-store.js";

/**
 * Our key: a 0x-prefixed private key, or an Ethereum V3 keystore (geth, clef, MetaMask export; as
 * parsed JSON, JSON text or a file) with its password. It signs channel states and pays gas.
 */
export type SignerOption =
  | Hex
  | { readonly keystore: string | object; readonly password: string }
  | { readonly keystoreFile: string; readonly password: string };

/**
 * Where channels are kept: an SQLite file (`{ file }`, the default choice: one file, one process), a
 * Postgres schema (`{ postgres: "postgres://user@host/db", schema? }`, for a hub whose database a
 * server keeps; schema default "perun", one client per schema) or "memory" (gone when the process
 * ends: tests only).
 */
export type StoreOption = StoreSpec;

/** A peer we may dial: its address and WebSocket URL (a listening `PerunClient` is one). */
export interface PeerOption {
  readonly address: string;
  readonly url?: string | undefined;
}

/**
 * What our signing policy allows (src/channel/policy.ts, docs/security.md). Anything not given keeps
 * its default: safe on Ethereum mainnet, or `DEV_CHAIN_BOUNDS` on the embedded chain.
 */
export interface PolicyOptions {
  /** Challenge duration of every channel we sign, seconds (default 1 h..7 days; dev: 1 s..30 days). */
  readonly challengeDuration?: { readonly min: bigint | number; readonly max: bigint | number };
  /** Time to deposit after a channel's initial state is signed, seconds (default 5 min..1 day). */
  readonly fundingTimeout?: { readonly min: bigint | number; readonly max: bigint | number };
  /** The most we deposit into a channel a peer proposes, wei per asset symbol (default 0: nothing). */
  readonly maxDeposit?: Readonly<Record<string, bigint>>;
  /** Longest validity of a virtual channel we accept as its end, seconds (default 30 days). */
  readonly virtualSeconds?: bigint | number;
  /** As middle intermediary: extra challenge duration towards Alice, seconds (default 600; dev 60). */
  readonly challengeMargin?: bigint | number;
  /** Sign a peer's update that lowers our balance? "gains-only" (default) or "all". */
  readonly updates?: "gains-only" | "all";
}

/** A channel a peer proposes to us, as `acceptProposals` sees it (after our signing policy allowed it). */
export interface ChannelProposal {
  readonly from: Address;
  readonly channelID: Hex;
  /** A virtual channel (funded by locks in ledger channels, no deposit) or a ledger channel. */
  readonly virtual: boolean;
  /** Initial balances, [asset][participant]; `ourIdx` is ours. */
  readonly balances: readonly (readonly bigint[])[];
  readonly ourIdx: number;
  readonly challengeDuration: bigint;
  /** The proposal as signed: the channel's parameters and its initial state. */
  readonly params: Params;
  readonly initial: State;
}

/**
 * Whether to accept a channel a peer proposes (ledger or virtual), once our signing policy allowed it:
 * `true` accepts what the policy allows, which means depositing our share up to `policy.maxDeposit`.
 */
export type AcceptOption = boolean | ((proposal: ChannelProposal) => boolean | Promise<boolean>);

export interface PerunClientOptions {
  readonly signer: SignerOption;
  /** From `createEmbeddedChain`, `connectChain`. */
  readonly chain: PerunChain;
  readonly store: StoreOption;
  /** Accept peers' WebSocket connections here (host default 127.0.0.1; port 0: any free port). */
  readonly listen?: { readonly host?: string; readonly port: number };
  /** Peers we dial (a peer that dials us needs no entry). */
  readonly peers?: readonly PeerOption[];
  readonly policy?: PolicyOptions;
  /** Accept channels peers propose (default false: we only open channels ourselves). */
  readonly acceptProposals?: AcceptOption;
  /** Relay virtual channels through our ledger channels for this rent (wei; see `rentalFee`). */
  readonly intermediary?: RentalTerms;
  /** How often the chain is polled (ms; default 25 on the embedded chain, else 1,000). */
  readonly pollMs?: number;
  /** How long to wait for a peer's answer (ms, default 10,000). */
  readonly peerTimeoutMs?: number;
  /** Log lines (default: warnings and errors on stderr; `() => {}` for none). */
  readonly log?: Logger;
}

/** The options, checked, with the defaults filled in and the key decrypted. */
export interface ResolvedOptions {
  readonly privateKey: Hex;
  readonly signer: Signer;
  readonly chain: PerunChain;
  readonly store: StoreOption;
  readonly listen: { readonly host: string; readonly port: number } | undefined;
  readonly peers: readonly (readonly [Address, string])[];
  readonly policy: SigningPolicy;
  readonly accept: (p: ChannelProposal) => Promise<boolean>;
  readonly intermediary: RentalTerms | undefined;
  readonly pollMs: number;
  readonly peerTimeoutMs: number;
  readonly log: Logger;
}

const FIELDS = [
  "signer",
  "chain",
  "store",
  "listen",
  "peers",
  "policy",
  "acceptProposals",
  "intermediary",
  "pollMs",
  "peerTimeoutMs",
  "log",
];

const WHAT = "createPerunClient option";

/** Default log: warnings and errors on stderr, the rest dropped. */
export const stderrLog: Logger = (level, message, details) => {
  if (level === "warn" || level === "error") console.error(`perun-ts [${level}] ${message}`, details ?? "");
};

/** Checks every option; throws `InvalidArgumentError` (or the keystore's error) naming the field. */
export async function resolveClientOptions(options: PerunClientOptions): Promise<ResolvedOptions> {
  const o = optionsObject(options, "createPerunClient options");
  onlyFields(o, FIELDS, "createPerunClient options");
  const chain = chainOption(o.chain);
  const store = storeOption(o.store);
  const listen = o.listen === undefined ? undefined : listenOption(o.listen);
  const peers = peersOption(o.peers ?? []);
  const policy = policyOption(o.policy ?? {}, chain);
  const accept = acceptOption(o.acceptProposals ?? false);
  const intermediary = o.intermediary === undefined ? undefined : termsOption(o.intermediary);
  const pollMs = Number(integerOption(o.pollMs ?? (chain.dev ? 25 : 1_000), `${WHAT} pollMs`, 1n, 600_000n));
  const peerTimeoutMs = Number(
    integerOption(o.peerTimeoutMs ?? 10_000, `${WHAT} peerTimeoutMs`, 1n, 3_600_000n),
  );
  if (o.log !== undefined && typeof o.log !== "function") {
    throw new InvalidArgumentError(`${WHAT} log`, "a function (level, message, details) => void", o.log);
  }
  // Last: decrypting a keystore takes a second, and a wrong option should not wait for it.
  const privateKey = await signerOption(o.signer);
  const signer = privateKeyToSigner(privateKey);
  if (peers.some(([a]) => a.toLowerCase() === signer.address.toLowerCase())) {
    throw new InvalidArgumentError(
      `${WHAT} peers`,
      "other parties' addresses",
      signer.address,
      "Not our own.",
    );
  }
  return {
    privateKey,
    signer,
    chain,
    store,
    listen,
    peers,
    policy,
    accept,
    intermediary,
    pollMs,
    peerTimeoutMs,
    log: (o.log as Logger | undefined) ?? stderrLog,
  };
}

function chainOption(value: unknown): PerunChain {
  const c = value as Partial<PerunChain> | null | undefined;
  if (
    typeof c !== "object" ||
    c === null ||
    typeof c.chainId !== "number" ||
    typeof c.contracts !== "object" ||
    typeof c.connection !== "object"
  ) {
    throw new InvalidArgumentError(
      `${WHAT} chain`,
      "a chain from createEmbeddedChain() or connectChain()",
      value,
    );
  }
  return c as PerunChain;
}

async function signerOption(value: unknown): Promise<Hex> {
  if (typeof value === "string") {
    if (!isHex(value, 32)) {
      // Never echo what might be most of a private key.
      throw new InvalidArgumentError(
        `${WHAT} signer`,
        "a 0x-prefixed 32-byte private key, or { keystore, password } or { keystoreFile, password }",
        `a string of ${value.length} characters`,
      );
    }
    try {
      privateKeyToSigner(value);
    } catch (cause) {
      throw new InvalidArgumentError(
        `${WHAT} signer`,
        "a private key in the range 1..n-1 of secp256k1",
        "a key out of range",
        `${(cause as Error).message.split("\n")[0]}`,
      );
    }
    return value;
  }
  const s = optionsObject(value, `${WHAT} signer`);
  if (typeof s.password !== "string") {
    throw new InvalidArgumentError(
      `${WHAT} signer.password`,
      "a string",
      s.password === undefined ? undefined : "(not shown)",
    );
  }
  let keystore: unknown;
  if (s.keystoreFile !== undefined) {
    onlyFields(s, ["keystoreFile", "password"], `${WHAT} signer`);
    if (typeof s.keystoreFile !== "string") {
      throw new InvalidArgumentError(`${WHAT} signer.keystoreFile`, "a file path", s.keystoreFile);
    }
    let text: string;
    try {
      text = await readFile(s.keystoreFile, "utf8");
    } catch (cause) {
      throw new PerunError("KEYSTORE_INVALID", `Cannot read the keystore file ${s.keystoreFile}.`, {
        details: { file: s.keystoreFile },
        hint: "Check the path (relative paths are relative to the process's working directory).",
        cause,
      });
    }
    keystore = parseKeystore(text, s.keystoreFile);
  } else {
    onlyFields(s, ["keystore", "password"], `${WHAT} signer`);
    keystore = typeof s.keystore === "string" ? parseKeystore(s.keystore, "the keystore text") : s.keystore;
  }
  return (await decryptKeystore(keystore, s.password)).privateKey;
}

function parseKeystore(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new PerunError("KEYSTORE_INVALID", `${where} is not JSON.`, {
      hint: "A V3 keystore is a JSON object with version 3 and a crypto section (`perun key new` writes one).",
      cause,
    });
  }
}

function storeOption(value: unknown): StoreOption {
  if (value === "memory") return value;
  const expected = '"memory", { file: "path/to/perun.db" } (SQLite) or { postgres: "postgres://..." }';
  if (typeof value !== "object" || value === null) {
    throw new InvalidArgumentError(
      `${WHAT} store`,
      expected,
      value,
      "In memory, channels are lost when the process ends: only for tests.",
    );
  }
  const s = value as Record<string, unknown>;
  if (s.postgres !== undefined) {
    onlyFields(s, ["postgres", "schema"], `${WHAT} store`);
    if (typeof s.postgres !== "string" || !/^postgres(ql)?:\/\/\S+$/.test(s.postgres)) {
      throw new InvalidArgumentError(
        `${WHAT} store.postgres`,
        "a postgres:// or postgresql:// connection string",
        // Never echo what may hold a password.
        typeof s.postgres === "string" ? `a string of ${s.postgres.length} characters` : s.postgres,
      );
    }
    if (s.schema === undefined) return { postgres: s.postgres };
    if (typeof s.schema !== "string" || !/^[a-z_][a-z0-9_]{0,62}$/.test(s.schema)) {
      throw new InvalidArgumentError(
        `${WHAT} store.schema`,
        "a schema name of lower-case letters, digits and underscores (at most 63, not starting with a digit)",
        s.schema,
      );
    }
    return { postgres: s.postgres, schema: s.schema };
  }
  onlyFields(s, ["file"], `${WHAT} store`);
  if (typeof s.file !== "string" || s.file.length === 0) {
    throw new InvalidArgumentError(`${WHAT} store.file`, "a file path", s.file);
  }
  return { file: s.file };
}

function listenOption(value: unknown): { host: string; port: number } {
  const l = optionsObject(value, `${WHAT} listen`);
  onlyFields(l, ["host", "port"], `${WHAT} listen`);
  const host = l.host ?? "127.0.0.1";
  if (typeof host !== "string" || host.length === 0) {
    throw new InvalidArgumentError(`${WHAT} listen.host`, "a host name or IP address", l.host);
  }
  const port = Number(integerOption(l.port, `${WHAT} listen.port`, 0n, 65_535n));
  return { host, port };
}

function peersOption(value: unknown): [Address, string][] {
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(
      `${WHAT} peers`,
      'a list of { address, url } (url: "ws://host:port"), or of listening clients',
      value,
    );
  }
  return value.map((p, i) => {
    const peer = optionsObject(p, `${WHAT} peers[${i}]`);
    const address = addressOption(peer.address, `${WHAT} peers[${i}].address`);
    if (peer.url === undefined) {
      throw new InvalidArgumentError(
        `${WHAT} peers[${i}].url`,
        "a ws:// or wss:// URL",
        undefined,
        "A client passed as a peer must listen (its `listen` option) to have a URL.",
      );
    }
    return [address, wsUrlOption(peer.url, `${WHAT} peers[${i}].url`)];
  });
}

function policyOption(value: unknown, chain: PerunChain): SigningPolicy {
  const p = optionsObject(value, `${WHAT} policy`);
  const fields = [
    "challengeDuration",
    "fundingTimeout",
    "maxDeposit",
    "virtualSeconds",
    "challengeMargin",
    "updates",
  ];
  onlyFields(p, fields, `${WHAT} policy`);
  const bounds = (name: string): Bounds | undefined => {
    if (p[name] === undefined) return undefined;
    const b = optionsObject(p[name], `${WHAT} policy.${name}`);
    onlyFields(b, ["min", "max"], `${WHAT} policy.${name}`);
    return {
      min: integerOption(b.min, `${WHAT} policy.${name}.min`, 1n, MAX_SECONDS),
      max: integerOption(b.max, `${WHAT} policy.${name}.max`, 1n, MAX_SECONDS),
    };
  };
  const seconds = (name: string, min: bigint): bigint | undefined =>
    p[name] === undefined ? undefined : integerOption(p[name], `${WHAT} policy.${name}`, min, MAX_SECONDS);
  const holders = chain.contracts.assets;
  const maxDeposit: Record<string, bigint> = {};
  if (p.maxDeposit !== undefined) {
    const caps = optionsObject(p.maxDeposit, `${WHAT} policy.maxDeposit`);
    for (const [symbol, cap] of Object.entries(caps)) {
      const holder = holders[symbol];
      if (holder === undefined) {
        throw new InvalidArgumentError(
          `${WHAT} policy.maxDeposit`,
          `caps by asset symbol of the chain (${Object.keys(holders).join(", ")})`,
          `the symbol "${symbol}"`,
        );
      }
      maxDeposit[holder] = amountOption(cap, `${WHAT} policy.maxDeposit.${symbol}`);
    }
  }
  if (p.updates !== undefined && p.updates !== "gains-only" && p.updates !== "all") {
    throw new InvalidArgumentError(`${WHAT} policy.updates`, '"gains-only" or "all"', p.updates);
  }
  const dev = chain.dev ? DEV_CHAIN_BOUNDS : undefined;
  const defined = <T>(name: string, v: T | undefined) => (v === undefined ? {} : { [name]: v });
  // signingPolicy checks the bounds against each other (InvalidPolicyError, code INVALID_POLICY).
  return signingPolicy({
    chainId: BigInt(chain.chainId),
    assetHolders: Object.values(holders),
    ...(dev ?? {}),
    ...defined("challengeDuration", bounds("challengeDuration")),
    ...defined("fundingTimeout", bounds("fundingTimeout")),
    ...defined("virtualSeconds", seconds("virtualSeconds", 1n)),
    ...defined("challengeMargin", seconds("challengeMargin", 0n)),
    ...defined("updates", p.updates as SigningPolicy["updates"] | undefined),
    maxDeposit,
    // The chain's apps that we play (src/node/apps.ts): channels with them are ours to accept.
    apps: Object.entries(chain.contracts.apps ?? {})
      .filter(([name]) => Object.hasOwn(KNOWN_APPS, name))
      .map(([, address]) => address),
  });
}

function acceptOption(value: unknown): (p: ChannelProposal) => Promise<boolean> {
  if (typeof value === "boolean") return async () => value;
  if (typeof value === "function") {
    const decide = value as (p: ChannelProposal) => boolean | Promise<boolean>;
    return async (p) => (await decide(p)) === true;
  }
  throw new InvalidArgumentError(
    `${WHAT} acceptProposals`,
    "a boolean or a function (proposal) => boolean | Promise<boolean>",
    value,
  );
}

function termsOption(value: unknown): RentalTerms {
  const t = optionsObject(value, `${WHAT} intermediary`);
  onlyFields(t, ["baseFee", "ratePerSecondPerUnit", "maxDurationSeconds"], `${WHAT} intermediary`);
  return {
    baseFee: amountOption(t.baseFee, `${WHAT} intermediary.baseFee`),
    ratePerSecondPerUnit: amountOption(t.ratePerSecondPerUnit, `${WHAT} intermediary.ratePerSecondPerUnit`),
    maxDurationSeconds: integerOption(
      t.maxDurationSeconds,
      `${WHAT} intermediary.maxDurationSeconds`,
      1n,
      MAX_SECONDS,
    ),
  };
}
