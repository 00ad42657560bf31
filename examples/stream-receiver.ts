/**
 * Alice's side of the metered stream (examples/metered-stream.ts): asks Bob's stream server for chunks
 * and pays for each chunk received with one payment over the virtual channel, in order, one at a time
 * (a channel signs one update after the other). She pays after receipt, so she never pays for a chunk
 * she did not get; Bob's credit window is what lets the next chunks flow while a payment is on its way.
 */
import { connect } from "node:net";
import { privateKeyToAccount } from "viem/accounts";
import { type Hex, type PerunClient, PerunError } from "../src/index.js";
import {
  type EndBody,
  encodeFrame,
  type Frame,
  FrameReader,
  FrameType,
  type HelloBody,
  helloMessage,
} from "./stream-frames.js";

export interface ReceiveOptions {
  /** Alice's Perun client, an end of `channelID`. */
  readonly client: PerunClient;
  /** The key of Alice's end of the channel: it signs the hello, so only she can draw on her payments. */
  readonly privateKey: Hex;
  readonly channelID: Hex;
  readonly host: string;
  readonly port: number;
  /** Chunks to ask for. */
  readonly chunks: number;
  /** The chunk size the server announced: any other size is refused. */
  readonly chunkSize: number;
  /** Wei per chunk. */
  readonly price: bigint;
  /** Pay for chunks 1..stopPayingAfter only (to see the server stop). */
  readonly stopPayingAfter: number;
  /** Hang up after this long (ms). */
  readonly durationMs?: number;
}

/** The stream as Alice saw it. Times are `performance.now()` milliseconds. */
export interface ReceivedStream {
  readonly received: number;
  readonly bytes: number;
  /** Payments made (each co-signed by Bob: `pay` resolved). */
  readonly payments: number;
  readonly paidWei: bigint;
  /** Why the stream ended: the server's reason, or "duration" if Alice hung up. */
  readonly reason: EndBody["reason"] | "duration";
  /** The server's end frame, if one came. */
  readonly end: EndBody | undefined;
  readonly startedAt: number;
  readonly firstChunkAt: number | undefined;
  readonly lastChunkAt: number | undefined;
  readonly lastPaymentAt: number | undefined;
  readonly endedAt: number;
}

/** The server broke the protocol (a chunk out of order or of the wrong size, a broken frame). */
export class StreamProtocolError extends PerunError {
  constructor(problem: string) {
    super("STREAM_PROTOCOL", `The stream server broke the protocol: ${problem}.`, {
      hint: "Check that the host and port are a metered stream server (examples/stream-server.ts).",
    });
  }
}

/**
 * Receives one stream and pays per chunk; resolves once the stream ended and every payment it started
 * was co-signed. A failed payment rejects (after the stream ended): the channel is in an unknown state.
 *
 * @example
 * const got = await receiveStream({ client: alice, privateKey, channelID: v, host, port,
 *   chunks: 200, chunkSize: 16_384, price: 10n ** 12n, stopPayingAfter: 200 });
 */
export async function receiveStream(o: ReceiveOptions): Promise<ReceivedStream> {
  const account = privateKeyToAccount(o.privateKey);
  const reader = new FrameReader(Math.max(o.chunkSize, 65_536));
  const startedAt = performance.now();
  let received = 0;
  let bytes = 0;
  let payments = 0;
  let paidWei = 0n;
  let firstChunkAt: number | undefined;
  let lastChunkAt: number | undefined;
  let lastPaymentAt: number | undefined;
  let end: EndBody | undefined;
  let hungUpOnTime = false;
  let payError: unknown;
  // Payments over one channel are sequential updates: each waits for the one before it.
  let paying: Promise<void> = Promise.resolve();
  const payFor = (): void => {
    paying = paying.then(async () => {
      if (payError !== undefined) return;
      try {
        await o.client.pay(o.channelID, o.price);
        payments += 1;
        paidWei += o.price;
        lastPaymentAt = performance.now();
      } catch (err) {
        payError = err;
      }
    });
  };

  const socket = connect({ host: o.host, port: o.port, noDelay: true });
  const timer =
    o.durationMs === undefined
      ? undefined
      : setTimeout(() => {
          hungUpOnTime = true;
          socket.end();
        }, o.durationMs);

  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.on("error", fail);
    socket.on("close", () => resolve());
    socket.on("data", (data: Buffer) => {
      let frames: ReturnType<FrameReader["push"]>;
      try {
        frames = reader.push(data);
      } catch (err) {
        return fail(err as Error); // a FrameError: the bytes are no stream of ours
      }
      try {
        // After a failure the socket is gone: the frames still in hand are dropped.
        for (const f of frames) if (!socket.destroyed) onFrame(f);
      } catch (err) {
        fail(err as Error);
      }
    });
    const onFrame = (f: Frame): void => {
      if (f.type === FrameType.challenge) {
        const nonce = jsonBody(f.body, "challenge").nonce;
        if (typeof nonce !== "string" || !/^[0-9a-f]{64}$/.test(nonce)) {
          throw new StreamProtocolError("the challenge carries no 32-byte hex nonce");
        }
        void account
          .signMessage({ message: helloMessage(o.channelID, o.chunks, nonce) })
          .then((signature) => {
            const hello: HelloBody = { channelID: o.channelID, chunks: o.chunks, signature };
            for (const b of encodeFrame(FrameType.hello, 0, Buffer.from(JSON.stringify(hello)))) {
              socket.write(b);
            }
          }, fail);
      } else if (f.type === FrameType.chunk) {
        if (f.seq !== received + 1 || f.body.length !== o.chunkSize) {
          throw new StreamProtocolError(
            `chunk ${f.seq} of ${f.body.length} bytes, expected chunk ${received + 1} of ${o.chunkSize}`,
          );
        }
        received += 1;
        bytes += f.body.length;
        const now = performance.now();
        firstChunkAt ??= now;
        lastChunkAt = now;
        if (received <= o.stopPayingAfter) payFor();
      } else if (f.type === FrameType.end) {
        // Only read for the report: what Bob says he was paid is never what anyone acts on.
        end = jsonBody(f.body, "end") as unknown as EndBody;
      }
    };
  }).finally(() => clearTimeout(timer));

  await paying;
  if (payError !== undefined) throw payError;
  return {
    received,
    bytes,
    payments,
    paidWei,
    reason: hungUpOnTime && end === undefined ? "duration" : (end?.reason ?? "server-closed"),
    end,
    startedAt,
    firstChunkAt,
    lastChunkAt,
    lastPaymentAt,
    endedAt: performance.now(),
  };
}

function jsonBody(body: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    throw new StreamProtocolError(`the ${what} frame is not JSON`);
  }
  if (typeof v !== "object" || v === null)
    throw new StreamProtocolError(`the ${what} frame is not a JSON object`);
  return v as Record<string, unknown>;
}
