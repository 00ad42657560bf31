/**
 * A short run of the local API fuzzer (bench/fuzz/api-fuzz.ts; `npm run fuzz` runs 100,000 cases)
 * against Alice's node in this process with a funded channel (./api-harness.testutil.ts): random and
 * mutated requests over raw TCP never get a 500, always get an answer, and leave the state (both nodes'
 * channels, versions, balances, the on-chain holdings) as it was unless they were valid, authorized
 * POSTs; no unhandled rejection or uncaught exception meanwhile. Plus the regressions of what it found.
 */
import { request } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiTarget, harnessTarget, runApiFuzz } from "../../bench/fuzz/api-fuzz.js";
import { devKey } from "../chain/embedded.js";
import { type ApiHarness, startApiHarness } from "./api-harness.testutil.js";
import { startNode } from "./node.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20_251_129);

let h: ApiHarness;
let t: ApiTarget;
const unexpected: string[] = [];
const onRejection = (e: unknown) => unexpected.push(`unhandledRejection: ${String(e)}`);
const onException = (e: unknown) => unexpected.push(`uncaughtException: ${String(e)}`);

beforeAll(async () => {
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  h = await startApiHarness();
  t = await harnessTarget(h);
});

afterAll(async () => {
  await h?.stop();
  process.off("unhandledRejection", onRejection);
  process.off("uncaughtException", onException);
});

/** POST with the secret; the status and the error code. */
function post(path: string, body: string): Promise<{ status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${t.url}${path}`,
      {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${t.secret}` },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, code: JSON.parse(text).error?.code }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("local API fuzzing", () => {
  it("400 random and mutated requests: no 500, always an answer, no state change but by valid POSTs", async () => {
    const report = await runApiFuzz(t, { cases: 400, seed: SEED });
    expect(report.samples).toEqual([]);
    expect(report.failures).toBe(0);
    expect(unexpected).toEqual([]);
    // The run reached the routes and the checks in front of them, and some valid payments went through.
    for (const status of ["200", "400", "401", "403", "404", "405", "415"]) {
      expect(report.statuses[status] ?? 0, status).toBeGreaterThan(0);
    }
    expect(report.stateChanges).toBeGreaterThan(0);
  });

  // Regression of what the fuzzer found (fixed in src/node/api-request.ts): a body nested some
  // thousands of levels deep overflowed the stack while the 400 was being written: a 500.
  it("a deeply nested body is a 400, not a 500, and changes nothing", async () => {
    const before = await t.snapshot();
    const deep = `${"[".repeat(30_000)}${"]".repeat(30_000)}`;
    expect(await post(`/v1/channels/${t.channelID}/close`, deep)).toEqual({
      status: 400,
      code: "MALFORMED_JSON",
    });
    expect(await post(`/v1/channels/${t.channelID}/pay`, `{"amount":${deep}}`)).toEqual({
      status: 400,
      code: "INVALID_FIELD",
    });
    expect(await post("/v1/channels", `{"peer":"0x1","x":${deep}}`)).toEqual({
      status: 400,
      code: "INVALID_FIELD",
    });
    expect(await t.snapshot()).toBe(before);
    expect(unexpected).toEqual([]);
  });

  // Regression of what the long run found (fixed in src/node/api.ts, requestTarget): the path was
  // read with new URL(target, base), which throws on "//" (a 500) and reads "//host/v1/info" as /v1/info.
  it("odd request targets: GET // is a 404, not a 500; //host/v1/info is no /v1/info", async () => {
    const get = (target: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL(t.url);
        const req = request(
          {
            host: u.hostname,
            port: u.port,
            path: target,
            headers: { authorization: `Bearer ${t.secret}`, ...headers },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(await get("//")).toBe(404);
    expect(await get("//evil.example/v1/info")).toBe(404);
    expect(await get("/v1/info?x=1#y")).toBe(200);
    expect(await get("//", { upgrade: "websocket", connection: "Upgrade" })).toBe(403);
  });

  // Regression of what the fuzzer found (fixed in src/node/api.ts, refuseUpgrade): a refused WebSocket
  // upgrade that came with more bytes was answered with socket.end() and never read again, so its
  // half-closed socket stayed open and the node's stop waited for it forever.
  it("refused WebSocket upgrades with a body leave no socket behind: the node still stops", async () => {
    const config = h.config("alice", { key: { env: "KEY_carol" }, db: "carol.db", dataDir: "carol" });
    const carol = await startNode(config, { env: { KEY_carol: devKey(3) }, log: () => undefined });
    const url = new URL(carol.apiUrl);
    // The body goes in two parts; the second arrives after the refusal, into a socket nobody reads.
    const upgrade = (headers: string) =>
      new Promise<string>((resolve) => {
        const socket = connect({ host: url.hostname, port: Number(url.port) });
        let answer = "";
        socket.on("data", (d) => {
          answer += d;
          if (!answer.includes("\r\n\r\n")) return;
          socket.write(" ".repeat(1000), () => resolve(answer.slice(0, 12)));
        });
        socket.on("error", () => undefined);
        socket.write(
          "GET /v1/events HTTP/1.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
            `sec-websocket-key: ${Buffer.alloc(16, 1).toString("base64")}\r\nsec-websocket-version: 13\r\n` +
            `${headers}content-length: 2000\r\n\r\n${" ".repeat(1000)}`,
        );
      });
    expect(await upgrade(`host: ${url.host}\r\nauthorization: Bearer ${"0".repeat(64)}\r\n`)).toBe(
      "HTTP/1.1 401",
    );
    expect(await upgrade("host: evil.example\r\n")).toBe("HTTP/1.1 403");
    const stopped = await Promise.race([
      carol.stop().then(() => "stopped"),
      new Promise((r) => setTimeout(() => r("still waiting after 10 s"), 10_000)),
    ]);
    expect(stopped).toBe("stopped");
  });
});
