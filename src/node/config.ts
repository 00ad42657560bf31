/**
 * The node's config file (JSON), validated at the boundary (house style rule 8): every field is
 * checked before the node uses it, and a ConfigError names the field, what was expected and what
 * arrived. Unknown fields are refused too, so a typo ("challangeDuration") is not silently ignored.
 * Paths are relative to the config file.
 *
 * @example
 * {
 *   "key": { "env": "PERUN_KEY" },
 *   "chain": { "rpcUrl": "http://127.0.0.1:8545" },
 *   "contracts": { "adjudicator": "0x...", "assets": { "ETH": "0x..." }, "apps": { "tictactoe": "0x..." } },
 *   "wire": { "host": "127.0.0.1", "port": 4001 },
 *   "api": { "host": "127.0.0.1", "port": 5001 },
 *   "db": "alice.db",
 *   "dataDir": ".",
 *   "peers": { "0xBob...": "ws://127.0.0.1:4002" },
 *   "defaults": { "challengeDuration": 3600, "fundingTimeout": 600 },
 *   "accept": { "proposals": true, "updates": "gains-only" },
 *   "policy": { "challengeDuration": { "min": 3600, "max": 604800 }, "fundingTimeout": { "min": 300, "max": 86400 },
 *               "maxDeposit": { "ETH": "1000000000000000000" }, "virtualSeconds": 2592000, "challengeMargin": 600 },
 *   "intermediary": { "baseFee": "1000000000000", "ratePerSecondPerUnit": "1000000000", "maxDurationSeconds": 86400 },
 *   "pollMs": 250
 * }
 *
 * "intermediary" is optional: with it the node offers virtual channels through its ledger channels at
 * these rental terms (wei as decimal strings; see src/channel/fees.ts), and publishes them in
 * GET /v1/info. Without it the node never locks funds for others.
 *
 * "policy" bounds what the node signs (src/channel/policy.ts, docs/security.md); every field is optional
 * and defaults to values safe on Ethereum mainnet: challenge durations of 1 hour to 7 days, funding
 * timeouts of 5 minutes to 1 day, no deposit of ours into channels peers propose (`maxDeposit`, wei per
 * asset symbol), virtual channels of at most 30 days, 600 s between a middle intermediary's challenge
 * durations. A development chain lowers them (e.g. "challengeDuration": {"min": 10}).
 *
 * The store: "db" is the SQLite file (the default store); instead of it, a hub whose database a server
 * keeps gives `"store": {"postgres": "postgres://user@host:5432/database", "schema": "hub1"}` (schema
 * optional, default "perun"; one node per schema). The password may be left out of the URL and given
 * in the environment as PGPASSWORD (node-postgres reads the PG* variables), so the file holds no secret.
 *
 * "dataDir" is optional: the directory of the node's own files besides the database, today the local
 * API's secret `<db name>.api-secret` (mode 0600, see src/node/api-secret.ts; alice.db ->
 * alice.api-secret, so nodes that keep their databases in one directory still have a secret each); by
 * default the directory of "db". With a Postgres store: `<config file name>.api-secret` (hub.json ->
 * hub.api-secret), by default in the directory of the config file.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import { getAddress, isAddress } from "viem";
import type { RentalTerms } from "../channel/fees.js";
import { type Bounds, MAX_SECONDS, POLICY_DEFAULTS } from "../channel/policy.js";
import type { Address } from "../channel/types.js";
import type { StoreSpec } from "../store/open-store.js";
import { KNOWN_APPS } from "./apps.js";
import { ConfigError } from "./errors.js";

export type KeySpec =
  | { readonly env: string }
  | { readonly keystore: string; readonly passwordEnv: string }
  | { readonly file: string };

export interface NodeConfig {
  /** Absolute path of the file it was read from ("<inline>" if built in code). */
  readonly file: string;
  readonly key: KeySpec;
  readonly chain: { readonly rpcUrl: string };
  readonly contracts: {
    readonly adjudicator: Address;
    /** Asset holder by symbol, e.g. { ETH: "0x..." }. */
    readonly assets: Readonly<Record<string, Address>>;
    /** App contracts the node plays, by app name (src/node/apps.ts), e.g. { tictactoe: "0x..." }. */
    readonly apps: Readonly<Record<string, Address>>;
  };
  readonly wire: { readonly host: string; readonly port: number };
  readonly api: { readonly host: string; readonly port: number };
  /** Where channels are kept: the SQLite file (absolute path; config "db"), or a Postgres schema. */
  readonly store: Exclude<StoreSpec, "memory">;
  /**
   * Absolute path of the node's data directory (the API secret file); default: the directory of `db`
   * (with a Postgres store, of the config file).
   */
  readonly dataDir: string;
  /**
   * The local API's secret file: `<dataDir>/<db name without extension>.api-secret` (with a Postgres
   * store: the config file's name).
   */
  readonly apiSecretFile: string;
  /** Wire URL by peer address (checksummed). */
  readonly peers: Readonly<Record<Address, string>>;
  readonly defaults: { readonly challengeDuration: bigint; readonly fundingTimeout: bigint };
  readonly accept: { readonly proposals: boolean; readonly updates: "gains-only" | "all" };
  /** Bounds of what the node signs (with the chain id and asset holders: its SigningPolicy). */
  readonly policy: PolicyConfig;
  /** Rental terms when this node offers virtual channels as an intermediary; absent: it does not. */
  readonly intermediary?: RentalTerms;
  readonly pollMs: number;
}

export interface PolicyConfig {
  readonly challengeDuration: Bounds;
  readonly fundingTimeout: Bounds;
  /** Most we deposit into a channel a peer proposes, wei by asset symbol (absent: 0). */
  readonly maxDeposit: Readonly<Record<string, bigint>>;
  readonly virtualSeconds: bigint;
  readonly challengeMargin: bigint;
}

/** Hosts the local API may bind: it moves money, so it is never exposed beyond this machine. */
export const LOOPBACK_HOSTS: readonly string[] = ["127.0.0.1", "localhost", "::1"];

/** Reads and validates the config file at `path`. */
export function loadConfig(path: string): NodeConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, "(file)", "a readable JSON file", (err as Error).message);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, "(file)", "valid JSON", (err as Error).message);
  }
  return parseConfig(json, file);
}

/** Validates a parsed config; relative paths are resolved against the directory of `file`. */
export function parseConfig(json: unknown, file: string): NodeConfig {
  const v = new Validator(file);
  const root = v.object(json, "(root)", [
    "key",
    "chain",
    "contracts",
    "wire",
    "api",
    "db",
    "store",
    "dataDir",
    "peers",
    "defaults",
    "accept",
    "intermediary",
    "policy",
    "pollMs",
  ]);
  const base = dirname(file);
  const path = (p: string) => resolve(base, p);

  const key = parseKey(v, root.key, path);

  const chain = v.object(root.chain, "chain", ["rpcUrl"]);
  const rpcUrl = v.string(chain.rpcUrl, "chain.rpcUrl", "an http(s):// or ws(s):// URL", (s) =>
    /^(https?|wss?):\/\/[^\s]+$/.test(s),
  );

  const contracts = v.object(root.contracts, "contracts", ["adjudicator", "assets", "apps"]);
  const adjudicator = v.address(contracts.adjudicator, "contracts.adjudicator");
  const assetsObj = v.object(contracts.assets, "contracts.assets", null);
  const assets: Record<string, Address> = {};
  for (const [symbol, holder] of Object.entries(assetsObj)) {
    if (!/^[A-Za-z0-9_-]{1,16}$/.test(symbol)) {
      throw new ConfigError(file, `contracts.assets.${symbol}`, "a symbol of 1-16 letters/digits", symbol);
    }
    assets[symbol] = v.address(holder, `contracts.assets.${symbol}`);
  }
  if (Object.keys(assets).length === 0) {
    throw new ConfigError(file, "contracts.assets", 'at least one asset holder, e.g. {"ETH": "0x..."}', {});
  }
  const apps: Record<string, Address> = {};
  const known = Object.keys(KNOWN_APPS);
  for (const [name, app] of Object.entries(
    contracts.apps === undefined ? {} : v.object(contracts.apps, "contracts.apps", null),
  )) {
    if (!known.includes(name)) {
      throw new ConfigError(
        file,
        `contracts.apps.${name}`,
        `an app this node plays (${known.join(", ")})`,
        name,
      );
    }
    apps[name] = v.address(app, `contracts.apps.${name}`);
  }

  const wire = parseEndpoint(v, root.wire, "wire", { host: "127.0.0.1", port: 4001 }, false);
  const api = parseEndpoint(v, root.api, "api", { host: "127.0.0.1", port: 5001 }, true);

  const store = parseStore(v, root.db, root.store, path);
  // The secret is named after the database file, or (Postgres) after the config file: either way
  // two nodes whose files share a directory have a secret each.
  const named = "file" in store ? store.file : file;
  const dataDir =
    root.dataDir === undefined
      ? dirname(named)
      : path(v.string(root.dataDir, "dataDir", "a path to a directory", (s) => s.length > 0));

  const peers: Record<Address, string> = {};
  if (root.peers !== undefined) {
    for (const [addr, url] of Object.entries(v.object(root.peers, "peers", null))) {
      const a = v.address(addr, `peers key ${addr}`);
      peers[a] = v.string(url, `peers.${addr}`, "a ws:// or wss:// URL", (s) => /^wss?:\/\/[^\s]+$/.test(s));
    }
  }

  const policy = parsePolicy(v, root.policy, assets);
  const defaults = v.object(root.defaults ?? {}, "defaults", ["challengeDuration", "fundingTimeout"]);
  // Our own channels must pass our own policy: the defaults lie within its bounds.
  const challengeDuration = v.optionalInt(
    defaults.challengeDuration,
    "defaults.challengeDuration",
    Number(policy.challengeDuration.min),
    Number(policy.challengeDuration.min),
    Number(policy.challengeDuration.max),
  );
  const ft = policy.fundingTimeout;
  const fundingTimeout = v.optionalInt(
    defaults.fundingTimeout,
    "defaults.fundingTimeout",
    Number(ft.min),
    Number(600n < ft.min ? ft.min : 600n > ft.max ? ft.max : 600n),
    Number(ft.max),
  );

  const accept = v.object(root.accept ?? {}, "accept", ["proposals", "updates"]);
  // Accepting a proposal deposits our share of it, so a node accepts none unless told to.
  const proposals = accept.proposals === undefined ? false : v.boolean(accept.proposals, "accept.proposals");
  const updates = accept.updates ?? "gains-only";
  if (updates !== "gains-only" && updates !== "all") {
    throw new ConfigError(file, "accept.updates", '"gains-only" or "all"', updates);
  }

  const intermediary = root.intermediary === undefined ? undefined : parseTerms(v, root.intermediary);

  const pollMs = v.optionalInt(root.pollMs, "pollMs", 10, 250);

  return {
    file,
    key,
    chain: { rpcUrl },
    contracts: { adjudicator, assets, apps },
    wire,
    api,
    store,
    dataDir,
    apiSecretFile: join(dataDir, `${basename(named, extname(named))}.api-secret`),
    peers,
    defaults: { challengeDuration: BigInt(challengeDuration), fundingTimeout: BigInt(fundingTimeout) },
    accept: { proposals, updates },
    policy,
    ...(intermediary === undefined ? {} : { intermediary }),
    pollMs,
  };
}

/** "db" (an SQLite file) or "store" (a Postgres schema): exactly one of them. */
function parseStore(
  v: Validator,
  db: unknown,
  store: unknown,
  path: (p: string) => string,
): Exclude<StoreSpec, "memory"> {
  if (store === undefined) {
    const expected =
      'a path to the SQLite file (or, for a Postgres store, "store": {"postgres": "postgres://..."})';
    return { file: path(v.string(db, "db", expected, (s) => s.length > 0)) };
  }
  if (db !== undefined) {
    throw new ConfigError(v.file, "db", 'absent when "store" is given (one store per node)', db);
  }
  const o = v.object(store, "store", ["postgres", "schema"]);
  const postgres = v.string(
    o.postgres,
    "store.postgres",
    "a postgres:// or postgresql:// connection string",
    (s) => /^postgres(ql)?:\/\/\S+$/.test(s),
  );
  if (o.schema === undefined) return { postgres };
  const schema = v.string(
    o.schema,
    "store.schema",
    "a schema name of lower-case letters, digits and underscores (at most 63, not starting with a digit)",
    (s) => /^[a-z_][a-z0-9_]{0,62}$/.test(s),
  );
  return { postgres, schema };
}

/** Longest rental an intermediary may offer: 2^32 s (the contract's times are uint64). */
const MAX_RENTAL_SECONDS = 2 ** 32;

function parseTerms(v: Validator, raw: unknown): RentalTerms {
  const o = v.object(raw, "intermediary", ["baseFee", "ratePerSecondPerUnit", "maxDurationSeconds"]);
  // Every field is required: a forgotten rate must not silently rent collateral out for free.
  const max = o.maxDurationSeconds;
  if (max === undefined) {
    throw new ConfigError(
      v.file,
      "intermediary.maxDurationSeconds",
      `an integer from 1 to ${MAX_RENTAL_SECONDS}`,
      max,
    );
  }
  return {
    baseFee: v.wei(o.baseFee, "intermediary.baseFee"),
    ratePerSecondPerUnit: v.wei(o.ratePerSecondPerUnit, "intermediary.ratePerSecondPerUnit"),
    maxDurationSeconds: BigInt(
      v.optionalInt(max, "intermediary.maxDurationSeconds", 1, 1, MAX_RENTAL_SECONDS),
    ),
  };
}

function parsePolicy(v: Validator, raw: unknown, assets: Record<string, Address>): PolicyConfig {
  const o = v.object(raw ?? {}, "policy", [
    "challengeDuration",
    "fundingTimeout",
    "maxDeposit",
    "virtualSeconds",
    "challengeMargin",
  ]);
  const max = Number(MAX_SECONDS);
  const bounds = (x: unknown, field: string, dflt: Bounds): Bounds => {
    const b = v.object(x ?? {}, field, ["min", "max"]);
    const min = v.optionalInt(b.min, `${field}.min`, 1, Number(dflt.min), max);
    const hi = v.optionalInt(b.max, `${field}.max`, min, Math.max(min, Number(dflt.max)), max);
    return { min: BigInt(min), max: BigInt(hi) };
  };
  const maxDeposit: Record<string, bigint> = {};
  for (const [symbol, amount] of Object.entries(v.object(o.maxDeposit ?? {}, "policy.maxDeposit", null))) {
    if (!Object.hasOwn(assets, symbol)) {
      throw new ConfigError(
        v.file,
        `policy.maxDeposit.${symbol}`,
        `an asset symbol of contracts.assets (${Object.keys(assets).join(", ")})`,
        symbol,
      );
    }
    maxDeposit[symbol] = v.wei(amount, `policy.maxDeposit.${symbol}`);
  }
  return {
    challengeDuration: bounds(
      o.challengeDuration,
      "policy.challengeDuration",
      POLICY_DEFAULTS.challengeDuration,
    ),
    fundingTimeout: bounds(o.fundingTimeout, "policy.fundingTimeout", POLICY_DEFAULTS.fundingTimeout),
    maxDeposit,
    virtualSeconds: BigInt(
      v.optionalInt(
        o.virtualSeconds,
        "policy.virtualSeconds",
        1,
        Number(POLICY_DEFAULTS.virtualSeconds),
        max,
      ),
    ),
    challengeMargin: BigInt(
      v.optionalInt(
        o.challengeMargin,
        "policy.challengeMargin",
        0,
        Number(POLICY_DEFAULTS.challengeMargin),
        max,
      ),
    ),
  };
}

function parseKey(v: Validator, raw: unknown, path: (p: string) => string): KeySpec {
  const expected = '{"env": "VAR"}, {"keystore": "file.json", "passwordEnv": "VAR"} or {"file": "key.hex"}';
  const k = v.object(raw, "key", ["env", "keystore", "passwordEnv", "file"]);
  const kinds = ["env", "keystore", "file"].filter((f) => k[f] !== undefined);
  if (kinds.length !== 1) throw new ConfigError(v.file, "key", expected, raw);
  const envName = (x: unknown, field: string) =>
    v.string(x, field, "an environment variable name", (s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s));
  if (k.env !== undefined) {
    if (k.passwordEnv !== undefined)
      throw new ConfigError(v.file, "key.passwordEnv", "absent with key.env", k.passwordEnv);
    return { env: envName(k.env, "key.env") };
  }
  if (k.keystore !== undefined) {
    return {
      keystore: path(
        v.string(k.keystore, "key.keystore", "a path to a V3 keystore file", (s) => s.length > 0),
      ),
      passwordEnv: envName(k.passwordEnv ?? "PERUN_KEY_PASSWORD", "key.passwordEnv"),
    };
  }
  if (k.passwordEnv !== undefined)
    throw new ConfigError(v.file, "key.passwordEnv", "absent with key.file", k.passwordEnv);
  return { file: path(v.string(k.file, "key.file", "a path to a file with a hex key", (s) => s.length > 0)) };
}

function parseEndpoint(
  v: Validator,
  raw: unknown,
  field: string,
  dflt: { host: string; port: number },
  loopbackOnly: boolean,
): { host: string; port: number } {
  if (raw === undefined) return dflt;
  const o = v.object(raw, field, ["host", "port"]);
  const host =
    o.host === undefined
      ? dflt.host
      : v.string(
          o.host,
          `${field}.host`,
          loopbackOnly ? "a loopback address (127.0.0.1, localhost, ::1)" : "a host name or address",
          (s) => (loopbackOnly ? LOOPBACK_HOSTS.includes(s) : s.length > 0),
        );
  const port = v.optionalInt(o.port, `${field}.port`, 0, dflt.port, 65535);
  return { host, port };
}

/** Field checks that throw ConfigError naming the field. */
class Validator {
  constructor(readonly file: string) {}

  /** An object; `allowed` lists the known fields (null: any). */
  object(x: unknown, field: string, allowed: readonly string[] | null): Record<string, unknown> {
    if (typeof x !== "object" || x === null || Array.isArray(x)) {
      throw new ConfigError(this.file, field, "an object", x);
    }
    const o = x as Record<string, unknown>;
    if (allowed) {
      for (const k of Object.keys(o)) {
        if (!allowed.includes(k)) {
          throw new ConfigError(
            this.file,
            field === "(root)" ? k : `${field}.${k}`,
            `absent (unknown field; known: ${allowed.join(", ")})`,
            o[k],
          );
        }
      }
    }
    return o;
  }

  string(x: unknown, field: string, expected: string, ok: (s: string) => boolean): string {
    if (typeof x !== "string" || !ok(x)) throw new ConfigError(this.file, field, expected, x);
    return x;
  }

  boolean(x: unknown, field: string): boolean {
    if (typeof x !== "boolean") throw new ConfigError(this.file, field, "true or false", x);
    return x;
  }

  address(x: unknown, field: string): Address {
    // strict: a mixed-case address must carry a valid EIP-55 checksum (catches typos).
    if (typeof x !== "string" || !isAddress(x, { strict: true })) {
      throw new ConfigError(
        this.file,
        field,
        "a 20-byte hex address (0x + 40 hex digits, valid checksum)",
        x,
      );
    }
    return getAddress(x);
  }

  /** A uint256 in wei as a decimal string (JSON numbers lose precision above 2^53). */
  wei(x: unknown, field: string): bigint {
    const expected = 'an amount in wei as a decimal string, e.g. "1000000000000"';
    if (typeof x !== "string" || !/^(0|[1-9][0-9]{0,77})$/.test(x))
      throw new ConfigError(this.file, field, expected, x);
    const n = BigInt(x);
    if (n >= 1n << 256n) throw new ConfigError(this.file, field, "at most 2^256 - 1", x);
    return n;
  }

  optionalInt(x: unknown, field: string, min: number, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
    if (x === undefined) return dflt;
    if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) {
      throw new ConfigError(this.file, field, `an integer from ${min} to ${max}`, x);
    }
    return x;
  }
}
