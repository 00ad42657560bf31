/**
 * Transport over WebSocket (design.md section 6), implementing the Transport port (./transport.ts).
 *
 * Each connection starts with the signed handshake of ./handshake.ts; only then are message frames
 * (./codec.ts, binary WebSocket frames) accepted, and every message is delivered with `from` = the
 * address the handshake proved. Frames bigger than maxFrameBytes are refused by ws itself (close
 * 1009) before they are buffered; frames that do not decode are logged and dropped, and a peer that
 * keeps sending them is disconnected.
 *
 * One connection is used per peer for sending. If both peers dial each other at once, both keep the
 * one dialed by the lower address and close the other; a side that already sent on the losing one
 * waits for its close handshake before sending on the winner, so the peer has read every earlier
 * frame first and order per peer is kept across the switch. Dialing is lazy (first `send`), messages
 * wait in a per-peer queue until the handshake is done, and after a drop the next `send` redials.
 */
import { randomBytes } from "node:crypto";
import type { RawData } from "ws";
import { WebSocket, WebSocketServer } from "ws";
import { isHex } from "../channel/hex.js";
import type { Signer } from "../channel/signer.js";
import type { Address } from "../channel/types.js";
import { InvalidArgumentError, PerunError } from "../errors.js";
import { decodeMsg, encodeMsg, MAX_FRAME_BYTES } from "./codec.js";
import {
  HandshakeError,
  MalformedMessageError,
  PeerUnreachableError,
  TransportClosedError,
  UnknownPeerError,
} from "./errors.js";
import {
  CHALLENGE_BYTES,
  clientAuthFrame,
  helloFrame,
  parseHello,
  serverAuthFrame,
  verifyClientAuth,
  verifyServerAuth,
} from "./handshake.js";
import type { Logger } from "./log.js";
import { defaultLog } from "./log.js";
import type { Inbound, WireMsg } from "./messages.js";
import type { Transport } from "./transport.js";

export interface WsTransportOptions {
  /** Proves our address in every handshake. */
  readonly signer: Signer;
  /** Accept inbound connections here (port 0 = any free port). Without it we only dial out. */
  readonly listen?: { readonly host: string; readonly port: number };
  readonly log?: Logger;
  /** Largest frame sent or accepted (default 1 MiB); both peers should agree. */
  readonly maxFrameBytes?: number;
  /** Time for an accepted connection to complete the handshake (default 5 s). */
  readonly handshakeTimeoutMs?: number;
  /**
   * Time for a connection we dial to be answered and complete the handshake (default 30 s). Longer
   * than the accepting side's: it includes the wait in the peer's accept queue, which a hub that
   * restarts faces for every one of its peers at once; a dialer that gives up early leaves a dead
   * connection in that queue, which the hub accepts for nothing, and dials again at its tail.
   */
  readonly dialTimeoutMs?: number;
  /** Time a queued `send` waits for a connection before rejecting with PeerUnreachableError (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Malformed frames tolerated per connection before it is closed (default 100). */
  readonly maxMalformedFrames?: number;
}

export interface WsTransport extends Transport {
  /** ws://host:port we listen on, if listening. */
  readonly url: string | undefined;
}

/** Close codes we use (RFC 6455 section 7.4.1). */
const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_POLICY_VIOLATION = 1008;

const RESOLVED: Promise<void> = Promise.resolve();

/** Inbound messages handed to the handlers per turn of the event loop (see drainInbound). */
const INBOUND_PER_TURN = 16;
/** Messages waiting for the handlers beyond which a turn hands over the excess too (memory bound). */
const MAX_QUEUED_INBOUND = 1_024;

interface Conn {
  readonly ws: WebSocket;
  readonly dialedByUs: boolean;
  /** Set once the handshake proved it. */
  peer: Address | undefined;
  state: "handshake" | "open" | "closed";
  /** Handshake progress of this side. */
  serverChallenge: Uint8Array | undefined;
  clientChallenge: Uint8Array | undefined;
  /** For dialed connections: the address we meant to reach. */
  readonly expected: Address | undefined;
  malformed: number;
  timer: NodeJS.Timeout | undefined;
  failure: PerunError | undefined;
}

interface Queued {
  readonly frame: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

interface Peer {
  /** Address as registered or proven (checksummed if proven). */
  address: Address;
  url: string | undefined;
  /** The connection we send on. */
  primary: Conn | undefined;
  /** A connection we sent on and replaced: the primary waits until it has closed (ordering). */
  draining: Conn | undefined;
  /** Our outbound connection while its handshake runs. */
  dialing: Conn | undefined;
  readonly queue: Queued[];
  timer: NodeJS.Timeout | undefined;
}

/**
 * Creates a WebSocket transport for `signer`'s address, listening if `listen` is given.
 *
 * @example
 * const alice = await createWsTransport({ signer: aliceSigner, listen: { host: "127.0.0.1", port: 0 } });
 * const bob = await createWsTransport({ signer: bobSigner });
 * bob.addPeer(alice.address, alice.url!);
 * alice.onMessage(({ from, msg }) => console.log(from, msg.type));
 * await bob.send(alice.address, { type: "error", reason: "hello" });
 */
export async function createWsTransport(options: WsTransportOptions): Promise<WsTransport> {
  const { signer } = options;
  const log: Logger = options.log ?? defaultLog;
  const maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5_000;
  const dialTimeoutMs = options.dialTimeoutMs ?? 30_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const maxMalformed = options.maxMalformedFrames ?? 100;
  const self = signer.address;
  const selfKey = self.toLowerCase();

  const peers = new Map<string, Peer>();
  const conns = new Set<Conn>();
  const messageHandlers: ((inbound: Inbound) => void)[] = [];
  const inboundQueue: Inbound[] = [];
  let draining = false;
  const connectedHandlers: ((peer: Address) => void)[] = [];
  let closed = false;

  let server: WebSocketServer | undefined;
  let url: string | undefined;
  if (options.listen) {
    const wss = new WebSocketServer({
      host: options.listen.host,
      port: options.listen.port,
      maxPayload: maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    wss.on("error", (e) => log("error", "wire: server error", { error: String(e) }));
    wss.on("connection", (ws) => accept(ws));
    const addr = wss.address();
    if (typeof addr === "string" || addr === null)
      throw new InvalidArgumentError("listen", "a TCP address", addr);
    url = `ws://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;
    server = wss;
  }

  function peerOf(address: Address): Peer {
    const key = address.toLowerCase();
    let p = peers.get(key);
    if (p === undefined) {
      p = {
        address,
        url: undefined,
        primary: undefined,
        draining: undefined,
        dialing: undefined,
        queue: [],
        timer: undefined,
      };
      peers.set(key, p);
    }
    return p;
  }

  // --- connections -------------------------------------------------------------------------------

  function track(ws: WebSocket, dialedByUs: boolean, expected: Address | undefined): Conn {
    const conn: Conn = {
      ws,
      dialedByUs,
      peer: undefined,
      state: "handshake",
      serverChallenge: undefined,
      clientChallenge: undefined,
      expected,
      malformed: 0,
      timer: undefined,
      failure: undefined,
    };
    conns.add(conn);
    const ms = dialedByUs ? dialTimeoutMs : handshakeTimeoutMs;
    conn.timer = setTimeout(() => {
      fail(conn, new HandshakeError(`no handshake within ${ms} ms`), CLOSE_POLICY_VIOLATION);
    }, ms);
    ws.on("message", (data, isBinary) => onFrame(conn, data, isBinary));
    ws.on("error", (e) => {
      const code = (e as { code?: string }).code;
      if (code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        // ws refused the frame from its header, before buffering it, and closes with 1009.
        log("warn", "wire: frame too big, connection closed (1009)", {
          peer: conn.peer ?? expected,
          max: maxFrameBytes,
        });
      } else {
        log("debug", "wire: socket error", { peer: conn.peer ?? expected, error: e.message, code });
      }
      conn.failure ??= new PeerUnreachableError(expected ?? "peer", e.message, e);
    });
    ws.on("close", (code, reason) => onClose(conn, code, reason.toString()));
    return conn;
  }

  function accept(ws: WebSocket): void {
    if (closed) {
      ws.terminate();
      return;
    }
    const conn = track(ws, false, undefined);
    conn.serverChallenge = randomBytes(CHALLENGE_BYTES);
    ws.send(helloFrame(conn.serverChallenge));
  }

  function dial(p: Peer): void {
    const target = p.url;
    if (target === undefined) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(target, {
        maxPayload: maxFrameBytes,
        perMessageDeflate: false,
        handshakeTimeout: dialTimeoutMs,
      });
    } catch (e) {
      rejectQueue(p, new PeerUnreachableError(p.address, `invalid URL ${target}`, e));
      return;
    }
    p.dialing = track(ws, true, p.address);
  }

  function fail(conn: Conn, error: PerunError, code: number): void {
    if (conn.state === "closed") return;
    conn.failure = error;
    log("warn", `wire: ${error.message.split("\n")[0]}`, {
      peer: conn.peer ?? conn.expected,
      code: error.code,
      ...error.details,
    });
    closeConn(conn, code, error.code);
  }

  function closeConn(conn: Conn, code: number, reason: string): void {
    const ws = conn.ws;
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
  }

  function onFrame(conn: Conn, data: RawData, isBinary: boolean): void {
    if (conn.state === "open") {
      deliver(conn, data, isBinary);
      return;
    }
    if (conn.state !== "handshake") return;
    try {
      if (!isBinary || !(data instanceof Uint8Array)) throw new HandshakeError("expected a binary frame");
      handshakeStep(conn, data);
    } catch (e) {
      const error = e instanceof PerunError ? e : new HandshakeError("unexpected failure", {}, e);
      fail(conn, error, CLOSE_PROTOCOL_ERROR);
    }
  }

  function handshakeStep(conn: Conn, frame: Uint8Array): void {
    if (conn.dialedByUs) {
      const expected = conn.expected as Address;
      if (conn.serverChallenge === undefined) {
        conn.serverChallenge = parseHello(frame);
        conn.clientChallenge = randomBytes(CHALLENGE_BYTES);
        conn.ws.send(clientAuthFrame(signer, expected, conn.serverChallenge, conn.clientChallenge));
      } else {
        const server = verifyServerAuth(
          frame,
          expected,
          self,
          conn.serverChallenge,
          conn.clientChallenge as Uint8Array,
        );
        opened(conn, server);
      }
    } else {
      const proof = verifyClientAuth(frame, self, conn.serverChallenge as Uint8Array);
      conn.ws.send(
        serverAuthFrame(signer, proof.client, conn.serverChallenge as Uint8Array, proof.clientChallenge),
      );
      opened(conn, proof.client);
    }
  }

  /** The handshake proved `peer` on `conn`: choose the connection to send on, flush waiting messages. */
  function opened(conn: Conn, peer: Address): void {
    clearTimeout(conn.timer);
    conn.state = "open";
    conn.peer = peer;
    conn.serverChallenge = undefined;
    conn.clientChallenge = undefined;
    const p = peerOf(peer);
    p.address = peer;
    if (p.dialing === conn) p.dialing = undefined;
    const current = p.primary;
    log("debug", "wire: connected", { peer, dialedByUs: conn.dialedByUs });
    if (current === undefined) {
      p.primary = conn;
      flush(p);
      for (const h of connectedHandlers) call(h, peer);
      return;
    }
    // Two live connections to one peer: both ends keep the same one (dialed by the lower address;
    // between two dialed by the same side, the newer, as the older is likely half-dead).
    const keepNew = dialer(conn) !== dialer(current) ? dialer(conn) < dialer(current) : true;
    log("debug", "wire: duplicate connection", { peer, keep: keepNew ? "new" : "current" });
    if (keepNew) {
      p.primary = conn;
      p.draining = current;
      closeConn(current, CLOSE_NORMAL, "duplicate connection");
    } else {
      closeConn(conn, CLOSE_NORMAL, "duplicate connection");
    }
  }

  function dialer(conn: Conn): string {
    return conn.dialedByUs ? selfKey : (conn.peer as Address).toLowerCase();
  }

  function onClose(conn: Conn, code: number, reason: string): void {
    const wasOpen = conn.state === "open";
    conn.state = "closed";
    clearTimeout(conn.timer);
    conns.delete(conn);
    const key = (conn.peer ?? conn.expected)?.toLowerCase();
    const p = key === undefined ? undefined : peers.get(key);
    if (code === 1009)
      log("warn", "wire: connection closed: frame too big", { peer: conn.peer ?? conn.expected });
    else log("debug", "wire: connection closed", { peer: conn.peer ?? conn.expected, code, reason, wasOpen });
    if (p === undefined) return;
    if (p.dialing === conn) p.dialing = undefined;
    if (p.draining === conn) p.draining = undefined;
    if (p.primary === conn) p.primary = undefined;
    if (p.queue.length === 0) return;
    if (usable(p) !== undefined) {
      flush(p);
    } else if (p.dialing === undefined && !closed) {
      if (conn.dialedByUs && !wasOpen) {
        // Our dial failed: tell the waiting senders now rather than after the timeout.
        rejectQueue(
          p,
          new PeerUnreachableError(
            p.address,
            conn.failure?.message.split("\n")[0] ?? `the peer closed the connection (${code} ${reason})`,
            conn.failure,
          ),
        );
      } else {
        dial(p);
      }
    }
  }

  function deliver(conn: Conn, data: RawData, isBinary: boolean): void {
    let msg: WireMsg;
    try {
      if (!isBinary || !(data instanceof Uint8Array)) {
        throw new MalformedMessageError("frame", "a binary frame", isBinary ? "fragments" : "a text frame");
      }
      msg = decodeMsg(data, maxFrameBytes);
    } catch (e) {
      conn.malformed++;
      const error = e as PerunError;
      log("warn", "wire: dropped malformed message", {
        peer: conn.peer,
        code: error.code,
        field: (error as MalformedMessageError).field,
        reason: error.message.split("\n")[0],
        count: conn.malformed,
      });
      if (conn.malformed >= maxMalformed) {
        fail(
          conn,
          new MalformedMessageError(
            "connection",
            `fewer than ${maxMalformed} malformed frames`,
            conn.malformed,
          ),
          CLOSE_POLICY_VIOLATION,
        );
      }
      return;
    }
    inboundQueue.push({ from: conn.peer as Address, msg });
    if (!draining) {
      draining = true;
      setImmediate(drainInbound);
    }
  }

  /**
   * Messages are handed to the handlers a batch per turn of the event loop, not as their frames are
   * read: between two batches the loop polls again, so a saturated node still accepts connections and
   * completes handshakes (a hub restarted under load was starved by the peers already back: its
   * accept queue stayed full while it served them). Order is kept (one queue).
   */
  function drainInbound(): void {
    // A peer flooding us must not grow the queue without bound: past the cap, a turn takes all the excess.
    const batch = inboundQueue.splice(
      0,
      Math.max(INBOUND_PER_TURN, inboundQueue.length - MAX_QUEUED_INBOUND),
    );
    for (const inbound of batch) for (const h of messageHandlers) call(h, inbound);
    if (inboundQueue.length > 0) setImmediate(drainInbound);
    else draining = false;
  }

  function call<T>(handler: (x: T) => void, x: T): void {
    try {
      handler(x);
    } catch (e) {
      log("error", "wire: handler threw", { error: e instanceof Error ? e.message : String(e) });
    }
  }

  // --- sending -----------------------------------------------------------------------------------

  /**
   * The primary connection if it can still carry frames. Once the peer started closing it (its close
   * frame arrived, readyState CLOSING) anything sent would be lost: forget it so the next send redials.
   */
  function usable(p: Peer): Conn | undefined {
    const conn = p.primary;
    if (conn !== undefined && conn.ws.readyState !== WebSocket.OPEN) p.primary = undefined;
    return p.primary;
  }

  function flush(p: Peer): void {
    const conn = usable(p);
    if (conn === undefined || p.draining !== undefined) return;
    clearTimeout(p.timer);
    p.timer = undefined;
    const queue = p.queue.splice(0);
    for (const q of queue) {
      conn.ws.send(q.frame);
      q.resolve();
    }
  }

  function rejectQueue(p: Peer, error: unknown): void {
    clearTimeout(p.timer);
    p.timer = undefined;
    for (const q of p.queue.splice(0)) q.reject(error);
  }

  function send(peer: Address, msg: WireMsg): Promise<void> {
    if (closed) return Promise.reject(new TransportClosedError());
    if (!isHex(peer, 20)) return Promise.reject(new InvalidArgumentError("peer", "a 20-byte address", peer));
    let frame: Uint8Array;
    try {
      frame = encodeMsg(msg, maxFrameBytes);
    } catch (e) {
      return Promise.reject(e);
    }
    const p = peers.get(peer.toLowerCase());
    const conn = p === undefined ? undefined : usable(p);
    if (conn !== undefined && p?.draining === undefined && p?.queue.length === 0) {
      // Hot path: no promise bookkeeping; ws reports write errors by closing the connection.
      conn.ws.send(frame);
      return RESOLVED;
    }
    if (p === undefined || (p.url === undefined && p.primary === undefined && p.dialing === undefined)) {
      return Promise.reject(new UnknownPeerError(peer));
    }
    return new Promise<void>((resolve, reject) => {
      p.queue.push({ frame, resolve, reject });
      p.timer ??= setTimeout(() => {
        rejectQueue(p, new PeerUnreachableError(p.address, `no connection within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      if (usable(p) === undefined && p.dialing === undefined) dial(p);
    });
  }

  return {
    address: self,
    url,
    send,
    addPeer(peer: Address, peerUrl: string): void {
      if (!isHex(peer, 20)) throw new InvalidArgumentError("peer", "a 20-byte address", peer);
      if (!/^wss?:\/\//.test(peerUrl))
        throw new InvalidArgumentError("url", "a ws:// or wss:// URL", peerUrl);
      peerOf(peer).url = peerUrl;
    },
    onMessage(handler) {
      messageHandlers.push(handler);
    },
    onPeerConnected(handler) {
      connectedHandlers.push(handler);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const p of peers.values()) rejectQueue(p, new TransportClosedError());
      const closing = [...conns].map(
        (conn) =>
          new Promise<void>((resolve) => {
            if (conn.state === "closed") return resolve();
            conn.ws.once("close", () => resolve());
            // A peer that does not answer the close handshake promptly is cut off.
            const t = setTimeout(() => conn.ws.terminate(), 1_000);
            conn.ws.once("close", () => clearTimeout(t));
            closeConn(conn, CLOSE_GOING_AWAY, "transport closed");
          }),
      );
      await Promise.all(closing);
      if (server !== undefined) {
        const s = server;
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },
  };
}
