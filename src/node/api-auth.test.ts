/**
 * The local API's secret (src/node/api-secret.ts, the auth checks of src/node/api.ts), against two
 * nodes in this process with a funded channel (./api-harness.testutil.ts): every route and the events
 * WebSocket answer 401 without the secret or with a wrong one and nothing changes (channels, versions,
 * balances, on-chain holdings); the secret file is 0600, reused across restarts, and an unsafe one
 * stops the node; and, when the test runs as root, a process of another Unix user (nobody) can neither
 * read the secret file nor pay through the API.
 */
import { execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { devKey } from "../chain/embedded.js";
import type { Hex } from "../channel/types.js";
import { BEARER_PROTOCOL, EVENTS_PROTOCOL } from "./api.js";
import { ApiClient } from "./api-client.js";
import { type ApiHarness, startApiHarness } from "./api-harness.testutil.js";
import { discoverApiSecret, pointerName, runDirs } from "./api-secret.js";
import { startNode } from "./node.js";

let h: ApiHarness;
let secret: string;
let id: Hex;

beforeAll(async () => {
  h = await startApiHarness();
  id = h.channelID;
  secret = readFileSync(h.alice.apiSecretFile, "utf8").trim();
});

afterAll(async () => {
  await h?.stop();
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: { error?: { code: string; message: string; hint: string | null } };
}

/** A raw request to Alice's API with exactly these headers (plus Host). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(`${h.alice.apiUrl}${path}`, { method, headers }, (res) => {
      let text = "";
      res.on("data", (d) => {
        text += d;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : {} }),
      );
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Everything a request could have changed: both nodes' channels and the on-chain holdings. */
async function snapshot(): Promise<unknown> {
  return {
    alice: await h.a.channels(),
    bob: await h.b.channels(),
    holdings: [await h.holdings(id, h.alice.address), await h.holdings(id, h.bob.address)],
  };
}

const ROUTES: readonly [string, string, string | undefined][] = [
  ["GET", "/v1/info", undefined],
  ["GET", "/v1/graph", undefined],
  ["GET", "/v1/channels", undefined],
  ["GET", "/v1/channels/ID", undefined],
  ["GET", "/v1/events", undefined],
  ["POST", "/v1/channels", '{"peer":"BOB","deposit":"1","peerDeposit":"0"}'],
  [
    "POST",
    "/v1/virtual",
    '{"peer":"0x0000000000000000000000000000000000000001","via":"BOB","ledger":"ID","peerLedger":"0x' +
      "11".repeat(32) +
      '","deposit":"1","peerDeposit":"0","fee":"0","seconds":60}',
  ],
  ["POST", "/v1/channels/ID/pay", '{"amount":"1"}'],
  ["POST", "/v1/channels/ID/close", "{}"],
  ["POST", "/v1/channels/ID/close", '{"force":true}'],
  ["POST", "/v1/channels/ID/dispute", "{}"],
  ["GET", "/v2/none", undefined],
  ["DELETE", "/v1/info", undefined],
  ["PUT", "/v1/channels/ID/pay", undefined],
];

describe("local API: no secret, no service", () => {
  it("every route answers 401 UNAUTHORIZED without the secret, with a wrong one or another scheme; nothing changes", async () => {
    const before = await snapshot();
    const wrong = [
      undefined,
      `Bearer ${"0".repeat(64)}`,
      `Bearer ${secret.slice(0, 63)}`,
      `Bearer ${secret}0`,
      `Bearer ${secret.toUpperCase()}`,
      `Basic ${Buffer.from(`perun:${secret}`).toString("base64")}`,
      secret,
      "Bearer",
    ];
    for (const [method, template, body] of ROUTES) {
      const path = template.replace("ID", id);
      const fill = body?.replace("BOB", h.bob.address).replace("ID", id);
      for (const auth of wrong) {
        const headers: Record<string, string> = {
          ...(method === "POST" ? { "content-type": "application/json" } : {}),
          ...(auth === undefined ? {} : { authorization: auth }),
        };
        // The secret in the query is for WebSocket upgrades only.
        const r = await raw(
          method,
          auth === undefined ? `${path}?access_token=${secret}` : path,
          headers,
          fill,
        );
        expect([method, path, auth, r.status]).toEqual([method, path, auth, 401]);
        expect(r.json.error?.code).toBe("UNAUTHORIZED");
        expect(r.json.error?.hint).toContain(h.alice.apiSecretFile);
        expect(r.headers["www-authenticate"]).toBe('Bearer realm="perun"');
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it("the secret is checked before the body is read (401, not 400 or 413) and after Host and content type (403, 415)", async () => {
    const before = await snapshot();
    const json = { "content-type": "application/json" };
    const pay = `/v1/channels/${id}/pay`;
    expect((await raw("POST", pay, json, "{amount: 1")).status).toBe(401);
    expect((await raw("POST", pay, json, Buffer.alloc(200_000, 0x20))).status).toBe(401);
    expect((await raw("POST", pay, { "content-type": "text/plain" }, '{"amount":"1"}')).status).toBe(415);
    expect((await raw("GET", "/v1/info", { host: "evil.example:80" })).status).toBe(403);
    const good = { ...json, authorization: `Bearer ${secret}` };
    expect((await raw("POST", pay, good, "{amount: 1")).status).toBe(400);
    expect((await raw("GET", "/v1/info", { host: "evil.example:80", ...good })).status).toBe(403);
    expect(await snapshot()).toEqual(before);
    // With the secret, everything works as before.
    expect((await raw("POST", pay, good, '{"amount":"1"}')).status).toBe(200);
    expect((await h.a.channel(id)).version).toBe("1");
  });

  it("the events WebSocket: 401 without or with a wrong secret; the secret as header, subprotocol or access_token opens it", async () => {
    const url = `${h.alice.apiUrl.replace("http", "ws")}/v1/events`;
    const attempt = (u: string, protocols: string[] = [], headers: Record<string, string> = {}) =>
      new Promise<{ status: number; protocol?: string; ws?: WebSocket }>((resolve) => {
        const ws = new WebSocket(u, protocols, { headers });
        ws.once("open", () => resolve({ status: 101, protocol: ws.protocol, ws }));
        ws.once("unexpected-response", (_req, res) => {
          resolve({ status: res.statusCode ?? 0 });
          res.resume();
        });
        ws.once("error", () => resolve({ status: -1 }));
      });
    for (const r of [
      await attempt(url),
      await attempt(url, [], { authorization: `Bearer ${"ab".repeat(32)}` }),
      await attempt(`${url}?access_token=${"ab".repeat(32)}`),
      await attempt(url, [EVENTS_PROTOCOL, `${BEARER_PROTOCOL}${"ab".repeat(32)}`]),
      await attempt(url, [EVENTS_PROTOCOL]),
    ]) {
      expect(r.status).toBe(401);
    }
    const header = await attempt(url, [], { authorization: `Bearer ${secret}` });
    const query = await attempt(`${url}?access_token=${secret}`);
    const proto = await attempt(url, [EVENTS_PROTOCOL, `${BEARER_PROTOCOL}${secret}`]);
    expect([header.status, query.status, proto.status]).toEqual([101, 101, 101]);
    // The protocol chosen is "perun-events": the secret is not echoed back.
    expect(proto.protocol).toBe(EVENTS_PROTOCOL);
    // Events flow to an authenticated socket.
    const got = new Promise<string>((resolve) => proto.ws?.once("message", (d) => resolve(String(d))));
    await h.a.pay(id, 1n);
    expect(JSON.parse(await got)).toMatchObject({ type: "updated", channelID: id });
    for (const r of [header, query, proto]) r.ws?.close();
    // A foreign web page is refused even with the secret (Origin checked first).
    const foreign = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url, {
        origin: "https://evil.example",
        headers: { authorization: `Bearer ${secret}` },
      });
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.once("open", () => resolve(101));
    });
    expect(foreign).toBe(403);
  });
});

describe("the secret file", () => {
  it("is 64 hex digits with mode 0600 in the data directory; the pointer file names it and holds no secret", () => {
    expect(h.alice.apiSecretFile).toBe(join(h.dir, "alice", "alice.api-secret"));
    expect(statSync(h.alice.apiSecretFile).mode & 0o777).toBe(0o600);
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    const port = new URL(h.alice.apiUrl).port;
    const pointer = join(runDirs()[0] as string, pointerName("127.0.0.1", port));
    const text = readFileSync(pointer, "utf8");
    expect(JSON.parse(text)).toEqual({ secretFile: h.alice.apiSecretFile, pid: process.pid });
    expect(text).not.toContain(secret);
    expect(statSync(runDirs()[0] as string).mode & 0o077).toBe(0);
    expect(discoverApiSecret(h.alice.apiUrl)).toEqual({ secret, file: h.alice.apiSecretFile });
    // localhost finds the pointer of 127.0.0.1 (the same node).
    expect(discoverApiSecret(h.alice.apiUrl.replace("127.0.0.1", "localhost")).secret).toBe(secret);
  });

  it("is reused across restarts; stopping the node removes its pointer", async () => {
    const env = { ...h.env, KEY_carol: devKey(3) };
    const config = h.config("alice", { key: { env: "KEY_carol" }, db: "carol.db", dataDir: "carol" });
    const first = await startNode(config, { env, log: () => undefined });
    const s1 = readFileSync(first.apiSecretFile, "utf8").trim();
    const pointer = join(runDirs()[0] as string, pointerName("127.0.0.1", new URL(first.apiUrl).port));
    expect(existsSync(pointer)).toBe(true);
    await first.stop();
    expect(existsSync(pointer)).toBe(false);
    const second = await startNode(config, { env, log: () => undefined });
    try {
      expect(second.apiSecretFile).toBe(first.apiSecretFile);
      expect(readFileSync(second.apiSecretFile, "utf8").trim()).toBe(s1);
      expect((await new ApiClient(second.apiUrl, { secret: s1 }).info()).address).toBe(second.address);
      await expect(new ApiClient(second.apiUrl).info()).rejects.toMatchObject({ status: 401 });
    } finally {
      await second.stop();
    }
  });

  it.each<[string, (file: string) => void, RegExp]>([
    [
      "readable by others (0644)",
      (f) => writeFileSync(f, `${"ab".repeat(32)}\n`, { mode: 0o644 }),
      /mode 0644: users other than the node's may read or change it/,
    ],
    [
      "readable by the group (0640)",
      (f) => writeFileSync(f, `${"ab".repeat(32)}\n`, { mode: 0o640 }),
      /mode 0640/,
    ],
    [
      "writable by others (0602)",
      (f) => writeFileSync(f, `${"ab".repeat(32)}\n`, { mode: 0o602 }),
      /mode 0602/,
    ],
    ["a symbolic link", (f) => symlinkSync("/etc/hostname", f), /is a symbolic link/],
    ["a FIFO (opening it must not block)", (f) => execFileSync("mkfifo", [f]), /is not a regular file/],
    ["not a secret", (f) => writeFileSync(f, "hello\n", { mode: 0o600 }), /does not hold a secret/],
  ])("an existing secret file %s stops the node with a clear error", async (name, make, message) => {
    const dataDir = join(h.dir, `unsafe-${name.replace(/\W+/g, "-")}`);
    mkdirSync(dataDir, { mode: 0o700 });
    const file = join(dataDir, "unused.api-secret");
    make(file);
    if (/0\d\d\d/.test(name)) chmodSync(file, Number.parseInt(/0(\d\d\d)/.exec(name)?.[1] as string, 8));
    const config = h.config("alice", { key: { env: "KEY_carol" }, db: "unused.db", dataDir });
    const err = await startNode(config, { env: { KEY_carol: devKey(3) }, log: () => undefined }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: expect.stringMatching(/^API_SECRET_(UNSAFE|INVALID)$/) });
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(/Hint: .*(rm|Delete|Remove)/);
  });

  it.skipIf(process.getuid?.() !== 0)("one owned by another user stops the node (root only)", async () => {
    const dataDir = join(h.dir, "foreign");
    mkdirSync(dataDir, { mode: 0o700 });
    const file = join(dataDir, "unused.api-secret");
    writeFileSync(file, `${"ab".repeat(32)}\n`, { mode: 0o600 });
    chownSync(file, 65534, 65534);
    const config = h.config("alice", { key: { env: "KEY_carol" }, db: "unused.db", dataDir });
    const err = await startNode(config, { env: { KEY_carol: devKey(3) }, log: () => undefined }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "API_SECRET_UNSAFE" });
    expect((err as Error).message).toMatch(/belongs to uid 65534, not to the node's user \(uid 0\)/);
  });
});

/** `node -e script` as `nobody`; resolves with what it printed (JSON). */
function asNobody(script: string, env: Record<string, string>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["-e", script], {
      uid: 65534,
      gid: 65534,
      cwd: "/",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.stderr.on("data", (d) => {
      err += d;
    });
    p.on("error", reject);
    p.on("close", (code) => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`child exited ${code}: ${out}\n${err}`));
      }
    });
  });
}

describe("another Unix user on the machine", () => {
  // The attack of the review: any local account could move the node's money through 127.0.0.1.
  it.skipIf(process.getuid?.() !== 0)(
    "cannot read the secret file (EACCES) and gets 401 for POST /pay; the channel is unchanged (root only: spawns as nobody)",
    async () => {
      // Open every directory on the way, so that the file's own mode 0600 is what stops nobody.
      chmodSync(h.dir, 0o755);
      chmodSync(join(h.dir, "alice"), 0o755);
      try {
        const before = await snapshot();
        const script = `
          const fs = require("node:fs");
          const http = require("node:http");
          let readError = null;
          try { fs.readFileSync(process.env.SECRET_FILE, "utf8"); } catch (e) { readError = e.code; }
          const post = (auth) => new Promise((resolve) => {
            const headers = { "content-type": "application/json" };
            if (auth) headers.authorization = auth;
            const req = http.request(process.env.URL + "/v1/channels/" + process.env.ID + "/pay",
              { method: "POST", headers }, (res) => {
                let body = ""; res.on("data", (d) => body += d);
                res.on("end", () => resolve({ status: res.statusCode, code: JSON.parse(body).error?.code }));
              });
            req.on("error", (e) => resolve({ status: 0, code: e.code }));
            req.end(JSON.stringify({ amount: "500000000000000000" }));
          });
          (async () => {
            const results = [await post(), await post("Bearer " + "0".repeat(64))];
            process.stdout.write(JSON.stringify({ uid: process.getuid(), readError, results }));
          })();
        `;
        const r = await asNobody(script, { SECRET_FILE: h.alice.apiSecretFile, URL: h.alice.apiUrl, ID: id });
        expect(r).toEqual({
          uid: 65534,
          readError: "EACCES",
          results: [
            { status: 401, code: "UNAUTHORIZED" },
            { status: 401, code: "UNAUTHORIZED" },
          ],
        });
        expect(await snapshot()).toEqual(before);
      } finally {
        chmodSync(join(h.dir, "alice"), 0o700);
        chmodSync(h.dir, 0o700);
      }
    },
  );
});
