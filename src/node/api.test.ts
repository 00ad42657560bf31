/**
 * The local API of two nodes in this process (embedded chain served over JSON-RPC on a free port,
 * SQLite stores in a temp dir, real WebSocket wire): every endpoint, the events stream, and bad
 * requests, which get 4xx answers with {error: {code, message, hint}} and never crash the node.
 */
import { mkdtempSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { connectChain } from "../chain/connection.js";
import { deployPerun } from "../chain/deploy.js";
import { createEmbeddedChain, devKey } from "../chain/embedded.js";
import { type RpcServer, serveJsonRpc } from "../chain/rpc-server.js";
import type { Hex } from "../channel/types.js";
import { ApiClient } from "./api-client.js";
import { parseConfig } from "./config.js";
import { ApiError } from "./errors.js";
import { type NodeHandle, startNode } from "./node.js";

let rpc: RpcServer;
let alice: NodeHandle;
let bob: NodeHandle;
let a: ApiClient;
let b: ApiClient;
const logs: string[] = [];

beforeAll(async () => {
  const embedded = await createEmbeddedChain();
  rpc = await serveJsonRpc(embedded.provider, { port: 0 });
  const contracts = await deployPerun(await connectChain({ embedded }), devKey(0));
  const dir = mkdtempSync(join(tmpdir(), "perun-api-"));
  const config = (name: string, accept: boolean) =>
    parseConfig(
      {
        key: { env: `KEY_${name}` },
        chain: { rpcUrl: rpc.url },
        contracts: { adjudicator: contracts.adjudicator, assets: { ETH: contracts.assetHolderETH } },
        wire: { host: "127.0.0.1", port: 0 },
        api: { host: "127.0.0.1", port: 0 },
        db: `${name}.db`,
        defaults: { challengeDuration: 10, fundingTimeout: 60 },
        accept: { proposals: accept, updates: "gains-only" },
        policy: {
          challengeDuration: { min: 1 },
          fundingTimeout: { min: 1 },
          maxDeposit: { ETH: "1000000000000000000000" },
          challengeMargin: 60,
        },
        pollMs: 20,
      },
      join(dir, `${name}.json`),
    );
  const env = { KEY_alice: devKey(1), KEY_bob: devKey(2) };
  const log = (level: string, msg: string, details?: Record<string, unknown>) =>
    logs.push(JSON.stringify({ level, msg, ...details }, (_k, v) => (typeof v === "bigint" ? `${v}` : v)));
  alice = await startNode(config("alice", false), { env, log, peerTimeoutMs: 5_000 });
  bob = await startNode(config("bob", true), { env, log, peerTimeoutMs: 5_000 });
  a = ApiClient.discover(alice.apiUrl);
  b = ApiClient.discover(bob.apiUrl);
});

afterAll(async () => {
  await alice?.stop();
  await bob?.stop();
  await rpc?.close();
});

/** A raw request with the node's secret, for what ApiClient would never send. */
function raw(
  url: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<{ status: number; json: { error?: { code: string; message: string; hint: string | null } } }> {
  const auth = (url === alice.apiUrl ? a : b).authHeaders();
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers: { ...auth, ...headers } }, (res) => {
      let text = "";
      res.on("data", (d) => {
        text += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe("node API", () => {
  let id: Hex;

  it("GET /v1/info", async () => {
    const info = await a.info();
    expect(info.address).toBe(alice.address);
    expect(info.chainId).toBe(31337);
    expect(info.wireUrl).toBe(alice.wireUrl);
    expect(Object.keys(info.assets)).toEqual(["ETH"]);
  });

  it("POST /v1/channels opens a funded channel (peerUrl given in the request); events stream over WebSocket", async () => {
    const ws = new WebSocket(`${alice.apiUrl.replace("http", "ws")}/v1/events`, { headers: a.authHeaders() });
    const events: { type: string; channelID?: string; version?: string }[] = [];
    ws.on("message", (d) => events.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once("open", r));
    const res = await a.open({
      peer: bob.address,
      peerUrl: bob.wireUrl,
      deposit: parseEther("2"),
      peerDeposit: parseEther("1"),
    });
    id = res.channelID;
    expect(id).toMatch(/^0x[0-9a-f]{64}$/);
    const ch = await a.channel(id);
    expect(ch).toMatchObject({ phase: "Acting", version: "0", peer: bob.address, idx: 0 });
    expect(ch.balances).toEqual([[parseEther("2").toString(), parseEther("1").toString()]]);
    expect(ch.assets[0]?.symbol).toBe("ETH");
    await waitFor(async () => (await b.channel(id)).phase === "Acting", "Bob funded");
    await a.pay(id, 5n);
    const paid = (e: { type: string; version?: string }) => e.type === "updated" && e.version === "1";
    await waitFor(() => events.some(paid), "the updated event of the payment");
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(["proposed", "opened", "funded", "updated"]),
    );
    expect(events.find(paid)).toMatchObject({
      channelID: id,
      balances: [["1999999999999999995", "1000000000000000005"]],
    });
    ws.close();
  });

  it("POST /pay both ways; GET /v1/channels lists the channel on both sides", async () => {
    const r = await a.pay(id, parseEther("0.5"));
    expect(r.version).toBe("2");
    await b.pay(id, parseEther("0.25"));
    const [ca] = await a.channels();
    const [cb] = await b.channels();
    expect(ca?.version).toBe("3");
    expect(cb?.balances).toEqual(ca?.balances);
    expect(ca?.balances?.[0]).toEqual([
      (parseEther("1.75") - 5n).toString(),
      (parseEther("1.25") + 5n).toString(),
    ]);
  });

  it("client errors become 404/409 with code, message and hint", async () => {
    const unknown = `0x${"ab".repeat(32)}` as Hex;
    for (const call of [() => a.channel(unknown), () => a.pay(unknown, 1n), () => a.close(unknown)]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ status: 404, code: "UNKNOWN_CHANNEL" });
    }
    const tooMuch = await a.pay(id, parseEther("100")).catch((e: unknown) => e);
    expect(tooMuch).toMatchObject({ status: 409, code: "INSUFFICIENT_BALANCE" });
    // Alice accepts no proposals (config): Bob's open is rejected.
    const rejected = await b
      .open({ peer: alice.address, deposit: 1n, peerDeposit: 0n })
      .catch((e: unknown) => e);
    expect(rejected).toMatchObject({ status: 409, code: "PROPOSAL_REJECTED" });
    const noUrl = await a
      .open({ peer: "0x0000000000000000000000000000000000000001", deposit: 1n, peerDeposit: 0n })
      .catch((e: unknown) => e);
    expect(noUrl).toMatchObject({ status: 400, code: "UNKNOWN_PEER" });
  });

  it.each<[string, string, string | undefined, number, string, RegExp]>([
    ["malformed JSON", "POST", "{amount: 1", 400, "MALFORMED_JSON", /not valid JSON/],
    ["JSON array", "POST", "[1]", 400, "MALFORMED_JSON", /must be a JSON object/],
    [
      "amount as number",
      "POST",
      '{"amount": 1}',
      400,
      "INVALID_FIELD",
      /"amount" must be a non-negative integer/,
    ],
    ["negative amount", "POST", '{"amount": "-1"}', 400, "INVALID_FIELD", /"amount"/],
    ["fractional amount", "POST", '{"amount": "1.5"}', 400, "INVALID_FIELD", /"amount"/],
    ["zero amount", "POST", '{"amount": "0"}', 400, "INVALID_FIELD", /a positive amount/],
    [
      "asset index",
      "POST",
      '{"amount": "1", "asset": 3}',
      400,
      "INVALID_FIELD",
      /"asset" must be an integer from 0 to 0/,
    ],
    [
      "unknown field",
      "POST",
      '{"amount": "1", "ammount": "2"}',
      400,
      "INVALID_FIELD",
      /"ammount" must be absent/,
    ],
    ["wrong method", "GET", undefined, 405, "METHOD_NOT_ALLOWED", /Use POST/],
  ])("pay: %s -> %i", async (_name, method, body, status, code, message) => {
    const r = await raw(alice.apiUrl, method, `/v1/channels/${id}/pay`, body);
    expect(r.status).toBe(status);
    expect(r.json.error?.code).toBe(code);
    expect(r.json.error?.message).toMatch(message);
    expect(r.json.error?.hint).toBeTruthy();
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["peer not an address", { peer: "bob", deposit: "1", peerDeposit: "0" }, /"peer" must be an address/],
    ["peer is us", { peer: "ALICE", deposit: "1", peerDeposit: "0" }, /another node's address/],
    ["deposit missing", { peer: "BOB", peerDeposit: "1" }, /"deposit"/],
    ["deposit too big", { peer: "BOB", deposit: `1${"0".repeat(78)}`, peerDeposit: "0" }, /"deposit"/],
    ["nothing deposited", { peer: "BOB", deposit: "0", peerDeposit: "0" }, /positive/],
    [
      "unknown asset",
      { peer: "BOB", asset: "DAI", deposit: "1", peerDeposit: "0" },
      /"asset" must be one of ETH/,
    ],
    [
      "bad peerUrl",
      { peer: "BOB", peerUrl: "http://x", deposit: "1", peerDeposit: "0" },
      /"peerUrl" must be a ws/,
    ],
    [
      "challengeDuration",
      { peer: "BOB", deposit: "1", peerDeposit: "0", challengeDuration: -1 },
      /"challengeDuration"/,
    ],
  ])("open: %s -> 400", async (_name, body, message) => {
    const fill = JSON.stringify(body).replace("ALICE", alice.address).replace("BOB", bob.address);
    const r = await raw(alice.apiUrl, "POST", "/v1/channels", fill);
    expect(r.status).toBe(400);
    expect(r.json.error?.message).toMatch(message);
  });

  it("refuses oversize bodies, non-JSON content types, foreign Host headers, bad ids and unknown routes", async () => {
    const big = await raw(alice.apiUrl, "POST", `/v1/channels/${id}/pay`, Buffer.alloc(200_000, 0x20));
    expect(big.status).toBe(413);
    expect(big.json.error?.code).toBe("BODY_TOO_LARGE");
    const text = await raw(alice.apiUrl, "POST", `/v1/channels/${id}/pay`, '{"amount":"1"}', {
      "content-type": "text/plain",
    });
    expect(text.status).toBe(415);
    const host = await raw(alice.apiUrl, "GET", "/v1/info", undefined, { host: "evil.example:80" });
    expect(host.status).toBe(403);
    expect((await raw(alice.apiUrl, "GET", "/v1/channels/0x1234")).status).toBe(400);
    expect((await raw(alice.apiUrl, "GET", "/v2/whatever")).status).toBe(404);
    // Still serving after all that.
    expect((await a.info()).address).toBe(alice.address);
    // A WebSocket from a foreign web page is refused.
    const ws = new WebSocket(`${alice.apiUrl.replace("http", "ws")}/v1/events`, {
      origin: "https://evil.example",
      headers: a.authHeaders(),
    });
    const refused = await new Promise((r) => {
      ws.once("error", () => r(true));
      ws.once("open", () => r(false));
    });
    expect(refused).toBe(true);
  });

  it("POST /close settles cooperatively and returns once Alice's funds are withdrawn", async () => {
    const before = (await a.channel(id)).balances?.[0];
    await a.close(id);
    expect((await a.channel(id)).phase).toBe("Withdrawn");
    await waitFor(async () => (await b.channel(id)).phase === "Withdrawn", "Bob withdrawn");
    expect((await b.channel(id)).balances?.[0]).toEqual(before);
    const again = await a.close(id);
    expect(again).toEqual({ ok: true });
  });

  it("POST /dispute registers the state on chain (202); the watcher concludes and withdraws", async () => {
    const { channelID } = await a.open({ peer: bob.address, deposit: 1000n, peerDeposit: 0n });
    await a.pay(channelID, 10n);
    const r = await raw(alice.apiUrl, "POST", `/v1/channels/${channelID}/dispute`, "");
    expect(r.status).toBe(202);
    await waitFor(async () => (await b.channel(channelID)).phase !== "Acting", "Bob saw the dispute");
    // The 202 comes once the registration is mined; the phase moves on when Alice's watcher sees it.
    await waitFor(
      async () => ["Registered", "Withdrawing", "Withdrawn"].includes((await a.channel(channelID)).phase),
      "Alice saw her registration",
    );
  });
});

async function waitFor(pred: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${logs.slice(-20).join("\n")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
