/**
 * Virtual channels through the local API of four nodes in this process (embedded chain over
 * JSON-RPC, SQLite stores, real WebSocket wire): Ingrid and Irene publish their rental terms in GET
 * /v1/info and everyone its ledger channels in GET /v1/graph; Alice opens V to Bob through Ingrid
 * with `perun open-virtual --via-api` (the fee quoted from those terms), both pay over V, V is listed
 * with its path, closes cooperatively into both ledger channels; force-closing or disputing V is 409;
 * bad POST /v1/virtual bodies (one intermediary or a path of several) are 400 naming the field; and
 * `perun open-virtual --auto` finds the path Alice - Ingrid - Irene - Bob when Bob cannot front his
 * share towards Ingrid.
 *
 *   Alice -L1- Ingrid -L2- Bob         deposits: L1 5/8, L2 5/5, L3 5/8, L4 8/5 (opener first)
 *                 \-L3- Irene -L4-/
 */
import { mkdtempSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectChain } from "../chain/connection.js";
import { deployApps, deployPerun } from "../chain/deploy.js";
import { createEmbeddedChain, devKey } from "../chain/embedded.js";
import { type RpcServer, serveJsonRpc } from "../chain/rpc-server.js";
import { rentalFee } from "../channel/fees.js";
import { privateKeyToSigner } from "../channel/signer.js";
import type { Hex } from "../channel/types.js";
import { apiCommand, appApiCommand, type Output } from "../cli/api-commands.js";
import { ApiClient } from "./api-client.js";
import { parseConfig } from "./config.js";
import { type NodeHandle, startNode } from "./node.js";

const TERMS = { baseFee: "1000", ratePerSecondPerUnit: "1000000000", maxDurationSeconds: 86_400 };
const FIVE = parseEther("5");
const ONE = parseEther("1");

/** A POST /v1/virtual body patch for the path Alice - Ingrid - Irene - Bob (names filled in per test). */
const two = { via: ["INGRID", "IRENE"], peerLedger: ["L3", "L4"], fee: ["1000", "1000"] };

let rpc: RpcServer;
let alice: NodeHandle;
let ingrid: NodeHandle;
let bob: NodeHandle;
let irene: NodeHandle;
let a: ApiClient;
let i: ApiClient;
let b: ApiClient;
let ir: ApiClient;
let l1: Hex;
let l2: Hex;
let l3: Hex;
let l4: Hex;
let v: Hex;
let eth: Hex;
const EIGHT = parseEther("8");
const logs: string[] = [];

beforeAll(async () => {
  const embedded = await createEmbeddedChain();
  rpc = await serveJsonRpc(embedded.provider, { port: 0 });
  const conn = await connectChain({ embedded });
  const contracts = await deployPerun(conn, devKey(0));
  const { ticTacToeApp } = await deployApps(conn, devKey(0));
  const dir = mkdtempSync(join(tmpdir(), "perun-api-virtual-"));
  const keys = { alice: devKey(1), bob: devKey(2), ingrid: devKey(3), irene: devKey(4) };
  const ports = {
    alice: await freePort(),
    bob: await freePort(),
    ingrid: await freePort(),
    irene: await freePort(),
  };
  // Everyone knows everyone's wire URL: Alice and Bob talk directly over V, each with Ingrid.
  const config = (name: keyof typeof keys, extra: Record<string, unknown> = {}) =>
    parseConfig(
      {
        key: { env: `KEY_${name}` },
        chain: { rpcUrl: rpc.url },
        contracts: {
          adjudicator: contracts.adjudicator,
          assets: { ETH: contracts.assetHolderETH },
          apps: { tictactoe: ticTacToeApp },
        },
        wire: { host: "127.0.0.1", port: ports[name] },
        peers: Object.fromEntries(
          (["alice", "bob", "ingrid", "irene"] as const)
            .filter((n) => n !== name)
            .map((n) => [privateKeyToSigner(keys[n]).address, `ws://127.0.0.1:${ports[n]}`]),
        ),
        api: { host: "127.0.0.1", port: 0 },
        db: `${name}.db`,
        defaults: { challengeDuration: 10, fundingTimeout: 60 },
        accept: { proposals: true, updates: "gains-only" },
        policy: {
          challengeDuration: { min: 1 },
          fundingTimeout: { min: 1 },
          maxDeposit: { ETH: "1000000000000000000000" },
          challengeMargin: 60,
        },
        pollMs: 20,
        ...extra,
      },
      join(dir, `${name}.json`),
    );
  const env = { KEY_alice: keys.alice, KEY_bob: keys.bob, KEY_ingrid: keys.ingrid, KEY_irene: keys.irene };
  const log = (level: string, msg: string, details?: Record<string, unknown>) =>
    logs.push(JSON.stringify({ level, msg, ...details }, (_k, x) => (typeof x === "bigint" ? `${x}` : x)));
  const opts = { env, log, peerTimeoutMs: 5_000 };
  ingrid = await startNode(config("ingrid", { intermediary: TERMS }), opts);
  irene = await startNode(config("irene", { intermediary: TERMS }), opts);
  alice = await startNode(config("alice"), opts);
  bob = await startNode(config("bob"), opts);
  eth = contracts.assetHolderETH;
  a = ApiClient.discover(alice.apiUrl);
  i = ApiClient.discover(ingrid.apiUrl);
  b = ApiClient.discover(bob.apiUrl);
  ir = ApiClient.discover(irene.apiUrl);
  const [r1, r2, r3, r4] = await Promise.all([
    // Alice-Ingrid outlasts Ingrid-Irene by Ingrid's margin (60 s): Ingrid relays Alice -> Irene -> Bob.
    a.open({ peer: ingrid.address, deposit: FIVE, peerDeposit: EIGHT, challengeDuration: 120 }),
    b.open({ peer: ingrid.address, deposit: FIVE, peerDeposit: FIVE }),
    i.open({ peer: irene.address, deposit: FIVE, peerDeposit: EIGHT }),
    b.open({ peer: irene.address, deposit: EIGHT, peerDeposit: FIVE }),
  ]);
  l1 = r1.channelID;
  l2 = r2.channelID;
  l3 = r3.channelID;
  l4 = r4.channelID;
  await waitFor(async () => {
    const [ci, cr] = await Promise.all([i.channels(), ir.channels()]);
    const acting = (cs: typeof ci) => cs.filter((c) => c.phase === "Acting").length;
    return acting(ci) === 3 && acting(cr) === 2;
  }, "Ingrid and Irene see L1 to L4 funded");
}, 120_000);

afterAll(async () => {
  await alice?.stop();
  await bob?.stop();
  await ingrid?.stop();
  await irene?.stop();
  await rpc?.close();
});

function raw(
  url: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; json: { error?: { code: string; message: string; hint: string | null } } }> {
  // The node's secret, found from its URL as the CLI finds it.
  const auth = ApiClient.discover(url).authHeaders();
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method, headers: { "content-type": "application/json", ...auth } },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe("virtual channels over the node API", () => {
  it("GET /v1/info publishes the intermediary's terms (null for a node without)", async () => {
    expect((await i.info()).intermediary).toEqual(TERMS);
    expect((await a.info()).intermediary).toBeNull();
  });

  it("GET /v1/graph lists each node's open ledger channels with both sides' free balance", async () => {
    const edge = (channelID: Hex, peer: string, ours: bigint, theirs: bigint) => ({
      channelID,
      peer,
      asset: { symbol: "ETH", holder: eth },
      capacity: [`${ours}`, `${theirs}`],
    });
    expect(await a.graph()).toEqual({
      address: alice.address,
      ledgers: [edge(l1, ingrid.address, FIVE, EIGHT)],
    });
    const g = await i.graph();
    expect(g.address).toBe(ingrid.address);
    expect(g.ledgers).toHaveLength(3);
    expect(g.ledgers).toEqual(
      expect.arrayContaining([
        edge(l1, alice.address, EIGHT, FIVE),
        edge(l2, bob.address, FIVE, FIVE),
        edge(l3, irene.address, FIVE, EIGHT),
      ]),
    );
    expect((await raw(alice.apiUrl, "POST", "/v1/graph", "{}")).status).toBe(405);
  });

  it("`perun open-virtual --via-api` quotes the fee from Ingrid's terms and opens V (our side locked)", async () => {
    let out = "";
    await apiCommand(
      "open-virtual",
      {
        api: alice.apiUrl,
        peer: bob.address,
        via: ingrid.address,
        ledger: l1,
        "peer-ledger": l2,
        deposit: "1",
        "peer-deposit": "1",
        "via-api": ingrid.apiUrl,
        seconds: "3600",
      },
      sink((s) => {
        out += s;
      }),
    );
    v = out.trim() as Hex;
    expect(v).toMatch(/^0x[0-9a-f]{64}$/);
    const fee = rentalFee(
      { baseFee: 1000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n },
      2n * ONE,
      3_600n,
    );
    const ledger = await a.channel(l1);
    expect(ledger.balances).toEqual([[`${FIVE - ONE - fee}`, `${EIGHT - ONE + fee}`]]);
    // The graph shows what is left free in L1, and no virtual channel.
    expect((await a.graph()).ledgers).toEqual([
      expect.objectContaining({ channelID: l1, capacity: [`${FIVE - ONE - fee}`, `${EIGHT - ONE + fee}`] }),
    ]);
    const cv = await a.channel(v);
    expect(cv).toMatchObject({ phase: "Acting", version: "0", peer: bob.address, idx: 0 });
    expect(cv.virtual).toEqual({ path: [alice.address, ingrid.address, bob.address], unlocked: false });
    await waitFor(async () => (await b.channel(v)).phase === "Acting", "Bob's side of V locked");
    expect((await b.channels()).find((c) => c.channelID === v)?.virtual?.path[1]).toBe(ingrid.address);
    let table = "";
    await apiCommand(
      "channels",
      { api: alice.apiUrl },
      sink((s) => {
        table += s;
      }),
    );
    expect(table.split("\n")[0]).toMatch(/^CHANNEL\s+PEER\s+VIA\s+PHASE/);
    expect(table.split("\n").find((l) => l.startsWith(v))).toContain(ingrid.address);
  });

  it("POST /pay works over V both ways; Ingrid's ledger channels do not move", async () => {
    const before = await i.channels();
    await a.pay(v, parseEther("0.3"));
    const r = await b.pay(v, parseEther("0.1"));
    expect(r).toEqual({ version: "2", balances: [[`${parseEther("0.8")}`, `${parseEther("1.2")}`]] });
    expect(await i.channels()).toEqual(before);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["peer missing", { peer: undefined }, /"peer" must be an address/],
    ["peer is us", { peer: "ALICE" }, /"peer" must be another node's address/],
    ["via not an address", { via: "ingrid" }, /"via" must be an address/],
    ["via is the peer", { via: "BOB" }, /"via" must be the intermediary's address/],
    ["ledger not an id", { ledger: "0x12" }, /"ledger" must be a channel id/],
    [
      "ledger unknown",
      { ledger: `0x${"ab".repeat(32)}` },
      /"ledger" must be the id of our ledger channel with via/,
    ],
    ["ledger is V", { ledger: "V" }, /"ledger" must be the id of our ledger channel with via/],
    ["peerLedger missing", { peerLedger: undefined }, /"peerLedger" must be a channel id/],
    ["peerLedger = ledger", { peerLedger: "L1" }, /"peerLedger" must be the intermediary's channel/],
    ["deposit as number", { deposit: 1 }, /"deposit" must be a non-negative integer amount/],
    ["nothing deposited", { deposit: "0", peerDeposit: "0" }, /"deposit" must be positive/],
    ["peerDeposit negative", { peerDeposit: "-1" }, /"peerDeposit"/],
    ["fee missing", { fee: undefined }, /"fee" must be a non-negative integer amount/],
    ["fee fractional", { fee: "0.5" }, /"fee"/],
    ["seconds missing", { seconds: undefined }, /"seconds" must be an integer from 1/],
    ["seconds zero", { seconds: 0 }, /"seconds" must be an integer from 1/],
    ["seconds as string", { seconds: "3600" }, /"seconds" must be an integer/],
    ["challengeDuration", { challengeDuration: 0 }, /"challengeDuration" must be an integer from 1/],
    ["unknown field", { asset: "ETH" }, /"asset" must be absent/],
    // A path of several intermediaries: arrays in path order, all of one length.
    ["via an empty array", { via: [] }, /"via" must be an address .*, or an array of 1 to 16 of them/],
    ["via a number", { via: 7 }, /"via" must be an address .*, or an array of 1 to 16/],
    ["via of 17", { via: Array(17).fill("INGRID") }, /"via" must be .* an array of 1 to 16/],
    ["via[1] not an address", { ...two, via: ["INGRID", "irene"] }, /"via\[1\]" must be an address/],
    [
      "via lists the peer",
      { ...two, via: ["INGRID", "BOB"] },
      /"via\[1\]" must be an intermediary's address/,
    ],
    ["via lists us", { ...two, via: ["ALICE", "IRENE"] }, /"via\[0\]" must be an intermediary's address/],
    [
      "via lists one twice",
      { ...two, via: ["INGRID", "INGRID"] },
      /"via\[1\]" must be an intermediary not already/,
    ],
    [
      "one peerLedger for two",
      { ...two, peerLedger: "L3" },
      /"peerLedger" must be an array of 2 channel ids/,
    ],
    [
      "three peerLedgers for two",
      { ...two, peerLedger: ["L3", "L4", "L2"] },
      /"peerLedger" must be an array of 2/,
    ],
    ["peerLedger[1] not an id", { ...two, peerLedger: ["L3", 4] }, /"peerLedger\[1\]" must be a channel id/],
    [
      "peerLedger repeats",
      { ...two, peerLedger: ["L3", "L3"] },
      /"peerLedger\[1\]" must be a ledger channel after ours/,
    ],
    [
      "peerLedger lists ours",
      { ...two, peerLedger: ["L1", "L4"] },
      /"peerLedger\[0\]" must be a ledger channel after ours/,
    ],
    ["one fee for two", { ...two, fee: "1000" }, /"fee" must be an array of 2 fees/],
    ["fee[1] fractional", { ...two, fee: ["1000", "0.5"] }, /"fee\[1\]" must be a non-negative integer/],
    ["two fees for one", { fee: ["1000", "1000"] }, /"fee" must be one fee/],
    [
      "ledger not with via[0]",
      { ...two, via: ["IRENE", "INGRID"], peerLedger: ["L3", "L2"] },
      /"ledger" must be the id of our ledger channel with via\[0\]/,
    ],
  ])("POST /v1/virtual: %s -> 400", async (_name, patch, message) => {
    const good: Record<string, unknown> = {
      peer: bob.address,
      via: ingrid.address,
      ledger: l1,
      peerLedger: l2,
      deposit: "1",
      peerDeposit: "1",
      fee: "1000000",
      seconds: 60,
    };
    const names: Record<string, string> = {
      ALICE: alice.address,
      BOB: bob.address,
      INGRID: ingrid.address,
      IRENE: irene.address,
      V: v,
      L1: l1,
      L2: l2,
      L3: l3,
      L4: l4,
    };
    const name = (x: unknown) => (typeof x === "string" && x in names ? names[x] : x);
    const body = { ...good, ...patch };
    for (const [k, x] of Object.entries(body)) {
      if (x === undefined) delete body[k];
      else body[k] = Array.isArray(x) ? x.map(name) : name(x);
    }
    const r = await raw(alice.apiUrl, "POST", "/v1/virtual", JSON.stringify(body));
    expect(r.status).toBe(400);
    expect(r.json.error?.code).toBe("INVALID_FIELD");
    expect(r.json.error?.message).toMatch(message);
    expect(r.json.error?.hint).toBeTruthy();
  });

  it("GET /v1/virtual is 405", async () => {
    const r = await raw(alice.apiUrl, "GET", "/v1/virtual");
    expect(r.status).toBe(405);
  });

  it("force-closing or disputing V is 409 VIRTUAL_DISPUTE, pointing at the ledger channel", async () => {
    const force = await raw(alice.apiUrl, "POST", `/v1/channels/${v}/close`, '{"force": true}');
    expect(force.status).toBe(409);
    expect(force.json.error?.code).toBe("VIRTUAL_DISPUTE");
    expect(force.json.error?.hint).toContain(`ledger channel with ${ingrid.address} with force`);
    const dispute = await raw(bob.apiUrl, "POST", `/v1/channels/${v}/dispute`, "");
    expect(dispute.status).toBe(409);
    expect((await a.channel(v)).phase).toBe("Acting");
  });

  it("POST /close on V settles it into both ledger channels (Bob's side unlocks by itself); again: ok", async () => {
    let out = "";
    await apiCommand(
      "close",
      { api: alice.apiUrl, channel: v },
      sink((s) => {
        out += s;
      }),
    );
    expect(out).toContain(`unlocked into our ledger channel with ${ingrid.address}`);
    expect((await a.channel(v)).virtual?.unlocked).toBe(true);
    await waitFor(async () => (await b.channel(v)).virtual?.unlocked === true, "Bob's V unlocked");
    const fee = rentalFee(
      { baseFee: 1000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n },
      2n * ONE,
      3_600n,
    );
    expect((await a.channel(l1)).balances).toEqual([
      [`${FIVE - ONE - fee + parseEther("0.8")}`, `${EIGHT - ONE + fee + parseEther("1.2")}`],
    ]);
    await waitFor(
      async () =>
        JSON.stringify((await b.channel(l2)).balances) ===
        JSON.stringify([[`${FIVE - ONE + parseEther("1.2")}`, `${FIVE - ONE + parseEther("0.8")}`]]),
      "L2 unlocked",
    );
    expect(await b.close(v)).toEqual({ ok: true }); // Bob's side is already unlocked: nothing to do
    expect(await a.close(v)).toEqual({ ok: true });
  });

  it("POST /v1/virtual {app}: tic-tac-toe inside V through Ingrid, moves over the API, the winner's share unlocked into the ledgers", async () => {
    const terms = { baseFee: 1000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };
    const fee = rentalFee(terms, 2n * ONE, 3_600n) + 100n;
    const [l1Before, l2Before] = [(await a.channel(l1)).balances, (await b.channel(l2)).balances];
    const { channelID: g } = await a.openVirtual({
      peer: bob.address,
      via: ingrid.address,
      ledger: l1,
      peerLedger: l2,
      deposit: ONE,
      peerDeposit: ONE,
      fee,
      seconds: 3600,
      app: "tictactoe",
    });
    await waitFor(async () => (await b.channel(g)).phase === "Acting", "Bob's side of the game locked");
    for (const [api, cell] of [
      [a, 0],
      [b, 4],
      [a, 1],
      [b, 8],
      [a, 2],
    ] as const) {
      await api.move(g, { cell });
    }
    expect((await b.channel(g)).app?.state).toEqual({
      board: ["XXX", ".O.", "..O"],
      nextActor: 1,
      winner: 0,
      draw: false,
    });
    expect(await a.close(g)).toEqual({ ok: true });
    await waitFor(async () => (await b.channel(g)).virtual?.unlocked === true, "Bob's side unlocked");
    // Alice won Bob's stake: +1 ETH in L1 (less the fee); Ingrid passed it on in L2 (Bob -1 ETH).
    const [a0, i0] = (l1Before?.[0] ?? []).map(BigInt) as [bigint, bigint];
    expect((await a.channel(l1)).balances).toEqual([[`${a0 - fee + ONE}`, `${i0 + fee - ONE}`]]);
    // L2 was opened by Bob: [Bob, Ingrid].
    const [b2, i2] = (l2Before?.[0] ?? []).map(BigInt) as [bigint, bigint];
    await waitFor(
      async () =>
        JSON.stringify((await b.channel(l2)).balances) === JSON.stringify([[`${b2 - ONE}`, `${i2 + ONE}`]]),
      "L2 unlocked",
    );
  });

  it("`perun open-virtual --app tictactoe --first 1` opens a game in V; `perun app move` and `perun app show` play it", async () => {
    let out = "";
    const collect = sink((t) => {
      out += t;
    });
    await apiCommand(
      "open-virtual",
      {
        api: alice.apiUrl,
        peer: bob.address,
        via: ingrid.address,
        ledger: l1,
        "peer-ledger": l2,
        deposit: "0.5",
        "peer-deposit": "0.5",
        "via-api": ingrid.apiUrl,
        seconds: "3600",
        app: "tictactoe",
        first: "1",
      },
      collect,
    );
    const g = out.trim() as Hex;
    await waitFor(async () => (await b.channel(g)).phase === "Acting", "Bob's side of the game locked");
    out = "";
    await appApiCommand("move", undefined, { api: bob.apiUrl, channel: g, cell: "4" }, collect);
    // Player 1 (Bob, O) moves first.
    expect(out).toContain("  . . .\n  . O .\n  . . .\n");
    expect(out).toContain("you are O; X to move (the peer's turn)");
    for (const [api, cell] of [
      [a, 0],
      [b, 3],
      [a, 1],
      [b, 5],
    ] as const) {
      await api.move(g, { cell });
    }
    out = "";
    await appApiCommand("show", undefined, { api: alice.apiUrl, channel: g }, collect);
    expect(out).toContain("you are X; O (the peer) won; pot 1");
    expect(await a.close(g)).toEqual({ ok: true });
    await waitFor(async () => (await b.channel(g)).virtual?.unlocked === true, "Bob's side unlocked");
  });

  it("a fee below Ingrid's terms is refused (409), and the ledger channels stay as they were", async () => {
    const before = (await a.channel(l1)).balances;
    const err = await a
      .openVirtual({
        peer: bob.address,
        via: ingrid.address,
        ledger: l1,
        peerLedger: l2,
        deposit: ONE,
        peerDeposit: 0n,
        fee: 1n,
        seconds: 3600,
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 409, code: "UPDATE_REJECTED" });
    expect((err as Error).message).toMatch(/below our terms/);
    expect((await a.channel(l1)).balances).toEqual(before);
  });

  it("`perun open-virtual --auto` goes through Ingrid and Irene when Bob cannot front his share towards Ingrid; V pays and closes", async () => {
    // Bob has 5.2 free with Ingrid (after the first V), 8 with Irene; he puts in 6. Ingrid (8.2 free
    // with Alice) and Irene (8 with Ingrid) can each front his 6 towards their left.
    const six = parseEther("6");
    const before = (await a.channel(l1)).balances?.[0] as string[];
    let out = "";
    let note = "";
    await apiCommand(
      "open-virtual",
      {
        api: alice.apiUrl,
        peer: bob.address,
        deposit: "1",
        "peer-deposit": "6",
        seconds: "3600",
        auto: true,
        directory: [ingrid.apiUrl, irene.apiUrl, bob.apiUrl].join(","),
      },
      sink((s) => {
        out += s;
      }),
      sink((s) => {
        note += s;
      }),
    );
    expect(note).toContain(
      `path: ${[alice.address, ingrid.address, irene.address, bob.address].join(" -> ")}`,
    );
    const v2 = out.trim() as Hex;
    expect(v2).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await a.channel(v2)).virtual?.path).toEqual([
      alice.address,
      ingrid.address,
      irene.address,
      bob.address,
    ]);
    const fee = rentalFee(
      { baseFee: 1000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n },
      ONE + six,
      3_600n,
    );
    // Alice fronts 1 and pays both fees to Ingrid (who passes Irene's on in L3); Ingrid fronts Bob's 6.
    expect((await a.channel(l1)).balances).toEqual([
      [`${BigInt(before[0] as string) - ONE - 2n * fee}`, `${BigInt(before[1] as string) - six + 2n * fee}`],
    ]);
    await waitFor(async () => (await b.channel(v2)).phase === "Acting", "Bob's side of V2 locked");
    await a.pay(v2, parseEther("0.5"));
    await a.close(v2);
    await waitFor(async () => (await b.channel(v2)).virtual?.unlocked === true, "Bob's V2 unlocked");
    // Bob's lock in L4 (6) comes back as his V2 balance, 6.5.
    await waitFor(
      async () =>
        JSON.stringify((await b.channel(l4)).balances) ===
        JSON.stringify([[`${EIGHT + parseEther("0.5")}`, `${FIVE - parseEther("0.5")}`]]),
      "L4 unlocked",
    );
  });
});

/** An Output for apiCommand that hands each write to `f`. */
function sink(f: (s: string) => void): Output {
  return { write: f };
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function waitFor(pred: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${logs.slice(-20).join("\n")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
