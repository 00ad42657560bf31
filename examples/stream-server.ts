/**
 * Bob's metered stream server (examples/metered-stream.ts): serves fixed-size chunks over TCP to the
 * other end of a virtual channel, as long as that channel pays for them.
 *
 * The rule: chunk n+1 leaves only if at most `creditChunks` of the chunks sent so far (counting it) are
 * unpaid. "Paid" is what Bob's own client says about the virtual channel: his balance in it, read from
 * the `updated` events of states he co-signed, over the balance it had when the stream started. Nothing
 * the receiver sends on this side channel counts as a payment, so a receiver that stops paying gets at
 * most `creditChunks` chunks more, and Bob's loss is bounded by `creditChunks x price`.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { recoverMessageAddress } from "viem";
import { type ChannelInfo, type Hex, InvalidArgumentError, type PerunClient } from "../src/index.js";
import {
  type EndBody,
  type EndReason,
  encodeFrame,
  FrameReader,
  FrameType,
  type HelloBody,
  helloMessage,
  jsonFrame,
} from "./stream-frames.js";

export interface StreamServerOptions {
  /** The server's Perun client: its view of the virtual channel is the only proof of payment. */
  readonly client: PerunClient;
  readonly chunkSize: number;
  /** Wei per chunk. */
  readonly price: bigint;
  /** How many sent chunks may be unpaid at any time (at least 1: the receiver pays after receipt). */
  readonly creditChunks: number;
  /** How long to wait for a payment while the credit is used up, before ending the stream (ms). */
  readonly stallMs: number;
  /** Chunks one stream may ask for at most. */
  readonly maxChunks?: number;
  readonly host?: string;
  readonly port?: number;
}

/** One stream as the server saw it. Times are `performance.now()` milliseconds. */
export interface ServedStream {
  readonly channelID: Hex | null;
  readonly reason: EndReason;
  readonly detail?: string;
  readonly served: number;
  /** Chunks covered by the payments seen when the stream ended (payments in flight may add more). */
  readonly paidChunks: number;
  /** The most chunks that were sent and not yet paid at any moment, as Bob saw it: at most the credit. */
  readonly maxUnpaid: number;
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface StreamServer {
  readonly host: string;
  readonly port: number;
  /** Called once per connection, when its stream ended (or its hello was refused). */
  onStreamEnd(handler: (s: ServedStream) => void): void;
  /** Ends every stream ("server-closed") and stops listening. */
  close(): Promise<void>;
}

/** Time Bob allows his own side of a just-opened virtual channel to become funded (it locks itself). */
const CHANNEL_READY_MS = 10_000;
const MAX_HELLO = 4_096;

/** A stream running on one connection: what it was granted and what Bob's client saw paid. */
interface Metered {
  readonly channelID: Hex;
  readonly idx: number;
  readonly baseline: bigint;
  balance: bigint;
  /** Wakes the sender when a payment came in (or the stream must stop). */
  wake: (() => void) | undefined;
}

/**
 * Starts the server on `host:port` (default 127.0.0.1, any free port).
 *
 * @example
 * const server = await startStreamServer({ client: bob, chunkSize: 16_384, price: 10n ** 12n,
 *   creditChunks: 2, stallMs: 2_000 });
 * server.onStreamEnd((s) => console.log(s.reason, s.served, s.paidChunks));
 */
export async function startStreamServer(options: StreamServerOptions): Promise<StreamServer> {
  const { client, chunkSize, price, creditChunks, stallMs } = options;
  if (!Number.isSafeInteger(creditChunks) || creditChunks < 1) {
    // The receiver pays after receipt: with no credit, no chunk would ever leave.
    throw new InvalidArgumentError(
      "startStreamServer option creditChunks",
      "an integer of at least 1",
      creditChunks,
    );
  }
  const maxChunks = options.maxChunks ?? 0xffff_ffff;
  // One payload for every chunk: the example meters bytes, it does not produce content.
  const payload = randomBytes(chunkSize);
  const active = new Map<string, Metered>();
  const sockets = new Set<Socket>();
  const handlers: ((s: ServedStream) => void)[] = [];
  let closing = false;

  const unsubscribe = client.onEvent((e) => {
    if (e.type !== "updated") return;
    const m = active.get(e.channelID.toLowerCase());
    if (!m) return;
    const balance = e.balances[0]?.[m.idx];
    // Events of one channel come in version order; a balance only counts once co-signed and stored.
    if (balance !== undefined) m.balance = balance;
    m.wake?.();
  });

  const paidChunks = (m: Metered): number => {
    const gained = m.balance - m.baseline;
    return gained <= 0n ? 0 : Number(gained / price);
  };

  async function serve(socket: Socket): Promise<ServedStream> {
    const startedAt = performance.now();
    let channelID: Hex | null = null;
    let served = 0;
    let maxUnpaid = 0;
    let hungUp = false;
    const ended = (reason: EndReason, m: Metered | undefined, detail?: string): ServedStream => {
      const paid = m ? paidChunks(m) : 0;
      const body: EndBody = { reason, served, paidChunks: paid, ...(detail === undefined ? {} : { detail }) };
      if (!hungUp) socket.end(jsonFrame(FrameType.end, body));
      return {
        channelID,
        reason,
        ...(detail === undefined ? {} : { detail }),
        served,
        paidChunks: paid,
        maxUnpaid,
        startedAt,
        endedAt: performance.now(),
      };
    };
    let wakeOnHangUp: (() => void) | undefined;
    socket.once("close", () => {
      hungUp = true;
      wakeOnHangUp?.();
    });

    const nonce = randomBytes(32).toString("hex");
    socket.write(jsonFrame(FrameType.challenge, { nonce }));
    let hello: HelloBody;
    try {
      hello = await readHello(socket);
    } catch (err) {
      return ended(hungUp ? "receiver-closed" : "refused", undefined, (err as Error).message);
    }
    channelID = hello.channelID;
    const info = await checkHello(hello, nonce);
    if (typeof info === "string") return ended("refused", undefined, info);
    const key = hello.channelID.toLowerCase();
    // Two streams on one channel would both count the same payments.
    if (active.has(key)) return ended("refused", undefined, "a stream on this channel is running already");
    const m: Metered = {
      channelID: hello.channelID,
      idx: info.idx,
      baseline: info.balances?.[0]?.[info.idx] ?? 0n,
      balance: info.balances?.[0]?.[info.idx] ?? 0n,
      wake: undefined,
    };
    active.set(key, m);
    try {
      while (served < hello.chunks) {
        if (hungUp) return ended("receiver-closed", m);
        if (closing) return ended("server-closed", m);
        // Credit used up: wait for Bob's client to see enough paid, the receiver to hang up, or the
        // stall to run out (counted from when the credit ran out: other updates do not extend it).
        const stallEnd = performance.now() + stallMs;
        while (served + 1 - paidChunks(m) > creditChunks && !hungUp && !closing) {
          const left = stallEnd - performance.now();
          if (left <= 0) return ended("unpaid", m);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, left);
            m.wake = wakeOnHangUp = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          m.wake = wakeOnHangUp = undefined;
        }
        if (hungUp || closing) continue;
        served += 1;
        maxUnpaid = Math.max(maxUnpaid, served - paidChunks(m));
        const [header, body] = encodeFrame(FrameType.chunk, served, payload);
        socket.write(header as Buffer);
        if (!socket.write(body as Buffer)) {
          // Backpressure: a slow receiver must not make us buffer the stream in memory.
          await Promise.race([once(socket, "drain"), once(socket, "close")]);
        }
      }
      return ended("complete", m);
    } finally {
      active.delete(key);
    }
  }

  /**
   * Who signed the hello must be the other end of a funded virtual channel of ours: the channel, or
   * why the hello is refused.
   */
  async function checkHello(hello: HelloBody, nonce: string): Promise<ChannelInfo | string> {
    if (hello.chunks > maxChunks) return `at most ${maxChunks} chunks per stream`;
    const deadline = Date.now() + CHANNEL_READY_MS;
    for (;;) {
      const info = client.channels().find((c) => c.channelID.toLowerCase() === hello.channelID.toLowerCase());
      if (info && !info.virtual) return "not a virtual channel: pay per chunk over a virtual channel";
      if (info?.phase === "Acting") {
        const signer = await recoverMessageAddress({
          message: helloMessage(hello.channelID, hello.chunks, nonce),
          signature: hello.signature,
        }).catch(() => undefined);
        if (signer?.toLowerCase() !== info.peer.toLowerCase()) {
          return "the hello is not signed by the other end of the channel";
        }
        return info;
      }
      if (Date.now() > deadline) return "no funded virtual channel with that id";
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("error", () => socket.destroy());
    void serve(socket).then((s) => {
      sockets.delete(socket);
      for (const h of handlers) h(s);
    });
  });
  const host = options.host ?? "127.0.0.1";
  server.listen(options.port ?? 0, host);
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the stream server has no TCP port");

  return {
    host,
    port: address.port,
    onStreamEnd(handler) {
      handlers.push(handler);
    },
    async close() {
      closing = true;
      unsubscribe();
      for (const m of active.values()) m.wake?.();
      const stopped = once(server, "close");
      server.close();
      // Streams get a moment to send their end frame; then whatever is left is cut.
      await new Promise((r) => setTimeout(r, 50));
      for (const s of sockets) s.destroy();
      await stopped;
    },
  };
}

/** Reads the first frame, which must be a well-formed hello; throws with what was wrong. */
async function readHello(socket: Socket): Promise<HelloBody> {
  const reader = new FrameReader(MAX_HELLO);
  return new Promise<HelloBody>((resolve, reject) => {
    const onData = (data: Buffer) => {
      let frames: ReturnType<FrameReader["push"]>;
      try {
        frames = reader.push(data);
      } catch (err) {
        return done(err as Error);
      }
      const first = frames[0];
      if (first === undefined) return;
      if (first.type !== FrameType.hello)
        return done(new Error(`expected a hello frame, got type ${first.type}`));
      try {
        done(undefined, parseHello(JSON.parse(first.body.toString("utf8"))));
      } catch (err) {
        done(err as Error);
      }
    };
    const onClose = () => done(new Error("the receiver hung up before its hello"));
    const timer = setTimeout(() => done(new Error("no hello within 10 s")), 10_000);
    const done = (err: Error | undefined, hello?: HelloBody) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      // The receiver sends nothing after its hello; whatever else arrives is read and dropped.
      socket.on("data", () => {});
      if (err) reject(err);
      else resolve(hello as HelloBody);
    };
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

/** The hello comes from the network: every field is checked before it is used. */
function parseHello(value: unknown): HelloBody {
  const v = value as Partial<Record<keyof HelloBody, unknown>> | null;
  if (typeof v !== "object" || v === null) throw new Error("hello: expected a JSON object");
  if (typeof v.channelID !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(v.channelID)) {
    throw new Error("hello.channelID: expected a 32-byte 0x hex channel id");
  }
  if (typeof v.chunks !== "number" || !Number.isSafeInteger(v.chunks) || v.chunks < 1) {
    throw new Error("hello.chunks: expected a positive integer");
  }
  if (typeof v.signature !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(v.signature)) {
    throw new Error("hello.signature: expected a 65-byte 0x hex signature");
  }
  return { channelID: v.channelID as Hex, chunks: v.chunks, signature: v.signature as Hex };
}
