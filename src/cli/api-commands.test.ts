/**
 * `perun open-virtual`: argument checks (and the shared ones it reuses): every bad argument is a
 * UsageError naming the flag (exit 2 through `main`), before any request goes out; and the
 * POST /v1/virtual body each form sends (one intermediary, comma-separated lists, fees quoted from
 * each --via-api, the path found with --auto --directory), against fake node APIs in this process,
 * each with its own API secret and pointer file, as a node leaves them: a request without the right
 * secret is 401, so every test also checks that each node gets its own secret.
 */
import { mkdtempSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEther } from "viem";
import { afterEach, describe, expect, it, vi } from "vitest";
import { rentalFee } from "../channel/fees.js";
import { loadOrCreateApiSecret, RUN_DIR_ENV, writeApiPointer } from "../node/api-secret.js";
import { type ApiArgs, apiCommand, type Output } from "./api-commands.js";
import { main } from "./run.js";
import { UsageError } from "./usage-error.js";

// The fake nodes' pointer files go to a run directory of this test file (a fresh process per file).
process.env[RUN_DIR_ENV] = mkdtempSync(join(tmpdir(), "perun-run-"));

const ALICE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const BOB = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const INGRID = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const IRENE = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";
const L1 = `0x${"11".repeat(32)}`;
const L2 = `0x${"22".repeat(32)}`;
const L3 = `0x${"33".repeat(32)}`;
const L4 = `0x${"44".repeat(32)}`;
const good: ApiArgs = {
  api: "http://127.0.0.1:1",
  peer: BOB,
  via: INGRID,
  ledger: L1,
  "peer-ledger": L2,
  deposit: "1",
  "peer-deposit": "1",
  fee: "0.001",
  seconds: "3600",
};

const auto: ApiArgs = {
  api: "http://127.0.0.1:1",
  peer: BOB,
  deposit: "1",
  seconds: "3600",
  auto: true,
  directory: "http://127.0.0.1:2",
};

describe("perun open-virtual arguments", () => {
  it.each<[string, Partial<Record<keyof ApiArgs, string | undefined>>, RegExp]>([
    ["no --via", { via: undefined }, /needs --via/],
    ["--via not an address", { via: "ingrid" }, /--via must be an address/],
    ["--via is the peer", { via: BOB }, /--via must be the intermediary, not the peer/],
    ["no --ledger", { ledger: undefined }, /needs --ledger/],
    ["--ledger not an id", { ledger: "0x12" }, /--ledger must be a channel id/],
    ["--peer-ledger not an id", { "peer-ledger": "L2" }, /--peer-ledger must be a channel id/],
    ["--peer-ledger = --ledger", { "peer-ledger": L1 }, /--peer-ledger must be the intermediary's channel/],
    ["no --deposit", { deposit: undefined }, /needs --deposit/],
    ["nothing deposited", { deposit: "0", "peer-deposit": "0" }, /must be positive/],
    ["no --seconds", { seconds: undefined }, /needs --seconds/],
    ["--seconds zero", { seconds: "0" }, /--seconds must be an integer from 1/],
    ["--seconds fractional", { seconds: "1.5" }, /--seconds must be an integer/],
    ["--seconds too big", { seconds: "99999999999" }, /--seconds must be an integer from 1 to 4294967296/],
    ["neither --fee nor --via-api", { fee: undefined }, /needs either --fee <eth> or --via-api/],
    ["both --fee and --via-api", { "via-api": "http://127.0.0.1:2" }, /needs either --fee/],
    ["--fee not ether", { fee: "1e-3" }, /--fee must be an amount in ether/],
    [
      "--via-api not a URL",
      { fee: undefined, "via-api": "127.0.0.1:5003" },
      /--via-api must be a node API URL/,
    ],
    // Several intermediaries: comma-separated lists in path order.
    ["--via with an empty entry", { via: `${INGRID},,${IRENE}` }, /--via must be a comma-separated list/],
    ["--via lists the peer", { via: `${INGRID},${BOB}` }, /--via must not list the peer/],
    ["--via lists one twice", { via: `${INGRID},${INGRID.toLowerCase()}` }, /--via lists .* twice/],
    ["--via entry not an address", { via: `${INGRID},irene` }, /--via must be an address/],
    [
      "--peer-ledger one for two intermediaries",
      { via: `${INGRID},${IRENE}`, fee: "0.1,0.1" },
      /--peer-ledger must list 2 channel id\(s\), one per intermediary in --via .* got 1/,
    ],
    [
      "--peer-ledger repeats one",
      { via: `${INGRID},${IRENE}`, "peer-ledger": `${L2},${L2}`, fee: "0.1,0.1" },
      /--peer-ledger lists .* twice or with --ledger/,
    ],
    [
      "--peer-ledger lists ours",
      { via: `${INGRID},${IRENE}`, "peer-ledger": `${L2},${L1}`, fee: "0.1,0.1" },
      /--peer-ledger lists .* twice or with --ledger/,
    ],
    [
      "--fee one for two intermediaries",
      { via: `${INGRID},${IRENE}`, "peer-ledger": `${L2},${L3}` },
      /--fee must list 2 fee\(s\), one per intermediary in --via, got 1/,
    ],
    ["--fee two for one intermediary", { fee: "0.1,0.1" }, /--fee must list 1 fee\(s\)/],
    [
      "--fee entry not ether",
      { via: `${INGRID},${IRENE}`, "peer-ledger": `${L2},${L3}`, fee: "0.1,x" },
      /--fee must be an amount/,
    ],
    [
      "--via-api one for two intermediaries",
      {
        via: `${INGRID},${IRENE}`,
        "peer-ledger": `${L2},${L3}`,
        fee: undefined,
        "via-api": "http://127.0.0.1:2",
      },
      /--via-api must list 2 URL\(s\)/,
    ],
    // --auto finds the path itself.
    ["--directory without --auto", { directory: "http://127.0.0.1:2" }, /--directory goes with --auto/],
  ])("%s -> UsageError", async (_name, patch, message) => {
    const args: Record<string, unknown> = { ...good, ...patch };
    for (const k of Object.keys(args)) if (args[k] === undefined) delete args[k];
    const err = await apiCommand("open-virtual", args as ApiArgs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
  });

  it.each<[string, Partial<Record<keyof ApiArgs, string | boolean | undefined>>, RegExp]>([
    ["--auto with --via", { via: INGRID }, /--auto finds the path itself; drop --via/],
    ["--auto with --fee", { fee: "0.1" }, /drop --fee/],
    ["--auto with --peer-ledger", { "peer-ledger": L2 }, /drop --peer-ledger/],
    ["--auto without --directory", { directory: undefined }, /perun open-virtual --auto needs --directory/],
    [
      "--directory not a URL",
      { directory: "http://127.0.0.1:2,node-b" },
      /--directory must be a node API URL/,
    ],
    [
      "--directory with an empty entry",
      { directory: "http://127.0.0.1:2," },
      /--directory must be a comma-separated/,
    ],
  ])("%s -> UsageError", async (_name, patch, message) => {
    const args: Record<string, unknown> = { ...auto, ...patch };
    for (const k of Object.keys(args)) if (args[k] === undefined) delete args[k];
    const err = await apiCommand("open-virtual", args as ApiArgs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
  });

  it("exits 2 on bad arguments and on options that do not apply", async () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await main(["open-virtual", "--peer", BOB, "--via", BOB])).toBe(2);
      expect(await main(["open-virtual", "--amount", "1"])).toBe(2);
      expect(String(stderr.mock.calls.at(-1)?.[0])).toContain(
        "--amount does not apply to `perun open-virtual`",
      );
      expect(await main(["open-virtual", "--peer", BOB, "--deposit", "1", "--seconds", "60", "--auto"])).toBe(
        2,
      );
      expect(String(stderr.mock.calls.at(-1)?.[0])).toContain("needs --directory");
    } finally {
      stderr.mockRestore();
    }
  });
});

/** A fake node API: GET /v1/info and /v1/graph answer what it is given; POST bodies are kept. */
interface FakeNode {
  readonly url: string;
  readonly posts: Record<string, unknown>[];
}
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function fakeNode(
  info: unknown,
  graph: unknown = { address: (info as { address: string }).address, ledgers: [] },
): Promise<FakeNode> {
  const posts: Record<string, unknown>[] = [];
  const { secret, file } = loadOrCreateApiSecret(
    join(mkdtempSync(join(tmpdir(), "perun-fake-node-")), "fake.api-secret"),
  );
  const server = createServer(async (req: IncomingMessage, res) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.headers.authorization !== `Bearer ${secret}`) {
      return send(401, { error: { code: "UNAUTHORIZED", message: "wrong secret", hint: null } });
    }
    if (req.method === "GET" && req.url === "/v1/info") return send(200, info);
    if (req.method === "GET" && req.url === "/v1/graph") return send(200, graph);
    if (req.method === "POST" && req.url === "/v1/virtual") {
      posts.push(JSON.parse(text));
      return send(201, { channelID: `0x${"ee".repeat(32)}` });
    }
    return send(404, { error: { code: "NOT_FOUND", message: "no route", hint: null } });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  writeApiPointer("127.0.0.1", port, file);
  return { url: `http://127.0.0.1:${port}`, posts };
}

const ADJ = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const ETH = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const TERMS = { baseFee: "1000", ratePerSecondPerUnit: "1000000000", maxDurationSeconds: 86_400 };
const nodeInfo = (address: string, intermediary: unknown = null) => ({
  address,
  chainId: 31337,
  wireUrl: "ws://127.0.0.1:4001",
  adjudicator: ADJ,
  assets: { ETH },
  intermediary,
});
const edge = (channelID: string, peer: string, ours: string, theirs: string) => ({
  channelID,
  peer,
  asset: { symbol: "ETH", holder: ETH },
  capacity: [`${parseEther(ours)}`, `${parseEther(theirs)}`],
});
const quoted = (collateral: bigint, seconds: bigint) =>
  rentalFee(
    { baseFee: 1000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n },
    collateral,
    seconds,
  );

/** Runs `perun open-virtual` with `args`; returns stdout, stderr and the error, if any. */
async function openVirtual(args: ApiArgs): Promise<{ out: string; note: string; err: unknown }> {
  let out = "";
  let note = "";
  const sink = (f: (s: string) => void): Output => ({ write: f });
  const err = await apiCommand(
    "open-virtual",
    args,
    sink((s) => {
      out += s;
    }),
    sink((s) => {
      note += s;
    }),
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { out, note, err };
}

describe("perun open-virtual requests", () => {
  it("one intermediary: the one-value body the API has always taken", async () => {
    const alice = await fakeNode(nodeInfo(ALICE));
    const r = await openVirtual({ ...good, api: alice.url });
    expect(r).toEqual({ out: `0x${"ee".repeat(32)}\n`, note: "", err: undefined });
    expect(alice.posts).toEqual([
      {
        peer: BOB,
        via: INGRID,
        ledger: L1,
        peerLedger: L2,
        deposit: `${parseEther("1")}`,
        peerDeposit: `${parseEther("1")}`,
        fee: `${parseEther("0.001")}`,
        seconds: 3600,
      },
    ]);
  });

  it("two intermediaries with --fee: lists in path order", async () => {
    const alice = await fakeNode(nodeInfo(ALICE));
    const r = await openVirtual({
      ...good,
      api: alice.url,
      via: `${INGRID}, ${IRENE.toLowerCase()}`,
      "peer-ledger": `${L3},${L4}`,
      fee: "0.001,0.002",
    });
    expect(r.err).toBeUndefined();
    expect(alice.posts[0]).toMatchObject({
      via: [INGRID, IRENE],
      ledger: L1,
      peerLedger: [L3, L4],
      fee: [`${parseEther("0.001")}`, `${parseEther("0.002")}`],
    });
  });

  it("two intermediaries with --via-api: each fee quoted from that intermediary's terms", async () => {
    const alice = await fakeNode(nodeInfo(ALICE));
    const ingrid = await fakeNode(nodeInfo(INGRID, TERMS));
    const irene = await fakeNode(nodeInfo(IRENE, { ...TERMS, baseFee: "7" }));
    const args = { ...good, api: alice.url, via: `${INGRID},${IRENE}`, "peer-ledger": `${L3},${L4}` };
    delete args.fee;
    const r = await openVirtual({ ...args, "via-api": `${ingrid.url},${irene.url}` });
    expect(r.err).toBeUndefined();
    const fee = quoted(parseEther("2"), 3600n);
    expect(alice.posts[0]).toMatchObject({ fee: [`${fee}`, `${fee - 1000n + 7n}`] });
    // The URLs in the wrong order: each must be the API of the intermediary at its place.
    const swapped = await openVirtual({ ...args, "via-api": `${irene.url},${ingrid.url}` });
    expect(swapped.err).toBeInstanceOf(UsageError);
    expect((swapped.err as Error).message).toContain(`is the API of ${IRENE}, not of --via ${INGRID}`);
  });

  /**
   * Alice - Ingrid - Bob (Ingrid's fee is the cheaper one) and Alice - Ingrid - Irene - Bob; Bob's
   * own channels: with Ingrid he has 0.5 ETH free, with Irene 5.
   */
  async function world(bobWithIngrid = "0.5") {
    const ingrid = await fakeNode(nodeInfo(INGRID, TERMS), {
      address: INGRID,
      ledgers: [edge(L1, ALICE, "5", "5"), edge(L2, BOB, "5", bobWithIngrid), edge(L3, IRENE, "5", "5")],
    });
    const irene = await fakeNode(nodeInfo(IRENE, TERMS), {
      address: IRENE,
      ledgers: [edge(L3, INGRID, "5", "5"), edge(L4, BOB, "5", "5")],
    });
    const bob = await fakeNode(nodeInfo(BOB), {
      address: BOB,
      ledgers: [edge(L2, INGRID, bobWithIngrid, "5"), edge(L4, IRENE, "5", "5")],
    });
    const alice = await fakeNode(nodeInfo(ALICE), { address: ALICE, ledgers: [edge(L1, INGRID, "5", "5")] });
    return { alice, ingrid, irene, bob, directory: [ingrid.url, irene.url, bob.url].join(",") };
  }

  it("--auto: the cheapest path with the capacity, printed on stderr; the id alone on stdout", async () => {
    const w = await world();
    // Bob puts in 0.1: Ingrid's channel with him will do (one fee).
    const cheap = await openVirtual({
      ...auto,
      api: w.alice.url,
      directory: w.directory,
      "peer-deposit": "0.1",
    });
    expect(cheap.err).toBeUndefined();
    expect(cheap.out).toBe(`0x${"ee".repeat(32)}\n`);
    expect(cheap.note).toContain(`path: ${ALICE} -> ${INGRID} -> ${BOB}`);
    expect(w.alice.posts[0]).toMatchObject({
      via: INGRID,
      ledger: L1,
      peerLedger: L2,
      fee: `${quoted(parseEther("1.1"), 3600n)}`,
    });
    // Bob puts in 1, more than he has free with Ingrid: through Irene.
    const far = await openVirtual({ ...auto, api: w.alice.url, directory: w.directory, "peer-deposit": "1" });
    expect(far.err).toBeUndefined();
    expect(far.note).toContain(`path: ${ALICE} -> ${INGRID} -> ${IRENE} -> ${BOB}`);
    const fee = `${quoted(parseEther("2"), 3600n)}`;
    expect(w.alice.posts[1]).toMatchObject({
      via: [INGRID, IRENE],
      ledger: L1,
      peerLedger: [L3, L4],
      fee: [fee, fee],
    });
  });

  it("--auto: no path (capacity too small) is a NoPathError naming what lacks, nothing is sent", async () => {
    const w = await world();
    const r = await openVirtual({ ...auto, api: w.alice.url, directory: w.directory, deposit: "6" });
    expect(r.err).toMatchObject({ code: "NO_PATH" });
    expect((r.err as Error).message).toMatch(/lack capacity/);
    expect(w.alice.posts).toEqual([]);
  });

  it("--auto: a directory node with malformed info, or unreachable, is a DirectoryError naming its URL", async () => {
    const w = await world();
    const odd = await fakeNode({ ...nodeInfo(IRENE), chainId: "31337" });
    const bad = await openVirtual({ ...auto, api: w.alice.url, directory: `${w.directory},${odd.url}` });
    expect(bad.err).toMatchObject({ code: "DIRECTORY_INVALID", url: odd.url });
    expect((bad.err as Error).message).toMatch(/info\.chainId/);
    const gone = await openVirtual({
      ...auto,
      api: w.alice.url,
      directory: `${w.directory},http://127.0.0.1:1`,
    });
    expect(gone.err).toMatchObject({ code: "DIRECTORY_UNREACHABLE", url: "http://127.0.0.1:1" });
    expect(w.alice.posts).toEqual([]);
  });

  it("--auto: a listening directory node that left us no pointer file: no secret, nothing sent to it", async () => {
    const w = await world();
    const stranger = createServer((_req, res) => {
      res.writeHead(500).end();
      throw new Error("a request reached a node we have no secret for");
    });
    servers.push(stranger);
    await new Promise<void>((r) => stranger.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(stranger.address() as AddressInfo).port}`;
    const r = await openVirtual({ ...auto, api: w.alice.url, directory: `${w.directory},${url}` });
    expect(r.err).toMatchObject({ code: "API_SECRET_UNAVAILABLE" });
    expect((r.err as Error).message).toContain(`No API secret for ${url}`);
    expect((r.err as Error).message).toMatch(/Hint: Is `perun node` running as this user/);
    expect(w.alice.posts).toEqual([]);
  });

  it("--auto through `main`: exit 1 and a one-line reason, no stack trace", async () => {
    const w = await world();
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const argv = ["open-virtual", "--api", w.alice.url, "--peer", BOB, "--deposit", "6", "--seconds", "60"];
      expect(await main([...argv, "--auto", "--directory", w.directory])).toBe(1);
      const text = String(stderr.mock.calls.at(-1)?.[0]);
      expect(text).toMatch(/^perun: No virtual channel path from/);
      expect(text).not.toMatch(/\n\s+at /);
    } finally {
      stderr.mockRestore();
    }
  });
});

describe("perun app arguments", () => {
  const ID = `0x${"ab".repeat(32)}`;
  it.each<[string[], RegExp]>([
    [["app"], /perun app needs one of: open, move, show/],
    [["app", "play"], /perun app needs one of: open, move, show/],
    [["app", "open"], /needs the app's name/],
    [["app", "open", "tictactoe"], /needs --peer/],
    [["app", "open", "tictactoe", "--peer", BOB, "--deposit", "1", "--first", "2"], /--first must be 0/],
    [["app", "open", "tictactoe", "x", "--peer", BOB], /Unexpected argument "x"/],
    [["app", "move", "--channel", ID], /needs the move: --cell/],
    [["app", "move", "--channel", ID, "--cell", "1", "--data", "{}"], /needs the move: --cell/],
    [["app", "move", "--channel", ID, "--cell", "9"], /--cell must be 0..8/],
    [["app", "move", "--channel", ID, "--data", "{cell"], /--data must be JSON/],
    [["app", "move", "--cell", "1"], /needs --channel/],
    [["app", "show", "--channel", ID, "--cell", "3"], /--cell does not apply to `perun app show`/],
    [["app", "move", "tictactoe", "--channel", ID], /Unexpected argument "tictactoe" after "app move"/],
  ])("perun %j exits 2 saying what is wrong, before any request", async (argv, message) => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await main([...argv, "--api", "http://127.0.0.1:1", "--api-secret-file", "/nonexistent"])).toBe(
        2,
      );
      expect(String(stderr.mock.calls.at(-1)?.[0])).toMatch(message);
    } finally {
      stderr.mockRestore();
    }
  });
});
