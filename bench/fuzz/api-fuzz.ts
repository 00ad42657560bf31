/**
 * Fuzzer of the node's local HTTP API (src/node/api.ts) against a real running node: random and
 * mutated requests over raw TCP, so that anything a local process can send is sent. A case starts from
 * a valid request of one route (every route, with the real channel id) and mutates the method, the
 * path, the headers (Host, Origin, content type, the Authorization header and the secret in it, odd
 * and duplicate headers), the body (mutated valid bodies: fields deleted, duplicated, of the wrong
 * type; huge, negative, fractional, exponent and unicode amounts; deep nesting, long strings,
 * truncated JSON, random bytes, oversize) or the HTTP framing.
 *
 * The properties, per case: the node answers (within `answerMs`), never 500 (nor any 5xx but the
 * 502/503/504 of a peer or chain that failed), an error answer with a JSON body is {error: {code,
 * message, hint}}; after every answer but a 2xx to a POST the node's state (`snapshot`: channels,
 * versions, balances of both nodes through an authenticated GET, on-chain holdings) is what it was.
 * A 2xx to a POST (a valid, authorized payment, say) may change it: the state is then taken anew.
 * Requests that would close or dispute the channel under test are turned into ones that cannot (the
 * id of another channel), and the node under test is set up so that nothing it opens gets funded
 * (its peer accepts no proposals): every other valid request is left in. Unhandled rejections and
 * uncaught exceptions are the caller's to watch (it owns the process).
 *
 * Every case is a function of (seed, index, target): `apiCase` rebuilds a failing one.
 */
import { connect } from "node:net";
import type { Address, Hex } from "../../src/channel/types.js";
import type { ApiHarness } from "../../src/node/api-harness.testutil.js";
import { Rng } from "./rng.js";

/** The node under test, as the fuzzer needs it. */
export interface ApiTarget {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly secret: string;
  /** A funded ledger channel of the node. */
  readonly channelID: Hex;
  readonly address: Address;
  /** The channel's peer (accepts no proposals). */
  readonly peer: Address;
  /** A TCP port where nothing listens (for peerUrl values that fail fast). */
  readonly closedPort: number;
  /** Everything a request could change, serialized (compared as text). */
  snapshot(): Promise<string>;
}

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  /** In order, duplicates allowed; `host` included unless a mutation removed it. */
  readonly headers: [string, string][];
  readonly body: Buffer | undefined;
  /** Send the body chunked instead of with content-length. */
  readonly chunked: boolean;
  /** Raw framing text replacing the request entirely (the "framing" mutation). */
  readonly raw?: Buffer;
  readonly mutations: string[];
}

// ---------------------------------------------------------------------------------------------
// Valid requests of every route.

interface Route {
  readonly name: string;
  readonly method: "GET" | "POST";
  readonly path: (t: ApiTarget) => string;
  readonly body?: (r: Rng, t: ApiTarget) => Record<string, unknown>;
}

const ROUTES: readonly Route[] = [
  { name: "info", method: "GET", path: () => "/v1/info" },
  { name: "graph", method: "GET", path: () => "/v1/graph" },
  { name: "channels", method: "GET", path: () => "/v1/channels" },
  { name: "channel", method: "GET", path: (t) => `/v1/channels/${t.channelID}` },
  { name: "events", method: "GET", path: () => "/v1/events" },
  // The WebSocket upgrade of /v1/events: its headers are added in apiCase.
  { name: "upgrade", method: "GET", path: () => "/v1/events" },
  {
    name: "open",
    method: "POST",
    path: () => "/v1/channels",
    body: (r, t) => ({
      peer: t.peer,
      deposit: r.pick(["1", "1000"]),
      peerDeposit: r.pick(["0", "1"]),
      ...(r.bool(0.2) ? { asset: "ETH" } : {}),
      ...(r.bool(0.2) ? { challengeDuration: r.range(1, 600) } : {}),
      ...(r.bool(0.2) ? { fundingTimeout: r.range(1, 600) } : {}),
      ...(r.bool(0.1) ? { peerUrl: `ws://127.0.0.1:${t.closedPort}` } : {}),
    }),
  },
  {
    name: "virtual",
    method: "POST",
    path: () => "/v1/virtual",
    body: (r, t) => {
      const many = r.bool(0.3);
      const other = r.hex(20);
      return {
        peer: r.hex(20),
        via: many ? [t.peer, other] : t.peer,
        ledger: t.channelID,
        peerLedger: many ? [r.hex(32), r.hex(32)] : r.hex(32),
        deposit: "1",
        peerDeposit: "0",
        fee: many ? ["0", "1"] : "0",
        seconds: r.range(1, 3600),
        ...(r.bool(0.2) ? { challengeDuration: 60 } : {}),
      };
    },
  },
  {
    name: "pay",
    method: "POST",
    path: (t) => `/v1/channels/${t.channelID}/pay`,
    body: (r) => ({ amount: r.pick(["1", "2", "1000"]), ...(r.bool(0.2) ? { asset: 0 } : {}) }),
  },
  {
    name: "close",
    method: "POST",
    path: (t) => `/v1/channels/${t.channelID}/close`,
    body: (r) => (r.bool() ? {} : { force: r.bool() }),
  },
  { name: "dispute", method: "POST", path: (t) => `/v1/channels/${t.channelID}/dispute`, body: () => ({}) },
];

// ---------------------------------------------------------------------------------------------
// Mutations.

const AMOUNTS: readonly unknown[] = [
  "-1",
  "1.5",
  "0.0",
  "1e18",
  "0x10",
  " 1",
  "1 ",
  "+1",
  "01",
  "",
  "１",
  "٣",
  "1\u0000",
  "115792089237316195423570985008687907853269984665640564039457584007913129639936",
  "115792089237316195423570985008687907853269984665640564039457584007913129639935",
  "9".repeat(79),
  "9".repeat(2000),
  1,
  1.5,
  -1,
  0,
  -0,
  1e308,
  2 ** 53 + 1,
  true,
  null,
  [],
  {},
  ["1"],
];

const STRINGS: readonly string[] = [
  "",
  " ",
  "ETH",
  "eth",
  "DAI",
  "0x",
  "0x0000000000000000000000000000000000000000",
  "0xZZ",
  "\u0000",
  "\ud800",
  "😀",
  "\u202e",
  "ws://127.0.0.1:1",
  "wss://evil.example/x",
  "http://127.0.0.1:1",
  "ws://",
  "javascript:alert(1)",
  "__proto__",
  "constructor",
  "A".repeat(5000),
];

const HOSTS = (port: string): readonly (string | undefined)[] => [
  `127.0.0.1:${port}`,
  `localhost:${port}`,
  `LOCALHOST:${port}`,
  `[::1]:${port}`,
  "127.0.0.1",
  "evil.example",
  `evil.example:${port}`,
  `127.0.0.1:${port}.evil.example`,
  "",
  undefined,
];

const CONTENT_TYPES: readonly (string | undefined)[] = [
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/json-seq",
  "application/jsonx",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "",
  undefined,
];

const ORIGINS: readonly string[] = [
  "https://evil.example",
  "null",
  "http://127.0.0.1:1",
  "http://localhost",
  "file://",
];

const METHODS: readonly string[] = [
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "HEAD",
  "OPTIONS",
  "TRACE",
  "get",
  "FOO",
  "P0ST",
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function jsonPaths(
  v: Json,
  at: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) for (const [i, x] of v.entries()) jsonPaths(x, [...at, i], out);
  else if (v !== null && typeof v === "object")
    for (const k of Object.keys(v)) jsonPaths(v[k] as Json, [...at, k], out);
  return out;
}

function setAt(
  v: Json,
  p: (string | number)[],
  f: (parent: Record<string | number, Json>, key: string | number) => void,
) {
  let parent = v as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  f(parent, p[p.length - 1] as string | number);
}

function randomValue(r: Rng): Json {
  switch (r.int(6)) {
    case 0:
      return r.pick(AMOUNTS) as Json;
    case 1:
      return r.pick(STRINGS);
    case 2:
      return r.hex(r.pick([0, 1, 19, 20, 21, 31, 32, 33]));
    case 3:
      return r.int(1 << 20) - (1 << 19);
    case 4:
      return Array.from({ length: r.int(20) }, () => r.pick(AMOUNTS) as Json);
    default:
      return { [r.pick(["amount", "peer", "a"])]: r.pick(AMOUNTS) as Json };
  }
}

/** Mutates a body object at the JSON level; returns the text. */
function mutateBody(r: Rng, body: Record<string, unknown>, names: string[]): string {
  const v = structuredClone(body) as Json;
  const all = jsonPaths(v).filter((p) => p.length > 0);
  const op = r.int(9);
  names.push(
    `body:${["delete", "duplicate", "type", "amount", "string", "extra-field", "nesting", "long", "whole"][op]}`,
  );
  const target = all.length > 0 ? r.pick(all) : undefined;
  switch (op) {
    case 0:
      if (target)
        setAt(v, target, (p, k) => {
          if (Array.isArray(p)) p.splice(k as number, 1);
          else delete p[k];
        });
      break;
    case 1:
      if (target)
        setAt(v, target, (p, k) => {
          if (Array.isArray(p)) p.push(structuredClone(p[k as number] as Json));
          else p[`${k}`.toUpperCase()] = structuredClone(p[k] as Json);
        });
      break;
    case 2:
    case 3:
    case 4:
      if (target)
        setAt(v, target, (p, k) => {
          p[k] = op === 2 ? randomValue(r) : op === 3 ? (r.pick(AMOUNTS) as Json) : r.pick(STRINGS);
        });
      break;
    case 5:
      (v as Record<string, Json>)[
        r.pick(["ammount", "__proto__", "constructor", "force", "asset", "peerUrl", "x"])
      ] = randomValue(r);
      break;
    case 6: {
      const depth = Math.floor(10 ** ((r.u32() / 2 ** 32) * 4.5)); // up to ~30k: a 64 KiB body holds it
      const text = JSON.stringify(v);
      const nest = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      if (target === undefined) return nest;
      const MARK = "@@nest@@";
      setAt(v, target, (p, k) => {
        p[k] = MARK;
      });
      return JSON.stringify(v).replace(`"${MARK}"`, nest) || text;
    }
    case 7:
      if (target)
        setAt(v, target, (p, k) => {
          p[k] = "9".repeat(Math.floor(10 ** ((r.u32() / 2 ** 32) * 5)));
        });
      break;
    default:
      return JSON.stringify(randomValue(r));
  }
  return JSON.stringify(v);
}

const TEXT_BODIES = [
  "",
  " ",
  "null",
  "[]",
  "{}",
  "{",
  "}",
  '"x"',
  "1",
  "true",
  "{'a':1}",
  '{"amount":"1",}',
  "\ufeff{}",
];

/** Case `i` of the run with `seed` against `t`. */
export function apiCase(seed: number, i: number, t: ApiTarget): ApiRequest {
  const r = new Rng(seed, i);
  const route = r.pick(ROUTES);
  const port = new URL(t.url).port;
  const names: string[] = [route.name];
  let method: string = route.method;
  let path = route.path(t);
  let auth: string | undefined = `Bearer ${t.secret}`;
  let host: string | undefined = `127.0.0.1:${port}`;
  let contentType: string | undefined = route.method === "POST" ? "application/json" : undefined;
  let origin: string | undefined;
  const extra: [string, string][] = [];
  let chunked = false;
  let bodyText: string | Buffer | undefined = route.body ? JSON.stringify(route.body(r, t)) : undefined;

  // One to three mutations; a few cases stay valid (and may change state, which is accounted for).
  const n = r.bool(0.05) ? 0 : r.range(1, 3);
  for (let k = 0; k < n; k++) {
    switch (r.int(12)) {
      case 0: {
        const v = r.int(8);
        names.push(`auth:${v}`);
        auth = [
          undefined,
          `Bearer ${"0".repeat(64)}`,
          `Bearer ${t.secret.slice(1)}`,
          `Bearer ${t.secret}${r.pick(["0", " ", "\t"])}`,
          `bearer ${t.secret}`,
          `Basic ${Buffer.from(`x:${t.secret}`).toString("base64")}`,
          t.secret,
          `Bearer ${t.secret.toUpperCase()}`,
        ][v];
        if (v === 0 && r.bool()) path += `?access_token=${t.secret}`;
        break;
      }
      case 1:
        names.push("method");
        method = r.pick(METHODS);
        break;
      case 2: {
        names.push("path");
        const id = t.channelID;
        path = r.pick([
          `${path}/`,
          `${path}//`,
          path.toUpperCase(),
          path.replace("/v1/", "/v1//"),
          path.replace("/v1/", "/%76%31/"),
          `${path}?x=1&x=2`,
          `${path}#frag`,
          `${path}/extra`,
          `/v1/channels/${id.toUpperCase().replace("0X", "0x")}/pay`,
          `/v1/channels/${id.slice(0, -1)}/pay`,
          `/v1/channels/${id}0/close`,
          `/v1/channels/0x${"ab".repeat(32)}/close`,
          `/v1/channels/${id}/../${id}/dispute`,
          `/v1/channels/%2e%2e/info`,
          `/v1/${"a".repeat(r.pick([100, 5000, 20000]))}`,
          "/",
          "//",
          `//evil.example${path}`,
          "*",
          "",
          "/v1/channels/\u00e9",
          "http://127.0.0.1/v1/info",
        ]);
        break;
      }
      case 3:
        names.push("host");
        host = r.pick(HOSTS(port));
        break;
      case 4:
        names.push("content-type");
        contentType = r.pick(CONTENT_TYPES);
        break;
      case 5:
        names.push("origin");
        origin = r.pick(ORIGINS);
        break;
      case 6: {
        names.push("header");
        extra.push(
          r.pick<[string, string]>([
            ["authorization", `Bearer ${"1".repeat(64)}`],
            ["content-type", "text/plain"],
            ["host", "evil.example"],
            ["x-forwarded-for", "1.2.3.4"],
            ["expect", "100-continue"],
            ["upgrade", "websocket"],
            ["connection", "upgrade"],
            ["x-long", "a".repeat(r.pick([100, 8000]))],
            ["transfer-encoding", "gzip"],
          ]),
        );
        break;
      }
      case 7:
      case 8:
      case 9: {
        const valid = route.body ? route.body(r, t) : { amount: "1" };
        bodyText = mutateBody(r, valid, names);
        if (route.method === "GET" && r.bool(0.7)) bodyText = undefined;
        break;
      }
      case 10: {
        names.push("body:text");
        const base: string = bodyText === undefined ? "{}" : String(bodyText);
        bodyText = r.pick([
          r.pick(TEXT_BODIES),
          base.slice(0, r.int(base.length)),
          Buffer.from(r.bytes(r.int(200))),
          " ".repeat(70_000),
          `${base}${"x".repeat(r.pick([10, 70_000]))}`,
        ]);
        break;
      }
      default: {
        names.push("framing");
        if (r.bool(0.3)) chunked = true;
        else {
          const lines = [
            `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-length: -1\r\n\r\n`,
            `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`,
            `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}`,
            `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
            `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nbad header\r\n\r\n`,
            `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n folded: x\r\n\r\n`,
            `${method} ${path} HTTP/9.9\r\nhost: 127.0.0.1:${port}\r\n\r\n`,
            `${method} ${path}\r\n\r\n`,
            `${method}  ${path}  HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`,
            `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-length: 1x\r\n\r\n`,
            `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer ${t.secret}\r\nx: \u0000\r\n\r\n`,
          ];
          return {
            method,
            path,
            headers: [],
            body: undefined,
            chunked: false,
            raw: Buffer.from(r.pick(lines), "latin1"),
            mutations: names,
          };
        }
      }
    }
  }
  const headers: [string, string][] = [];
  if (route.name === "upgrade") {
    headers.push(
      ["upgrade", "websocket"],
      ["connection", "Upgrade"],
      ["sec-websocket-key", Buffer.from(r.bytes(16)).toString("base64")],
      ["sec-websocket-version", r.bool(0.9) ? "13" : "8"],
    );
    // The secret may also come as a subprotocol or a query parameter (browsers cannot set headers).
    const how = r.int(4);
    if (how > 0 && auth?.startsWith("Bearer ")) {
      const token = auth.slice(7);
      auth = undefined;
      if (how === 1) headers.push(["sec-websocket-protocol", `perun-events, bearer.${token}`]);
      else if (how === 2) headers.push(["sec-websocket-protocol", `bearer.${token}`]);
      else path += `${path.includes("?") ? "&" : "?"}access_token=${token}`;
    }
  }
  if (host !== undefined) headers.push(["host", host]);
  if (contentType !== undefined) headers.push(["content-type", contentType]);
  if (auth !== undefined) headers.push(["authorization", auth]);
  if (origin !== undefined) headers.push(["origin", origin]);
  headers.push(...extra);
  const body =
    bodyText === undefined ? undefined : Buffer.isBuffer(bodyText) ? bodyText : Buffer.from(bodyText, "utf8");
  return { method, path, headers, body, chunked, mutations: names };
}

/** The request as bytes: with `connection: close` unless it has its own, the body framed as it says. */
export function requestBytes(q: ApiRequest): Buffer {
  if (q.raw) return q.raw;
  const head = [`${q.method} ${q.path} HTTP/1.1`, ...q.headers.map(([k, v]) => `${k}: ${v}`)];
  if (!q.headers.some(([k]) => k === "connection")) head.push("connection: close");
  if (q.body === undefined) return Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "latin1");
  if (q.chunked) {
    head.push("transfer-encoding: chunked");
    const chunks =
      q.body.length === 0
        ? []
        : [Buffer.from(`${q.body.length.toString(16)}\r\n`), q.body, Buffer.from("\r\n")];
    return Buffer.concat([
      Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "latin1"),
      ...chunks,
      Buffer.from("0\r\n\r\n"),
    ]);
  }
  head.push(`content-length: ${q.body.length}`);
  return Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "latin1"), q.body]);
}

export interface RawAnswer {
  /** 0: the connection closed with no answer. */
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** Sends the request over a new TCP connection and reads the answer until the server closes it. */
export function send(url: string, bytes: Buffer, ms: number, head = false): Promise<RawAnswer | "timeout"> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port: Number(u.port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("timeout");
    }, ms);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      // A connection kept open (keep-alive, an accepted WebSocket upgrade) is done once the answer is.
      if (complete(Buffer.concat(chunks), head)) socket.destroy();
    });
    socket.on("error", () => undefined); // a reset after the answer is fine; no answer is status 0
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseAnswer(Buffer.concat(chunks)));
    });
    socket.write(bytes);
  });
}

/** Whether `b` holds a whole answer (a HEAD request's has no body). */
function complete(b: Buffer, head: boolean): boolean {
  const a = parseAnswer(b);
  if (a.status === 0) return false;
  if (a.status === 101 || head || a.status === 204 || a.status === 304) return true;
  const cl = a.headers["content-length"];
  return cl !== undefined && a.body.length >= Number(cl);
}

function parseAnswer(all: Buffer): RawAnswer {
  let b = all;
  // Interim answers (100 Continue to "expect: 100-continue") come before the real one.
  while (/^HTTP\/1\.[01] 1(0[02-9]|[1-9]\d) /.test(b.subarray(0, 13).toString("latin1"))) {
    const e = b.indexOf("\r\n\r\n");
    if (e < 0) break;
    b = b.subarray(e + 4);
  }
  const end = b.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, headers: {}, body: b };
  const lines = b.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(":");
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  let body = b.subarray(end + 4);
  if (headers["transfer-encoding"] === "chunked") body = dechunk(body);
  return { status, headers, body };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const nl = b.indexOf("\r\n", at);
    if (nl < 0) break;
    const size = Number.parseInt(b.subarray(at, nl).toString("latin1"), 16);
    if (!(size > 0)) break;
    out.push(b.subarray(nl + 2, nl + 2 + size));
    at = nl + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** Whether the request, if the node took it, would close or dispute the channel under test. */
function endsTheChannel(q: ApiRequest, t: ApiTarget): boolean {
  if (q.raw) return true; // raw framing carries the real path: never let one through
  if (q.method !== "POST") return false;
  // As the node reads the path (as sent, up to ? or #), and as a URL parser would (dot segments
  // resolved): either way the channel under test must not be closed.
  const paths = [q.path.split(/[?#]/)[0] ?? ""];
  try {
    paths.push(new URL(q.path, "http://x").pathname);
  } catch {
    // not a URL path at all
  }
  return paths.some((p) => {
    const m = /^\/v1\/channels\/([^/]+)\/(close|dispute)$/.exec(p.replace(/\/+$/, ""));
    return m !== null && (m[1] as string).toLowerCase() === t.channelID.toLowerCase();
  });
}

/** The same request, for another channel (unknown to the node: 404 at worst). */
function elsewhere(q: ApiRequest, t: ApiTarget): ApiRequest {
  const other = `0x${"ee".repeat(32)}`;
  const swap = (s: string) => s.split(t.channelID).join(other).split(t.channelID.toUpperCase()).join(other);
  return {
    ...q,
    path: swap(q.path),
    ...(q.raw ? { raw: Buffer.from(swap(q.raw.toString("latin1")), "latin1") } : {}),
    mutations: [...q.mutations, "retargeted"],
  };
}

// ---------------------------------------------------------------------------------------------
// The run.

export interface ApiFuzzFailure {
  readonly case: number;
  readonly mutations: string;
  readonly problem: string;
  readonly request: string;
  readonly answer: string;
}

export interface ApiFuzzReport {
  readonly target: "api";
  readonly seed: number;
  readonly cases: number;
  readonly failures: number;
  /** Answers by status code. */
  readonly statuses: Record<string, number>;
  /** 2xx answers to POSTs: requests that were valid and authorized, and changed the state. */
  readonly stateChanges: number;
  /** Cases turned away from the channel under test (they would have closed or disputed it). */
  readonly retargeted: number;
  /**
   * Channel records left behind by an open that failed (see `danglingProposals`): a known issue of
   * the client, counted here rather than failed, so that the run finds anything else.
   */
  readonly maxCaseMs: number;
  readonly ms: number;
  readonly kinds: Record<string, number>;
  readonly samples: ApiFuzzFailure[];
}

export interface ApiFuzzOptions {
  readonly cases: number;
  readonly seed: number;
  readonly from?: number;
  /** How long the node may take to answer one request (default 15 s). */
  readonly answerMs?: number;
  /** Compare the state after every n-th case only (default 1: every case). */
  readonly snapshotEvery?: number;
  readonly onProgress?: (done: number) => void;
}

export async function runApiFuzz(t: ApiTarget, opts: ApiFuzzOptions): Promise<ApiFuzzReport> {
  const from = opts.from ?? 0;
  const answerMs = opts.answerMs ?? 15_000;
  const every = opts.snapshotEvery ?? 1;
  const statuses: Record<string, number> = {};
  const kinds: Record<string, number> = {};
  const samples: ApiFuzzFailure[] = [];
  let failures = 0;
  let stateChanges = 0;
  let retargeted = 0;
  let maxCaseMs = 0;
  let baseline = await t.snapshot();
  const start = performance.now();
  const fail = (i: number, q: ApiRequest, problem: string, answer: RawAnswer | "timeout") => {
    failures++;
    const kind = `${q.mutations[0]}: ${problem.slice(0, 90).replace(/\d+/g, "N")}`;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    if (samples.length < 20) {
      samples.push({
        case: i,
        mutations: q.mutations.join(" "),
        problem,
        request: requestBytes(q).subarray(0, 400).toString("latin1"),
        answer:
          answer === "timeout"
            ? "timeout"
            : `${answer.status} ${answer.body.subarray(0, 300).toString("utf8")}`,
      });
    }
  };
  for (let i = from; i < from + opts.cases; i++) {
    let q = apiCase(opts.seed, i, t);
    if (endsTheChannel(q, t)) {
      q = elsewhere(q, t);
      retargeted++;
    }
    const t0 = performance.now();
    const a = await send(t.url, requestBytes(q), answerMs, q.method === "HEAD");
    maxCaseMs = Math.max(maxCaseMs, performance.now() - t0);
    if (a === "timeout") {
      fail(i, q, `no answer within ${answerMs} ms`, a);
      baseline = await t.snapshot();
      continue;
    }
    statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    if (a.status === 0) fail(i, q, "the connection closed with no answer", a);
    else if (a.status === 500) fail(i, q, "500", a);
    else if (a.status >= 500 && ![502, 503, 504].includes(a.status)) fail(i, q, `${a.status}`, a);
    const hasBody = q.method !== "HEAD";
    if (hasBody && a.status >= 400 && (a.headers["content-type"] ?? "").startsWith("application/json")) {
      try {
        const e = (JSON.parse(a.body.toString("utf8")) as { error?: { code?: unknown; message?: unknown } })
          .error;
        if (typeof e?.code !== "string" || typeof e.message !== "string")
          fail(i, q, "an error answer without {error: {code, message}}", a);
      } catch {
        fail(i, q, "an error answer that is not JSON", a);
      }
    }
    const changes = a.status >= 200 && a.status < 300 && q.method === "POST";
    if (changes) {
      stateChanges++;
      baseline = await t.snapshot();
    } else if ((i - from) % every === every - 1 || every === 1) {
      const now = await t.snapshot();
      if (now !== baseline) {
        // A refused or failed open included: the client ends it before the error answer goes out.
        fail(i, q, `state changed after a ${a.status} answer: ${firstDifference(baseline, now)}`, a);
        baseline = now;
      }
    }
    if ((i - from + 1) % 1000 === 0) opts.onProgress?.(i - from + 1);
  }
  return {
    target: "api",
    seed: opts.seed,
    cases: opts.cases,
    failures,
    statuses,
    stateChanges,
    retargeted,
    maxCaseMs: Math.round(maxCaseMs),
    ms: Math.round(performance.now() - start),
    kinds,
    samples,
  };
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `${a.slice(Math.max(0, i - 60), i + 60)} -> ${b.slice(Math.max(0, i - 60), i + 60)}`;
}

/** The fuzz target of a harness (src/node/api-harness.testutil.ts): Alice's API and her channel with Bob. */
export async function harnessTarget(h: ApiHarness): Promise<ApiTarget> {
  const { readFileSync } = await import("node:fs");
  const { createServer } = await import("node:net");
  // A port that was free a moment ago: nothing answers there, so a peerUrl pointing at it fails fast.
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const closedPort = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return {
    url: h.alice.apiUrl,
    secret: readFileSync(h.alice.apiSecretFile, "utf8").trim(),
    channelID: h.channelID,
    address: h.alice.address,
    peer: h.bob.address,
    closedPort,
    async snapshot() {
      const [a, b, ha, hb] = await Promise.all([
        h.a.channels(),
        h.b.channels(),
        h.holdings(h.channelID, h.alice.address),
        h.holdings(h.channelID, h.bob.address),
      ]);
      return JSON.stringify({ alice: a, bob: b, holdings: [`${ha}`, `${hb}`] });
    },
  };
}
