/**
 * The node's local API (node:http, no framework), for the CLI, scripts and dashboards on the same
 * machine. It binds loopback only and checks the Host header (a DNS-rebinding page would send its
 * own host name) and the Origin of WebSocket upgrades, because whoever can call it can move the
 * node's money.
 *
 *   GET  /v1/info                   {address, chainId, wireUrl, adjudicator, assets, intermediary}
 *                                   (intermediary: the published rental terms {baseFee,
 *                                   ratePerSecondPerUnit, maxDurationSeconds}, or null)
 *   GET  /v1/channels               [channel] (virtual channels carry virtual: {path, unlocked})
 *   GET  /v1/channels/:id           channel
 *   POST /v1/channels               {peer, peerUrl?, asset?, deposit, peerDeposit, challengeDuration?,
 *                                    fundingTimeout?} -> 201 {channelID}, once funded
 *   POST /v1/virtual                {peer, via, ledger, peerLedger, deposit, peerDeposit, fee, seconds,
 *                                    challengeDuration?} -> 201 {channelID}, once our side is locked
 *   POST /v1/channels/:id/pay       {amount, asset?} -> {version, balances} (ledger or virtual)
 *   POST /v1/channels/:id/close     {force?} -> {ok: true}, once our funds are withdrawn (a virtual
 *                                    channel: once they are unlocked into our ledger channel)
 *   POST /v1/channels/:id/dispute   -> 202 {ok: true}, once our state is registered
 *   GET  /v1/events                 WebSocket: every ClientEvent as JSON
 *
 * A virtual channel V is opened with no transaction: V's funds are locked in our ledger channel
 * `ledger` with the intermediary `via` and in hers (`peerLedger`) with `peer`; we pay her `fee` (see
 * her terms in her GET /v1/info) for `seconds` of validity. Closing V is cooperative only, for now:
 * force-closing or disputing V is refused with 409 (VIRTUAL_DISPUTE); a dispute goes through the
 * ledger channel (close it with force).
 *
 * Amounts, versions and balances are decimal strings (wei). Errors are {error: {code, message,
 * hint}} with 400/413/415 for bad requests, 404 for unknown channels and routes, 409 when the
 * channel cannot do it now, 502/504 when the chain or the peer failed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { RentalTerms } from "../channel/fees.js";
import type { Address, Asset, Hex } from "../channel/types.js";
import type { ChannelInfo, Client, ClientEvent, Logger } from "../client/client.js";
import { PerunError } from "../errors.js";
import {
  address,
  amount,
  BadRequestError,
  channelId,
  invalidField,
  onlyFields,
  optionalBoolean,
  optionalInt,
  optionalString,
  readJsonBody,
} from "./api-request.js";
import { jsonSafe } from "./log.js";

export interface ApiInfo {
  readonly address: Address;
  readonly chainId: number;
  readonly wireUrl: string | undefined;
  readonly adjudicator: Address;
  /** Asset holder by symbol. */
  readonly assets: Readonly<Record<string, Address>>;
  /** Our rental terms if we offer virtual channels as an intermediary. */
  readonly intermediary?: RentalTerms;
}

/** Rental terms as published in GET /v1/info: wei as decimal strings, seconds as a number. */
export interface ApiTerms {
  readonly baseFee: string;
  readonly ratePerSecondPerUnit: string;
  readonly maxDurationSeconds: number;
}

export interface ApiDeps {
  readonly client: Client;
  readonly info: ApiInfo;
  /** The channel asset of each symbol in `info.assets`. */
  readonly assets: Readonly<Record<string, Asset>>;
  readonly defaults: { readonly challengeDuration: bigint; readonly fundingTimeout: bigint };
  /** Registers a peer's wire URL (POST /v1/channels with peerUrl). */
  addPeer(peer: Address, url: string): void;
  readonly log: Logger;
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
  CHAIN_UNREACHABLE: 502,
  CONTRACT_REVERT: 502,
  CLIENT_CLOSED: 503,
  TRANSPORT_CLOSED: 503,
};

/** 2^32 s is past any sane challenge duration or funding timeout; the contract takes uint64. */
const MAX_SECONDS = 2 ** 32;

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
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://x").pathname.replace(/\/+$/, "");
    const method = req.method ?? "GET";
    if (path === "/v1/info") {
      allow(method, "GET");
      return reply(res, 200, infoView);
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
    if (peerUrl !== undefined) deps.addPeer(peer, peerUrl);
    const channelID = await client.openChannel({
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
    ]);
    const us = deps.info.address.toLowerCase();
    const peer = address(body, "peer");
    if (peer.toLowerCase() === us)
      throw invalidField("peer", "another node's address (not our own)", body.peer);
    const via = address(body, "via");
    if (via.toLowerCase() === us || via.toLowerCase() === peer.toLowerCase()) {
      throw invalidField("via", "the intermediary's address (neither ours nor the peer's)", body.via);
    }
    const ledger = idField(body, "ledger");
    const peerLedger = idField(body, "peerLedger");
    if (ledger === peerLedger)
      throw invalidField("peerLedger", "the intermediary's channel with the peer, not ours", body.peerLedger);
    const deposit = amount(body, "deposit");
    const peerDeposit = amount(body, "peerDeposit");
    if (deposit + peerDeposit === 0n)
      throw invalidField("deposit", "positive, or peerDeposit positive", body.deposit);
    const fee = amount(body, "fee");
    const seconds = optionalInt(body, "seconds", 1, MAX_SECONDS);
    if (seconds === undefined)
      throw invalidField("seconds", `an integer from 1 to ${MAX_SECONDS}`, undefined);
    const challengeDuration = optionalInt(body, "challengeDuration", 1, MAX_SECONDS);
    // Our ledger channel must be a ledger channel with `via`; its phase is the client's to check (409).
    const own = client.channels().find((c) => c.channelID.toLowerCase() === ledger);
    if (!own || own.virtual || own.peer.toLowerCase() !== via.toLowerCase()) {
      throw invalidField("ledger", `the id of our ledger channel with via (${via})`, body.ledger);
    }
    if (own.assets.length !== 1) {
      throw invalidField("ledger", "a ledger channel of one asset (the API opens those)", body.ledger);
    }
    const channelID = await client.openVirtualChannel({
      peer,
      via,
      ledger,
      peerLedger,
      balances: [[deposit, peerDeposit]],
      fee: [fee],
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
    route(req, res).catch((err: unknown) => {
      if (!(err instanceof PerunError))
        log("error", "api: unexpected error", { path: req.url, error: String((err as Error)?.stack ?? err) });
      replyError(res, err);
    });
  });
  // Long waits (open until funded, close until withdrawn) must not be cut by the default timeouts.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;

  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const origin = req.headers.origin;
    if (
      path !== "/v1/events" ||
      !hostAllowed(req.headers.host, port) ||
      (origin !== undefined && !originAllowed(origin))
    ) {
      socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n");
      return;
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

/** A channel id in a body field (lower case). */
function idField(body: Record<string, unknown>, field: string): Hex {
  const v = body[field];
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(v))
    throw invalidField(field, "a channel id (0x + 64 hex digits)", v);
  return v.toLowerCase() as Hex;
}

/** Force-closing or disputing a virtual channel: not on chain by itself, for now. */
function virtualDispute(c: ChannelInfo): BadRequestError {
  const via = c.virtual?.path[1] ?? "the intermediary";
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

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body, jsonSafe);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function replyError(res: ServerResponse, err: unknown): void {
  const status =
    err instanceof BadRequestError ? err.status : err instanceof PerunError ? (STATUS[err.code] ?? 409) : 500;
  const error =
    err instanceof PerunError
      ? { code: err.code, message: err.message.split("\n")[0], hint: err.hint ?? null }
      : { code: "INTERNAL", message: "Internal error; see the node's log.", hint: null };
  // A refused oversize body may still be arriving: close the connection rather than read it.
  if (status === 413 && !res.headersSent) res.setHeader("connection", "close");
  reply(res, status, { error });
}
