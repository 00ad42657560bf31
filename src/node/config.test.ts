/**
 * The config file and the node's key sources: broken configs name the field, what was expected and
 * what arrived; keystores round-trip (scrypt and pbkdf2) and a wrong password is a typed error.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { devKey } from "../chain/embedded.js";
import { privateKeyToSigner } from "../channel/signer.js";
import { loadConfig, parseConfig } from "./config.js";
import { ConfigError, KeySourceError, KeystoreError } from "./errors.js";
import { loadNodeKey } from "./key.js";
import { decryptKeystore, encryptKeystore } from "./keystore.js";

const ADJ = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const HOLDER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const BOB = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

const good = {
  key: { env: "PERUN_KEY" },
  chain: { rpcUrl: "http://127.0.0.1:8545" },
  contracts: { adjudicator: ADJ, assets: { ETH: HOLDER } },
  wire: { host: "127.0.0.1", port: 4001 },
  api: { host: "127.0.0.1", port: 5001 },
  db: "alice.db",
  peers: { [BOB]: "ws://127.0.0.1:4002" },
  defaults: { challengeDuration: 60, fundingTimeout: 600 },
  accept: { proposals: true, updates: "gains-only" },
  // A development chain's policy: seconds, not hours.
  policy: { challengeDuration: { min: 1 }, fundingTimeout: { min: 1 }, maxDeposit: { ETH: "5" } },
  pollMs: 250,
};

const TERMS = { baseFee: "1000000000000", ratePerSecondPerUnit: "1000000000", maxDurationSeconds: 86400 };

function without(o: Record<string, unknown>, k: string): Record<string, unknown> {
  const { [k]: _, ...rest } = o;
  return rest;
}

describe("node config", () => {
  it("accepts a full config, resolves paths against the config file and checksums addresses", () => {
    const c = parseConfig(
      { ...good, contracts: { adjudicator: ADJ.toLowerCase(), assets: { ETH: HOLDER } } },
      "/etc/perun/alice.json",
    );
    expect(c.store).toEqual({ file: "/etc/perun/alice.db" });
    expect(c.dataDir).toBe("/etc/perun");
    expect(c.apiSecretFile).toBe("/etc/perun/alice.api-secret");
    expect(c.contracts.adjudicator).toBe(ADJ);
    expect(c.defaults).toEqual({ challengeDuration: 60n, fundingTimeout: 600n });
    expect(c.peers).toEqual({ [BOB]: "ws://127.0.0.1:4002" });
    expect(c.accept).toEqual({ proposals: true, updates: "gains-only" });
  });

  it("reads intermediary terms as bigints; without them the node is no intermediary", () => {
    const c = parseConfig({ ...good, intermediary: TERMS }, "/x/c.json");
    expect(c.intermediary).toEqual({
      baseFee: 10n ** 12n,
      ratePerSecondPerUnit: 10n ** 9n,
      maxDurationSeconds: 86_400n,
    });
    expect(
      parseConfig({ ...good, intermediary: { ...TERMS, baseFee: "0" } }, "/x/c.json").intermediary?.baseFee,
    ).toBe(0n);
    expect(parseConfig(good, "/x/c.json").intermediary).toBeUndefined();
    expect("intermediary" in parseConfig(good, "/x/c.json")).toBe(false);
  });

  it("dataDir: the directory of db by default, else resolved against the config file; the API secret file is named after db", () => {
    expect(parseConfig({ ...good, db: "data/a.db" }, "/x/c.json").dataDir).toBe("/x/data");
    expect(parseConfig({ ...good, dataDir: "state" }, "/x/c.json").apiSecretFile).toBe(
      "/x/state/alice.api-secret",
    );
    expect(parseConfig({ ...good, db: "bob.sqlite" }, "/x/c.json").apiSecretFile).toBe("/x/bob.api-secret");
    expect(parseConfig({ ...good, dataDir: "/var/lib/perun" }, "/x/c.json").dataDir).toBe("/var/lib/perun");
    expect(() => parseConfig({ ...good, dataDir: "" }, "/x/c.json")).toThrow(/dataDir must be a path/);
  });

  it("store: a Postgres schema instead of db; the API secret is then named after the config file", () => {
    const pgConfig = {
      ...without(good, "db"),
      store: { postgres: "postgres://perun@db:5432/hubs", schema: "hub1" },
    };
    const c = parseConfig(pgConfig, "/etc/perun/hub.json");
    expect(c.store).toEqual({ postgres: "postgres://perun@db:5432/hubs", schema: "hub1" });
    expect(c.dataDir).toBe("/etc/perun");
    expect(c.apiSecretFile).toBe("/etc/perun/hub.api-secret");
    expect(parseConfig({ ...pgConfig, dataDir: "/var/lib/perun" }, "/x/hub.json").apiSecretFile).toBe(
      "/var/lib/perun/hub.api-secret",
    );
    const noSchema = parseConfig({ ...pgConfig, store: { postgres: "postgresql://h/d" } }, "/x/c.json");
    expect(noSchema.store).toEqual({ postgres: "postgresql://h/d" });
  });

  it("fills defaults; proposals are refused unless accepted explicitly", () => {
    const c = parseConfig(
      { key: good.key, chain: good.chain, contracts: good.contracts, db: "/var/a.db" },
      "/x/c.json",
    );
    expect(c.wire).toEqual({ host: "127.0.0.1", port: 4001 });
    expect(c.api).toEqual({ host: "127.0.0.1", port: 5001 });
    expect(c.accept).toEqual({ proposals: false, updates: "gains-only" });
    expect(c.pollMs).toBe(250);
    // Without a policy section: the bounds safe on Ethereum mainnet, and no deposit into peers' channels;
    // our own defaults lie within them.
    expect(c.policy).toEqual({
      challengeDuration: { min: 3_600n, max: 604_800n },
      fundingTimeout: { min: 300n, max: 86_400n },
      maxDeposit: {},
      virtualSeconds: 2_592_000n,
      challengeMargin: 600n,
    });
    expect(c.defaults).toEqual({ challengeDuration: 3_600n, fundingTimeout: 600n });
    expect(c.peers).toEqual({});
  });

  it.each<[string, unknown, RegExp]>([
    ["not an object", [], /\(root\) must be an object, got \[\]/],
    ["unknown field", { ...good, challangeDuration: 5 }, /challangeDuration must be absent \(unknown field/],
    ["no key", without(good, "key"), /key must be an object, got undefined/],
    ["two key sources", { ...good, key: { env: "A", file: "k" } }, /key must be \{"env"/],
    [
      "bad env name",
      { ...good, key: { env: "1X" } },
      /key.env must be an environment variable name, got "1X"/,
    ],
    ["keystore without file", { ...good, key: { passwordEnv: "P" } }, /key must be \{"env"/],
    [
      "rpc url",
      { ...good, chain: { rpcUrl: "127.0.0.1:8545" } },
      /chain.rpcUrl must be an http\(s\):\/\/ or ws\(s\):\/\/ URL, got "127.0.0.1:8545"/,
    ],
    [
      "adjudicator",
      { ...good, contracts: { adjudicator: "0x12", assets: {} } },
      /contracts.adjudicator must be a 20-byte hex address.*got "0x12"/,
    ],
    [
      "bad checksum",
      { ...good, contracts: { adjudicator: ADJ.replace("F", "f"), assets: { ETH: HOLDER } } },
      /contracts.adjudicator must be a 20-byte hex address/,
    ],
    [
      "no assets",
      { ...good, contracts: { adjudicator: ADJ, assets: {} } },
      /contracts.assets must be at least one asset holder/,
    ],
    [
      "asset holder",
      { ...good, contracts: { adjudicator: ADJ, assets: { ETH: 5 } } },
      /contracts.assets.ETH must be a 20-byte hex address.*got 5/,
    ],
    [
      "api not loopback",
      { ...good, api: { host: "0.0.0.0", port: 5001 } },
      /api.host must be a loopback address \(127.0.0.1, localhost, ::1\), got "0.0.0.0"/,
    ],
    [
      "port range",
      { ...good, wire: { host: "127.0.0.1", port: 70000 } },
      /wire.port must be an integer from 0 to 65535, got 70000/,
    ],
    [
      "port type",
      { ...good, api: { port: "5001" } },
      /api.port must be an integer from 0 to 65535, got "5001"/,
    ],
    [
      "db",
      { ...good, db: 7 },
      /db must be a path to the SQLite file \(or, for a Postgres store, .*\), got 7/,
    ],
    ["no store", without(good, "db"), /db must be a path to the SQLite file .*got undefined/],
    [
      "db and store",
      { ...good, store: { postgres: "postgres://h/d" } },
      /db must be absent when "store" is given \(one store per node\), got "alice.db"/,
    ],
    [
      "store.postgres not a URL",
      { ...without(good, "db"), store: { postgres: "host=db dbname=hub" } },
      /store.postgres must be a postgres:\/\/ or postgresql:\/\/ connection string, got "host=db dbname=hub"/,
    ],
    [
      "store.schema quoted",
      { ...without(good, "db"), store: { postgres: "postgres://h/d", schema: "Hub-1" } },
      /store.schema must be a schema name of lower-case letters/,
    ],
    [
      "store unknown field",
      { ...without(good, "db"), store: { sqlite: "a.db" } },
      /store.sqlite must be absent \(unknown field; known: postgres, schema\)/,
    ],
    [
      "peer address",
      { ...good, peers: { bob: "ws://127.0.0.1:1" } },
      /peers key bob must be a 20-byte hex address/,
    ],
    [
      "peer url",
      { ...good, peers: { [BOB]: "http://127.0.0.1:1" } },
      /peers.0x7099.* must be a ws:\/\/ or wss:\/\/ URL/,
    ],
    [
      "challenge",
      { ...good, defaults: { challengeDuration: 0 } },
      /defaults.challengeDuration must be an integer from 1/,
    ],
    [
      "challenge below the policy",
      { ...good, defaults: { challengeDuration: 60 }, policy: { challengeDuration: { min: 120 } } },
      /defaults.challengeDuration must be an integer from 120 to 604800/,
    ],
    [
      "policy bounds reversed",
      { ...good, policy: { fundingTimeout: { min: 600, max: 60 } } },
      /policy.fundingTimeout.max must be an integer from 600/,
    ],
    [
      "policy zero challenge duration",
      { ...good, policy: { challengeDuration: { min: 0 } } },
      /policy.challengeDuration.min must be an integer from 1/,
    ],
    [
      "policy challenge duration beyond 2^32",
      { ...good, policy: { challengeDuration: { max: 2 ** 40 } } },
      /policy.challengeDuration.max must be an integer from .* to 4294967296/,
    ],
    [
      "policy maxDeposit unknown asset",
      { ...good, policy: { maxDeposit: { DAI: "1" } } },
      /policy.maxDeposit.DAI must be an asset symbol of contracts.assets \(ETH\)/,
    ],
    [
      "policy maxDeposit as number",
      { ...good, policy: { maxDeposit: { ETH: 1 } } },
      /policy.maxDeposit.ETH must be an amount in wei/,
    ],
    ["policy unknown field", { ...good, policy: { minChallenge: 1 } }, /policy.minChallenge must be absent/],
    [
      "timeout type",
      { ...good, defaults: { fundingTimeout: "600" } },
      /defaults.fundingTimeout must be an integer/,
    ],
    [
      "accept.proposals",
      { ...good, accept: { proposals: "yes" } },
      /accept.proposals must be true or false, got "yes"/,
    ],
    [
      "accept.updates",
      { ...good, accept: { updates: "some" } },
      /accept.updates must be "gains-only" or "all", got "some"/,
    ],
    ["pollMs", { ...good, pollMs: 1 }, /pollMs must be an integer from 10/],
    ["intermediary type", { ...good, intermediary: true }, /intermediary must be an object, got true/],
    [
      "intermediary unknown field",
      { ...good, intermediary: { ...TERMS, fee: "1" } },
      /intermediary.fee must be absent \(unknown field/,
    ],
    [
      "intermediary.baseFee as number",
      { ...good, intermediary: { ...TERMS, baseFee: 1000 } },
      /intermediary.baseFee must be an amount in wei as a decimal string.*got 1000/,
    ],
    [
      "intermediary.baseFee missing",
      { ...good, intermediary: without(TERMS, "baseFee") },
      /intermediary.baseFee must be an amount in wei.*got undefined/,
    ],
    [
      "intermediary.ratePerSecondPerUnit negative",
      { ...good, intermediary: { ...TERMS, ratePerSecondPerUnit: "-1" } },
      /intermediary.ratePerSecondPerUnit must be an amount in wei.*got "-1"/,
    ],
    [
      "intermediary.ratePerSecondPerUnit too big",
      { ...good, intermediary: { ...TERMS, ratePerSecondPerUnit: `2${"0".repeat(77)}` } },
      /intermediary.ratePerSecondPerUnit must be at most 2\^256 - 1/,
    ],
    [
      "intermediary.maxDurationSeconds missing",
      { ...good, intermediary: without(TERMS, "maxDurationSeconds") },
      /intermediary.maxDurationSeconds must be an integer from 1 to 4294967296, got undefined/,
    ],
    [
      "intermediary.maxDurationSeconds zero",
      { ...good, intermediary: { ...TERMS, maxDurationSeconds: 0 } },
      /intermediary.maxDurationSeconds must be an integer from 1/,
    ],
    [
      "intermediary.maxDurationSeconds as string",
      { ...good, intermediary: { ...TERMS, maxDurationSeconds: "86400" } },
      /intermediary.maxDurationSeconds must be an integer.*got "86400"/,
    ],
  ])("refuses %s", (_name, json, message) => {
    let err: unknown;
    try {
      parseConfig(json, "/x/node.json");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain("Invalid config /x/node.json");
    expect((err as Error).message).toMatch(message);
  });

  it("says when the file is missing or not JSON", () => {
    const dir = mkdtempSync(join(tmpdir(), "perun-config-"));
    expect(() => loadConfig(join(dir, "nope.json"))).toThrow(/must be a readable JSON file/);
    writeFileSync(join(dir, "bad.json"), "{ key: 1 }");
    expect(() => loadConfig(join(dir, "bad.json"))).toThrow(/must be valid JSON/);
  });
});

describe("key sources", () => {
  const key = devKey(1);
  const dir = mkdtempSync(join(tmpdir(), "perun-key-"));

  it("reads a key from an environment variable or a file, never echoing a bad value", async () => {
    expect(await loadNodeKey({ env: "K" }, { K: key })).toBe(key);
    expect(await loadNodeKey({ env: "K" }, { K: key.slice(2).toUpperCase() })).toBe(key);
    await expect(loadNodeKey({ env: "K" }, {})).rejects.toThrow(/K \(config key.env\) is not set/);
    const bad = loadNodeKey({ env: "K" }, { K: "0xsecret-with-typo" }).catch((e: unknown) => e);
    expect(await bad).toBeInstanceOf(KeySourceError);
    expect(String(await bad)).not.toContain("secret");
    writeFileSync(join(dir, "key.hex"), `${key}\n`);
    expect(await loadNodeKey({ file: join(dir, "key.hex") })).toBe(key);
  });

  it("round-trips a V3 keystore (scrypt) and refuses a wrong password", async () => {
    const ks = await encryptKeystore(key, "correct horse", { n: 1024, r: 8, p: 1 });
    expect(ks.address).toBe(privateKeyToSigner(key).address.slice(2).toLowerCase());
    expect((await decryptKeystore(ks, "correct horse")).privateKey).toBe(key);
    const err = await decryptKeystore(ks, "wrong").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeystoreError);
    expect((err as KeystoreError).code).toBe("KEYSTORE_PASSWORD");

    const file = join(dir, "ks.json");
    writeFileSync(file, JSON.stringify(ks));
    expect(await loadNodeKey({ keystore: file, passwordEnv: "PW" }, { PW: "correct horse" })).toBe(key);
    await expect(loadNodeKey({ keystore: file, passwordEnv: "PW" }, { PW: "nope" })).rejects.toThrow(
      /wrong password/,
    );
    await expect(loadNodeKey({ keystore: file, passwordEnv: "PW" }, {})).rejects.toThrow(/PW .* is not set/);
  });

  it("decrypts the pbkdf2 test vector of the Web3 Secret Storage definition", async () => {
    // https://ethereum.org/en/developers/docs/data-structures-and-encoding/web3-secret-storage/
    const vector = {
      crypto: {
        cipher: "aes-128-ctr",
        cipherparams: { iv: "6087dab2f9fdbbfaddc31a909735c1e6" },
        ciphertext: "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        kdf: "pbkdf2",
        kdfparams: {
          c: 262144,
          dklen: 32,
          prf: "hmac-sha256",
          salt: "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
        },
        mac: "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
      },
      id: "3198bc9c-6672-5ab3-d995-4942343ae5b6",
      version: 3,
    };
    const { privateKey } = await decryptKeystore(vector, "testpassword");
    expect(privateKey).toBe("0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d");
    await expect(decryptKeystore(vector, "testpassworD")).rejects.toBeInstanceOf(KeystoreError);
  });

  it("names what is wrong with a malformed keystore", async () => {
    await expect(decryptKeystore({ version: 2 }, "x")).rejects.toThrow(/unsupported keystore version 2/);
    const ks = await encryptKeystore(key, "pw", { n: 1024, r: 8, p: 1 });
    await expect(
      decryptKeystore({ ...ks, crypto: { ...ks.crypto, cipher: "aes-256-gcm" } }, "pw"),
    ).rejects.toThrow(/unsupported cipher aes-256-gcm/);
    await expect(decryptKeystore({ ...ks, crypto: { ...ks.crypto, kdf: "argon2" } }, "pw")).rejects.toThrow(
      /unsupported kdf argon2/,
    );
  });
});
