/**
 * The node's local API (node:http, no framework), for the CLI, scripts and dashboards on the same
 * machine. It binds loopback only and checks the Host header (a DNS-rebinding page would send its
 * own host name) and the Origin of WebSocket upgrades, because whoever can call it can move the
 * node's money.
 *
 *   GET  /v1/info                   {address, chainId, wireUrl, adjudicator, assets, intermediary}
 *                                   (intermediary: the published rental terms {baseFee,
 *                                   ratePerSecondPerUnit, maxDurationSeconds}, or null)
 *   GET  /v1/graph                  {address, ledgers: [{channelID, peer, asset: {symbol, holder},
 *                                    capacity: [ours, peer's]}]}: our open one-asset ledger channels
 *                                   with each side's free balance, the edges for path finding
 *   GET  /v1/channels               [channel] (virtual channels carry virtual: {path, unlocked})
 *   GET  /v1/channels/:id           channel
 *   POST /v1/channels               {peer, peerUrl?, asset?, deposit, peerDeposit, challengeDuration?,
 *                                    fundingTimeout?} -> 201 {channelID}, once funded
 *   POST /v1/virtual                {peer, via, ledger, peerLedger, deposit, peerDeposit, fee, seconds, app?, appOptions?,
 *                                    challengeDuration?} -> 201 {channelID}, once our side is locked;
 *                                   via, peerLedger, fee: one value each, or arrays in path order
 *   POST /v1/channels/:id/pay       {amount, asset?} -> {version, balances} (ledger or virtual)
 *   POST /v1/channels/:id/close     {force?} -> {ok: true}, once our funds are withdrawn (a virtual
 *                                    channel: once they are unlocked into our ledger channel)
 *   POST /v1/channels/:id/dispute   -> 202 {ok: true}, once our state is registered
 *   GET  /v1/events                 WebSocket: every ClientEvent as JSON
 *
 * Every request carries the node's API secret (src/node/api-secret.ts): `Authorization: Bearer <64
 * hex digits>`, and for the WebSocket, where browsers cannot set headers, also as the subprotocol
 * `bearer.<secret>` (offer "perun-events" with it; that is the one chosen) or the query parameter
 * `?access_token=<secret>` (RFC 6750; may end up in logs, so the last resort). The checks run in this
 * order, each before anything of the request is read or done: the Host header (403), for WebSocket
 * upgrades the path and the Origin (403), for POST the content type (415), then the secret (401
 * UNAUTHORIZED, compared in constant time), then the route and the body. So a process of another Unix
 * user, which cannot read the secret file, can call nothing, not even GET /v1/info.
 *
 * A virtual channel V is opened with no transaction: V's funds are locked in our ledger channel
 * `ledger` with the intermediary `via` and in hers (`peerLedger`) with `peer`; we pay her `fee` (see
 * her terms in her GET /v1/info) for `seconds` of validity. Over several intermediaries, `via` lists
 * them in path order from us to the peer, `peerLedger` the ledger channels after ours (via[0]-via[1],
 * ..., last intermediary-peer) and `fee` each one's fee (wei, decimal strings), all of the same length:
 *   {"peer": B, "via": [I1, I2], "ledger": "<us-I1>", "peerLedger": ["<I1-I2>", "<I2-B>"],
 *    "fee": ["1000", "2000"], "deposit": "1", "peerDeposit": "0", "seconds": 3600}
 * A path lists no node twice and neither end as an intermediary, and `ledger` must be our open ledger
 * channel with via[0]; anything else is 400. GET /v1/graph (with each node's terms in GET /v1/info)
 * is what `perun open-virtual --auto` finds such a path with. Closing V is cooperative only, for now:
 * force-closing or disputing V is refused with 409 (VIRTUAL_DISPUTE); a dispute goes through the
 * ledger channel (close it with force).
 *
 * Amounts, versions and balances are decimal strings (wei). Errors are {error: {code, message,
 * hint}} with 400/413/415 for bad requests, 401 without the secret, 403 for a foreign Host or Origin,
 * 404 for unknown channels and routes, 409 when the channel cannot do it now, 502/504 when the chain or
 * the peer failed.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { RentalTerms } from "../channel/fees.js";
import type { Address, Asset, Hex } from "../channel/types.js";
import type { ChannelInfo, Client, ClientEvent, Logger } from "../client/client.js";
import { PerunError } from "../errors.js";
import { openApp } from "./api-apps.js";
import {
  address,
  addressValue,
  amount,
  amountValue,
  BadRequestError,
  channelId,
  idValue,
  invalidField,
  oneOrMany,
  onlyFields,
  optionalBoolean,
  optionalInt,
  optionalString,
  readJsonBody,
  requireJson,
} from "./api-request.js";
import { jsonSafe } from "./log.js";

export interface ApiInfo {
  readonly address: Address;
  readonly chainId: number;
  readonly wireUrl: string | undefined;
  readonly adjudicator: Address;
  /** Asset holder by symbol. */
  readonly assets: Readonly<Record<string, Address>>;
  /** App contracts we play, by app name (src/node/apps.ts). */
  readonly apps?: Readonly<Record<string, Address>>;
  /** Our rental terms if we offer virtual channels as an intermediary. */
  readonly intermediary?: RentalTerms;
}

/** Rental terms as published in GET /v1/info: wei as decimal strings, seconds as a number. */
export interface ApiTerms {
  readonly baseFee: string;
  readonly ratePerSecondPerUnit: string;
  readonly maxDurationSeconds: number;
}

/**
 * GET /v1/graph: a node's open ledger channels as edges of the channel graph, from which a client
 * builds the `ChannelGraph` of `findPath` (src/channel/pathfinding.ts): `address` and `peer` are an
 * edge's ends, `capacity` is [ours, the peer's] free balance in wei, i.e. `capacityFrom`/`capacityTo`
 * with `from` = `address`. The intermediaries' terms are in each node's GET /v1/info.
 */
export interface ApiGraph {
  readonly address: Address;
  readonly ledgers: readonly ApiLedgerEdge[];
}

export interface ApiLedgerEdge {
  readonly channelID: Hex;
  readonly peer: Address;
  /** The channel's one asset; `symbol` is this node's name for it (null if not in its config). */
  readonly asset: { readonly symbol: string | null; readonly holder: Address };
  /** [ours, the peer's] free balance (not locked in virtual channels), wei as decimal strings. */
  readonly capacity: readonly [string, string];
}

export interface ApiDeps {
  readonly client: Client;
  readonly info: ApiInfo;
  /** The channel asset of each symbol in `info.assets`. */
  readonly assets: Readonly<Record<string, Asset>>;
  readonly defaults: { readonly challengeDuration: bigint; readonly fundingTimeout: bigint };
  /** Registers a peer's wire URL (POST /v1/channels with peerUrl). */
  addPeer(peer: Address, url: string): void;
  /** The secret every request must carry, and the file it is in (named in the 401's hint). */
  readonly auth: ApiAuth;
  readonly log: Logger;
}

export interface ApiAuth {
  /** 64 hex digits (src/node/api-secret.ts). */
  readonly secret: string;
  readonly file: string;
}

export interface ApiServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** HTTP status of each error code; other PerunErrors are 409 (the channel cannot do it now). */
const STATUS: Readonly<Record<string, number>> = {
  UNKNOWN_CHANNEL: 404,
  UNKNOWN_PEER: 400,
  INVALID_ARGUMENT: 400,
  INVALID_FIELD: 400,
  PEER_TIMEOUT: 504,
  PEER_UNREACHABLE: 502,
  PEER_OFFLINE: 503,
  CHAIN_UNREACHABLE: 502,
  CONTRACT_REVERT: 502,
  CLIENT_CLOSED: 503,
  TRANSPORT_CLOSED: 503,
};

/** 2^32 s is past any sane challenge duration or funding timeout; the contract takes uint64. */
const MAX_SECONDS = 2 ** 32;

/**
 * Most intermediaries a POST /v1/virtual may name. Not a protocol limit: each one adds a fee, a round
 * of lock messages and a peer timeout to the wait, so a longer path is a mistake rather than a plan.
 */
const MAX_INTERMEDIARIES = 16;

export async function startApi(deps: ApiDeps, listen: { host: string; port: number }): Promise<ApiServer> {
  const { client, log } = deps;
  const holders = new Map(Object.entries(deps.info.assets).map(([sym, h]) => [h.toLowerCase(), sym]));
  let port = listen.port;

  const terms = deps.info.intermediary;
  const infoView = {
    address: deps.info.address,
    chainId: deps.info.chainId,
    wireUrl: deps.info.wireUrl,
    adjudicator: deps.info.adjudicator,
    assets: deps.info.assets,
    apps: deps.info.apps ?? {},
    intermediary:
      terms === undefined
        ? null
        : ({
            baseFee: terms.baseFee.toString(),
            ratePerSecondPerUnit: terms.ratePerSecondPerUnit.toString(),
            maxDurationSeconds: Number(terms.maxDurationSeconds),
          } satisfies ApiTerms),
  };

  const channelView = (c: ChannelInfo) => ({
    channelID: c.channelID,
    peer: c.peer,
    idx: c.idx,
    phase: c.phase,
    version: c.version === null ? null : c.version.toString(),
    balances: c.balances === null ? null : c.balances.map((row) => row.map((b) => b.toString())),
    assets: c.assets.map((a) => ({
      symbol: holders.get(a.ethHolder.toLowerCase()) ?? null,
      holder: a.ethHolder,
    })),
    ...(c.virtual ? { virtual: { path: [...c.virtual.path], unlocked: c.virtual.unlocked } } : {}),
    ...(c.app ? { app: c.app } : {}),
  });

  /**
   * Our part of the channel graph (see `ApiGraph`): the ledger channels a virtual channel can be
   * locked in now, i.e. open (Acting), not virtual, one asset, with each side's free balance.
   */
  const graphView = (): ApiGraph => ({
    address: deps.info.address,
    ledgers: client.channels().flatMap((c) => {
      const row = c.balances?.[0];
      const asset = c.assets[0];
      if (c.virtual || c.phase !== "Acting" || c.assets.length !== 1 || !row || !asset) return [];
      return [
        {
          channelID: c.channelID,
          peer: c.peer,
          asset: { symbol: holders.get(asset.ethHolder.toLowerCase()) ?? null, holder: asset.ethHolder },
          capacity: [`${row[c.idx] ?? 0n}`, `${row[1 - c.idx] ?? 0n}`],
        },
      ];
    }),
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = requestTarget(req.url)?.path.replace(/\/+$/, "") ?? "(not a path)";
    const method = req.method ?? "GET";
    if (path === "/v1/info") {
      allow(method, "GET");
      return reply(res, 200, infoView);
    }
    if (path === "/v1/graph") {
      allow(method, "GET");
      return reply(res, 200, graphView());
    }
    if (path === "/v1/virtual") {
      allow(method, "POST");
      return reply(res, 201, await openVirtual(await readJsonBody(req)));
    }
    if (path === "/v1/channels") {
      if (method === "GET") return reply(res, 200, client.channels().map(channelView));
      allow(method, "POST");
      return reply(res, 201, await open(await readJsonBody(req)));
    }
    const m = /^\/v1\/channels\/([^/]+)(?:\/([a-z]+))?$/.exec(path);
    if (m) {
      const id = channelId(m[1] as string);
      switch (m[2]) {
        case undefined:
          allow(method, "GET");
          return reply(res, 200, channelView(client.channel(id)));
        case "pay":
          allow(method, "POST");
          return reply(res, 200, await pay(id, await readJsonBody(req)));
        case "move": {
          allow(method, "POST");
          const body = await readJsonBody(req);
          onlyFields(body, ["data"]);
          if (body.data === undefined) throw invalidField("data", "the move, as the app takes it", undefined);
          await client.move(id, body.data);
          return reply(res, 200, channelView(client.channel(id)));
        }
        case "close": {
          allow(method, "POST");
          const body = await readJsonBody(req);
          onlyFields(body, ["force"]);
          const force = optionalBoolean(body, "force") ?? false;
          const c = client.channel(id); // 404 before anything starts
          if (c.virtual) {
            if (force) throw virtualDispute(c);
            await client.settleVirtual(id);
          } else await client.settle(id, { force });
          return reply(res, 200, { ok: true });
        }
        case "dispute": {
          allow(method, "POST");
          onlyFields(await readJsonBody(req), []);
          const c = client.channel(id);
          if (c.virtual) throw virtualDispute(c);
          await client.dispute(id);
          return reply(res, 202, { ok: true });
        }
      }
    }
    throw new BadRequestError(
      "NOT_FOUND",
      `No route ${method} ${path}.`,
      "See README.md, section 'Local API'.",
      404,
    );
  }

  async function open(body: Record<string, unknown>): Promise<{ channelID: Hex }> {
    onlyFields(body, [
      "peer",
      "peerUrl",
      "asset",
      "deposit",
      "peerDeposit",
      "challengeDuration",
      "fundingTimeout",
      "app",
      "appOptions",
    ]);
    const peer = address(body, "peer");
    if (peer.toLowerCase() === deps.info.address.toLowerCase()) {
      throw invalidField("peer", "another node's address (not our own)", body.peer);
    }
    const peerUrl = optionalString(body, "peerUrl", "a ws:// or wss:// URL", (s) =>
      /^wss?:\/\/[^\s]+$/.test(s),
    );
    const symbols = Object.keys(deps.assets);
    const symbol =
      optionalString(body, "asset", `one of ${symbols.join(", ")}`, (s) => Object.hasOwn(deps.assets, s)) ??
      (symbols.includes("ETH") ? "ETH" : (symbols[0] as string));
    const deposit = amount(body, "deposit");
    const peerDeposit = amount(body, "peerDeposit");
    if (deposit + peerDeposit === 0n)
      throw invalidField("deposit", "positive, or peerDeposit positive", body.deposit);
    const challengeDuration = optionalInt(body, "challengeDuration", 1, MAX_SECONDS);
    const fundingTimeout = optionalInt(body, "fundingTimeout", 1, MAX_SECONDS);
    const app = openApp(body, deps.info.apps ?? {});
    if (peerUrl !== undefined) deps.addPeer(peer, peerUrl);
    const channelID = await client.openChannel({
      ...app,
      peer,
      assets: [deps.assets[symbol] as Asset],
      balances: [[deposit, peerDeposit]],
      challengeDuration:
        challengeDuration === undefined ? deps.defaults.challengeDuration : BigInt(challengeDuration),
      fundingTimeout: fundingTimeout === undefined ? deps.defaults.fundingTimeout : BigInt(fundingTimeout),
    });
    return { channelID };
  }

  async function openVirtual(body: Record<string, unknown>): Promise<{ channelID: Hex }> {
    onlyFields(body, [
      "peer",
      "via",
      "ledger",
      "peerLedger",
      "deposit",
      "peerDeposit",
      "fee",
      "seconds",
      "challengeDuration",
      "app",
      "appOptions",
    ]);
    const us = deps.info.address.toLowerCase();
    const peer = address(body, "peer");
    if (peer.toLowerCase() === us)
      throw invalidField("peer", "another node's address (not our own)", body.peer);
    const path = virtualPath(body, us, peer);
    const deposit = amount(body, "deposit");
    const peerDeposit = amount(body, "peerDeposit");
    if (deposit + peerDeposit === 0n)
      throw invalidField("deposit", "positive, or peerDeposit positive", body.deposit);
    const seconds = optionalInt(body, "seconds", 1, MAX_SECONDS);
    if (seconds === undefined)
      throw invalidField("seconds", `an integer from 1 to ${MAX_SECONDS}`, undefined);
    const challengeDuration = optionalInt(body, "challengeDuration", 1, MAX_SECONDS);
    // Our ledger channel must be a ledger channel with via[0]; its phase is the client's to check (409).
    const first = path.via[0] as Address;
    const own = client.channels().find((c) => c.channelID.toLowerCase() === path.ledger);
    if (!own || own.virtual || own.peer.toLowerCase() !== first.toLowerCase()) {
      const with_ = path.list ? `via[0] (${first})` : `via (${first})`;
      throw invalidField("ledger", `the id of our ledger channel with ${with_}`, body.ledger);
    }
    if (own.assets.length !== 1) {
      throw invalidField("ledger", "a ledger channel of one asset (the API opens those)", body.ledger);
    }
    const app = openApp(body, deps.info.apps ?? {});
    const channelID = await client.openVirtualChannel({
      ...app,
      peer,
      // One intermediary given as plain values: the request the client has always had.
      ...(path.list
        ? { via: path.via, peerLedger: path.peerLedger, fee: path.fee.map((f) => [f]) }
        : { via: first, peerLedger: path.peerLedger[0] as Hex, fee: [path.fee[0] as bigint] }),
      ledger: path.ledger,
      balances: [[deposit, peerDeposit]],
      seconds: BigInt(seconds),
      challengeDuration:
        challengeDuration === undefined ? deps.defaults.challengeDuration : BigInt(challengeDuration),
    });
    return { channelID };
  }

  async function pay(id: Hex, body: Record<string, unknown>) {
    onlyFields(body, ["amount", "asset"]);
    const value = amount(body, "amount", { positive: true });
    const info = client.channel(id);
    const asset = optionalInt(body, "asset", 0, Math.max(0, info.assets.length - 1)) ?? 0;
    const state = await client.pay(id, value, asset);
    return {
      version: state.version.toString(),
      balances: state.outcome.balances.map((row) => row.map((b) => b.toString())),
    };
  }

  const expected = sha256(deps.auth.secret);
  /** Whether any of the tokens is the secret; both sides hashed first, so the time says nothing of it. */
  const authorized = (tokens: readonly (string | undefined)[]): boolean => {
    let ok = false;
    for (const t of tokens) if (t !== undefined && timingSafeEqual(sha256(t), expected)) ok = true;
    return ok;
  };
  const unauthorized = (present: boolean) =>
    new BadRequestError(
      "UNAUTHORIZED",
      present ? "Wrong API secret." : "This API needs the node's secret.",
      `Send the header "Authorization: Bearer <secret>", the secret being the 64 hex digits in ${deps.auth.file} (readable by the node's user only). The perun CLI finds it by itself when run as the node's user; else give it --api-secret-file.`,
      401,
    );

  const server: Server = createServer((req, res) => {
    if (!hostAllowed(req.headers.host, port)) {
      req.resume();
      return replyError(
        res,
        new BadRequestError(
          "FORBIDDEN_HOST",
          "Host header not allowed.",
          "Call the API as 127.0.0.1 or localhost.",
          403,
        ),
      );
    }
    if (req.method === "POST") {
      try {
        requireJson(req);
      } catch (err) {
        req.resume();
        res.setHeader("connection", "close");
        return replyError(res, err);
      }
    }
    const token = bearer(req.headers.authorization);
    if (!authorized([token])) {
      // Nothing of the request is read: the body is discarded and the connection closed after the 401.
      req.resume();
      res.setHeader("connection", "close");
      res.setHeader("www-authenticate", 'Bearer realm="perun"');
      return replyError(res, unauthorized(req.headers.authorization !== undefined));
    }
    route(req, res).catch((err: unknown) => {
      if (!(err instanceof PerunError))
        log("error", "api: unexpected error", {
          // Without the query: a client may have put the secret there.
          path: (req.url ?? "").split("?")[0],
          error: String((err as Error)?.stack ?? err),
        });
      replyError(res, err);
    });
  });
  // Long waits (open until funded, close until withdrawn) must not be cut by the default timeouts.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 1024,
    // A browser fails the connection unless we choose one of the protocols it offered: "perun-events"
    // when offered (so that the secret is not echoed), else the first.
    handleProtocols: (offered: Set<string>) =>
      offered.has(EVENTS_PROTOCOL) ? EVENTS_PROTOCOL : (offered.values().next().value ?? false),
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => undefined);
    const url = requestTarget(req.url);
    if (url === undefined) {
      return refuseUpgrade(socket, "HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    }
    const origin = req.headers.origin;
    if (
      url.path !== "/v1/events" ||
      !hostAllowed(req.headers.host, port) ||
      (origin !== undefined && !originAllowed(origin))
    ) {
      return refuseUpgrade(socket, "HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n");
    }
    const fromProtocol = (req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .find((p) => p.startsWith(BEARER_PROTOCOL));
    const tokens = [
      bearer(req.headers.authorization),
      fromProtocol?.slice(BEARER_PROTOCOL.length),
      url.query.get("access_token") ?? undefined,
    ];
    if (!authorized(tokens)) {
      const body = JSON.stringify({
        error: errorBody(unauthorized(tokens.some((t) => t !== undefined))),
      });
      return refuseUpgrade(
        socket,
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n" +
          `www-authenticate: Bearer realm="perun"\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `connection: close\r\n\r\n${body}`,
      );
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // The stream is one-way; anything the client sends is ignored.
      ws.on("error", () => undefined);
    });
  });
  let closed = false;
  client.onEvent((e: ClientEvent) => {
    if (closed) return;
    const frame = JSON.stringify(e, jsonSafe);
    for (const ws of wss.clients) if (ws.readyState === ws.OPEN) ws.send(frame);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${host}:${port}`,
    port,
    async close() {
      closed = true;
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The intermediaries, ledger channels and fees of a POST /v1/virtual body, checked against each other. */
interface VirtualPath {
  readonly via: Address[];
  /** Our ledger channel with via[0] (lower case). */
  readonly ledger: Hex;
  /** The ledger channels after ours, one per intermediary (lower case). */
  readonly peerLedger: Hex[];
  /** Each intermediary's fee in the ledger channels' one asset. */
  readonly fee: bigint[];
  /** Whether any of via, peerLedger, fee came as an array (else: the one-intermediary form). */
  readonly list: boolean;
}

/**
 * `via`, `ledger`, `peerLedger` and `fee` of POST /v1/virtual: one value each for one intermediary,
 * or arrays in path order for several. The path must be a path: no member twice (a loop would lock
 * V twice in some ledger channel), neither end among the intermediaries, and one ledger channel and
 * one fee per intermediary. Whether the channels after ours really join these nodes only they know;
 * a wrong one makes the path refuse the locks (409).
 */
function virtualPath(body: Record<string, unknown>, us: string, peer: Address): VirtualPath {
  const via = oneOrMany(body, "via", addressValue, "an address (0x + 40 hex digits)", MAX_INTERMEDIARIES);
  const n = via.values.length;
  const seen = new Set<string>();
  via.values.forEach((a, k) => {
    const name = via.list ? `via[${k}]` : "via";
    if (a.toLowerCase() === us || a.toLowerCase() === peer.toLowerCase()) {
      const who = via.list ? "an intermediary's" : "the intermediary's";
      throw invalidField(name, `${who} address (neither ours nor the peer's)`, a);
    }
    if (seen.has(a.toLowerCase())) throw invalidField(name, "an intermediary not already in via", a);
    seen.add(a.toLowerCase());
  });
  const ledger = idValue(body.ledger, "ledger");
  const peerLedger = oneOrMany(
    body,
    "peerLedger",
    idValue,
    "a channel id (0x + 64 hex digits)",
    MAX_INTERMEDIARIES,
  );
  if (peerLedger.values.length !== n) {
    throw invalidField(
      "peerLedger",
      `${n === 1 ? "one channel id" : `an array of ${n} channel ids`} (one per intermediary in via)`,
      body.peerLedger,
    );
  }
  const ids = new Set<string>([ledger]);
  peerLedger.values.forEach((id, k) => {
    if (ids.has(id)) {
      throw invalidField(
        peerLedger.list ? `peerLedger[${k}]` : "peerLedger",
        n === 1
          ? "the intermediary's channel with the peer, not ours"
          : "a ledger channel after ours, not ours and not one already in peerLedger",
        id,
      );
    }
    ids.add(id);
  });
  const fee = oneOrMany(
    body,
    "fee",
    amountValue,
    "a non-negative integer amount in wei as a decimal string",
    MAX_INTERMEDIARIES,
  );
  if (fee.values.length !== n) {
    throw invalidField(
      "fee",
      `${n === 1 ? "one fee" : `an array of ${n} fees`} (one per intermediary in via)`,
      body.fee,
    );
  }
  return {
    via: via.values,
    ledger,
    peerLedger: peerLedger.values,
    fee: fee.values,
    list: via.list || peerLedger.list || fee.list,
  };
}

/** Force-closing or disputing a virtual channel: not on chain by itself, for now. */
function virtualDispute(c: ChannelInfo): BadRequestError {
  // Our neighbour on V's path: the first intermediary for V.alice (idx 0), the last for V.bob.
  const path = c.virtual?.path ?? [];
  const via = path[c.idx === 0 ? 1 : path.length - 2] ?? "the intermediary";
  return new BadRequestError(
    "VIRTUAL_DISPUTE",
    `Channel ${c.channelID} is virtual: it cannot be force-closed or disputed on its own.`,
    `Close it cooperatively (without force), or dispute through the ledger channel: close our ledger channel with ${via} with force.`,
    409,
  );
}

function allow(method: string, expected: string): void {
  if (method !== expected) {
    throw new BadRequestError(
      "METHOD_NOT_ALLOWED",
      `Use ${expected} here, not ${method}.`,
      "See README.md, section 'Local API'.",
      405,
    );
  }
}

function hostAllowed(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host.toLowerCase());
}

function originAllowed(origin: string): boolean {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(origin).hostname);
  } catch {
    return false;
  }
}

/**
 * The path and query of an origin-form request target ("/v1/channels?x=1"), as sent: no dot segments
 * resolved, nothing decoded. Not `new URL(target, base)`: that reads "//x/v1/info" as the host x and
 * the path /v1/info, and throws on "//" (which made GET // a 500; found by fuzzing). Anything but a
 * path (absolute-form, "*") is undefined: 404, or 400 for an upgrade.
 */
function requestTarget(target: string | undefined): { path: string; query: URLSearchParams } | undefined {
  if (target === undefined || !target.startsWith("/")) return undefined;
  const end = target.search(/[?#]/);
  const path = end < 0 ? target : target.slice(0, end);
  const q = target.indexOf("?");
  const query = q < 0 ? "" : target.slice(q + 1).split("#")[0];
  return { path, query: new URLSearchParams(query) };
}

/**
 * Answers an upgrade request we refuse and closes the socket once the answer is written. Not just
 * `socket.end(answer)`: after an upgrade nobody reads the socket, so a client that sent more (a body)
 * and keeps its side open was never seen to close, and the half-closed socket stayed, one per
 * request, and kept `server.close()` (the node's stop) waiting forever (found by fuzzing).
 */
function refuseUpgrade(socket: Duplex, answer: string): void {
  socket.once("finish", () => socket.destroy());
  socket.end(answer);
}

/** The subprotocol a WebSocket client may offer to name the stream (and that we then choose). */
export const EVENTS_PROTOCOL = "perun-events";
/** Prefix of the subprotocol that carries the secret for clients that cannot set headers (browsers). */
export const BEARER_PROTOCOL = "bearer.";

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750), else undefined. */
function bearer(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return m ? (m[1] as string) : undefined;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body, jsonSafe);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function replyError(res: ServerResponse, err: unknown): void {
  const status =
    err instanceof BadRequestError ? err.status : err instanceof PerunError ? (STATUS[err.code] ?? 409) : 500;
  const error = errorBody(err);
  // A refused oversize body may still be arriving: close the connection rather than read it.
  if (status === 413 && !res.headersSent) res.setHeader("connection", "close");
  reply(res, status, { error });
}

function errorBody(err: unknown): { code: string; message: string | undefined; hint: string | null } {
  return err instanceof PerunError
    ? { code: err.code, message: err.message.split("\n")[0], hint: err.hint ?? null }
    : { code: "INTERNAL", message: "Internal error; see the node's log.", hint: null };
}
