import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Hex } from "../../src/channel/types.js";
import {
  type ChainProcess,
  freePort,
  killAll,
  type NodeProcess,
  nodeConfig,
  runPerun,
  spawnChain,
  spawnNode,
  tempDir,
  until,
} from "./processes.js";

let chain: ChainProcess;
let alice: NodeProcess;
let bob: NodeProcess;
let dir: string;

const perun = runPerun;

beforeAll(async () => {
  chain = await spawnChain();
  dir = tempDir();
  const aKey = chain.info.devKeys[3] as Hex;
  const bKey = chain.info.devKeys[4] as Hex;
  const bPort = await freePort();
  [alice, bob] = await Promise.all([
    spawnNode(
      dir,
      "alice",
      nodeConfig(chain.info, {
        db: "alice.db",
        wirePort: 0,
        peers: { [privateKeyToSigner(bKey).address]: `ws://127.0.0.1:${bPort}` },
      }),
      { PERUN_KEY: aKey },
    ),
    spawnNode(dir, "bob", nodeConfig(chain.info, { db: "bob.db", wirePort: bPort }), { PERUN_KEY: bKey }),
  ]);
}, 120_000);

afterAll(async () => {
  chain?.kill("SIGTERM");
  await killAll();
});

describe("perun open / pay / channels / close", () => {
  it("runs a channel from the command line, amounts in ether", async () => {
    const open = await perun([
      "open",
      "--api",
      alice.apiUrl,
      "--peer",
      bob.address,
      "--deposit",
      "1.5",
      "--peer-deposit",
      "1",
      "--challenge-duration",
      "90",
    ]);
    expect(open.code, open.stderr).toBe(0);
    expect(open.stderr).toBe("");
    const id = open.stdout.trim();
    expect(id).toMatch(/^0x[0-9a-f]{64}$/);

    const pay = await perun(["pay", "--api", alice.apiUrl, "--channel", id, "--amount", "0.25"]);
    expect(pay.code).toBe(0);
    expect(pay.stdout).toBe("version 1: ours 1.25 ETH, peer 1.25 ETH\n");
    await until(async () => (await bob.api.channel(id as Hex)).version === "1", "Bob at version 1");
    const back = await perun([
      "pay",
      "--api",
      bob.apiUrl,
      "--channel",
      id,
      "--amount",
      "0.000000000000000001",
    ]);
    expect(back.stdout).toBe("version 2: ours 1.249999999999999999 ETH, peer 1.250000000000000001 ETH\n");

    const list = await perun(["channels", "--api", alice.apiUrl]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^CHANNEL\s+PEER\s+PHASE\s+VERSION\s+BALANCES$/);
    expect(lines[1]).toContain(id);
    expect(lines[1]).toContain(bob.address);
    expect(lines[1]).toMatch(/Acting\s+2\s+ours 1.250000000000000001 ETH, peer 1.249999999999999999 ETH/);

    const close = await perun(["close", "--api", alice.apiUrl, "--channel", id]);
    expect(close.code).toBe(0);
    expect(close.stdout).toContain("funds are withdrawn");
    expect((await perun(["channels", "--api", alice.apiUrl])).stdout).toMatch(/Withdrawn/);
  });

  it("API errors: message and exit code 1", async () => {
    const unknown = `0x${"cd".repeat(32)}`;
    const r = await perun(["pay", "--api", alice.apiUrl, "--channel", unknown, "--amount", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No channel 0xcdcd.* is known.*HTTP 404/);
    const down = await perun(["channels", "--api", `http://127.0.0.1:${await freePort()}`]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/Cannot reach the node API/);
  });

  it.each<[string[], RegExp]>([
    [["open", "--peer", "0x12", "--deposit", "1"], /--peer must be an address/],
    [
      ["open", "--peer", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "--deposit", "1e18"],
      /--deposit must be an amount in ether/,
    ],
    [["open", "--peer", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"], /perun open needs --deposit/],
    [
      [
        "open",
        "--peer",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "--deposit",
        "1",
        "--challenge-duration",
        "0",
      ],
      /--challenge-duration must be an integer from 1/,
    ],
    [["pay", "--channel", "0x12", "--amount", "1"], /--channel must be a channel id/],
    [["pay", "--channel", `0x${"ab".repeat(32)}`, "--amount=-1"], /--amount must be an amount in ether/],
    [
      ["pay", "--channel", `0x${"ab".repeat(32)}`, "--amount", "0.0000000000000000001"],
      /at most 18 decimals/,
    ],
    [["pay", "--channel", `0x${"ab".repeat(32)}`], /perun pay needs --amount/],
    [["pay", "--deposit", "1"], /--deposit does not apply to `perun pay`/],
    [["channels", "--api", "http://example.com:5001"], /--api must be the node's local API URL/],
    [["close"], /needs --channel/],
    [["node"], /perun node needs --config/],
    [["key", "make"], /Unknown key command "make"/],
    [["key", "new"], /needs --out/],
  ])("rejects %j with exit code 2", async (args, message) => {
    const r = await perun(args);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });
});

describe("the API secret", () => {
  it("the node's first line names its secret file: mode 0600 in the data directory (default: the db's directory)", () => {
    // Named after the db: Bob's database is in the same directory, and his secret is his own.
    expect(alice.apiSecretFile).toBe(join(dir, "alice.api-secret"));
    expect(bob.apiSecretFile).toBe(join(dir, "bob.api-secret"));
    expect(statSync(alice.apiSecretFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(alice.apiSecretFile, "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);
  });

  it("without a way to the secret the CLI says which file and why (exit 1); with one it works", async () => {
    const before = await alice.api.channels();
    const empty = tempDir("perun-run-");
    const none = await perun(["channels", "--api", alice.apiUrl], { PERUN_RUN_DIR: empty });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /No API secret for http:\/\/127\.0\.0\.1:\d+: .*api-127\.0\.0\.1-\d+: no such file/,
    );
    expect(none.stderr).toMatch(/Hint: Is `perun node` running as this user .*--api-secret-file/);

    const missing = await perun([
      "channels",
      "--api",
      alice.apiUrl,
      "--api-secret-file",
      join(empty, "nope"),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /Cannot read the API secret file .*nope \(named by --api-secret-file\): no such file/,
    );

    const junk = join(empty, "junk");
    writeFileSync(junk, "not a secret\n");
    const bad = await perun(["channels", "--api", alice.apiUrl], { PERUN_API_SECRET_FILE: junk });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/junk \(named by \$PERUN_API_SECRET_FILE\) does not hold an API secret/);

    const wrong = await perun(["channels", "--api", alice.apiUrl, "--api-secret-file", bob.apiSecretFile]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/Wrong API secret\. \(HTTP 401\)/);
    expect(wrong.stderr).toContain(alice.apiSecretFile); // the hint says where the right one is

    const byEnv = await perun(["channels", "--api", alice.apiUrl], {
      PERUN_RUN_DIR: empty,
      PERUN_API_SECRET_FILE: alice.apiSecretFile,
    });
    expect(byEnv.code, byEnv.stderr).toBe(0);
    const byFlag = await perun(
      ["channels", "--api", alice.apiUrl, "--api-secret-file", alice.apiSecretFile],
      {
        PERUN_RUN_DIR: empty,
      },
    );
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(byFlag.stdout).toBe(byEnv.stdout);
    expect(await alice.api.channels()).toEqual(before);
  });

  it.skipIf(process.getuid?.() !== 0)(
    "as another Unix user (nobody): permission denied on the secret file, run as the node's user; no payment (root only)",
    async () => {
      const { channelID } = await alice.api.open({ peer: bob.address, deposit: 1000n, peerDeposit: 0n });
      const before = await alice.api.channel(channelID);
      const nobody = { uid: 65534, gid: 65534 };
      const args = ["pay", "--api", alice.apiUrl, "--channel", channelID, "--amount", "0.000000000000000001"];
      const env = { HOME: "/nonexistent", PERUN_RUN_DIR: "" };
      const denied = await perun(args, { ...env, PERUN_API_SECRET_FILE: alice.apiSecretFile }, nobody);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain(`Cannot read the API secret file ${alice.apiSecretFile}`);
      expect(denied.stderr).toMatch(/permission denied.*we are uid 65534/);
      expect(denied.stderr).toMatch(
        /Hint: Only the node's user may read it: run this command as the node's user/,
      );
      const lost = await perun(args, env, nobody);
      expect(lost.code).toBe(1);
      expect(lost.stderr).toMatch(/No API secret for http:\/\/127\.0\.0\.1:\d+/);
      expect(lost.stderr).toMatch(/running as this user \(uid 65534\)/);
      expect(await alice.api.channel(channelID)).toEqual(before);
      // The node's own user pays as usual.
      expect((await perun(args)).code).toBe(0);
    },
  );
});

describe("perun node and perun key", () => {
  it("a broken config names the field and exits 2", async () => {
    const file = join(dir, "broken.json");
    writeFileSync(
      file,
      JSON.stringify({ ...nodeConfig(chain.info, { db: "x.db", wirePort: 0 }), api: { host: "0.0.0.0" } }),
    );
    const r = await perun(["node", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/api.host must be a loopback address.*got "0.0.0.0"/);
  });

  it("`key new` writes a V3 keystore a node starts from; a wrong password exits 1", async () => {
    const ks = join(dir, "carol.json");
    expect((await perun(["key", "new", "--out", ks])).stderr).toMatch(/PERUN_KEY_PASSWORD/);
    const made = await perun(["key", "new", "--out", ks], { PERUN_KEY_PASSWORD: "s3cret" });
    expect(made.code).toBe(0);
    const address = made.stdout.trim();
    expect(address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(JSON.parse(readFileSync(ks, "utf8")).crypto.kdf).toBe("scrypt");
    const again = await perun(["key", "new", "--out", ks], { PERUN_KEY_PASSWORD: "s3cret" });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists; refusing to overwrite/);

    const config = {
      ...nodeConfig(chain.info, { db: "carol.db", wirePort: 0 }),
      key: { keystore: "carol.json" },
    };
    const carol = await spawnNode(dir, "carol-node", config, { PERUN_KEY_PASSWORD: "s3cret" });
    expect(carol.address).toBe(address);
    expect((await carol.api.info()).address).toBe(address);
    carol.kill("SIGTERM");
    expect((await carol.waitExit()).code).toBe(0);

    writeFileSync(join(dir, "carol2.json"), JSON.stringify({ ...config, db: "carol2.db" }));
    const wrong = await perun(["node", "--config", join(dir, "carol2.json")], {
      PERUN_KEY_PASSWORD: "guess",
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/wrong password/);
    expect(existsSync(join(dir, "carol2.db"))).toBe(false);
  });
});
