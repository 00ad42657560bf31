/**
 * The side channel of the metered stream (examples/metered-stream.ts): length-prefixed frames over one
 * TCP connection. Nothing here is Perun: money moves only in the virtual channel, and nothing a frame
 * says about payments is believed by the server.
 *
 * A frame is `type (u8) | seq (u32 BE) | length (u32 BE) | body`. The server opens with a `challenge`
 * (a fresh nonce), the receiver answers with a `hello` naming the virtual channel that pays and signed
 * with the key of that channel's end (so nobody can draw on another party's payments), then the server
 * sends `chunk`s numbered from 1 and one `end` saying why it stopped.
 */
import { PerunError } from "../src/index.js";

export const FrameType = { challenge: 0, hello: 1, chunk: 2, end: 3 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export interface Frame {
  readonly type: FrameType;
  readonly seq: number;
  readonly body: Buffer;
}

const HEADER = 9;

/** Why a stream ended, as the server tells the receiver (and reports it itself). */
export type EndReason =
  /** Every chunk asked for was sent. */
  | "complete"
  /** The receiver's payments fell more than the credit window behind, and no payment came in time. */
  | "unpaid"
  /** The receiver hung up. */
  | "receiver-closed"
  /** The hello was refused (see `detail`). */
  | "refused"
  /** The server is shutting down. */
  | "server-closed";

export interface EndBody {
  readonly reason: EndReason;
  readonly served: number;
  /** Chunks paid for when the stream ended, as the server's own client saw the virtual channel. */
  readonly paidChunks: number;
  readonly detail?: string;
}

/** The receiver's hello: which virtual channel pays, how many chunks it wants, signed over the nonce. */
export interface HelloBody {
  readonly channelID: `0x${string}`;
  readonly chunks: number;
  readonly signature: `0x${string}`;
}

/** What the hello's signature covers: the server's nonce binds it to this one connection (no replay). */
export function helloMessage(channelID: string, chunks: number, nonce: string): string {
  return `perun-ts metered stream\nchannel: ${channelID.toLowerCase()}\nchunks: ${chunks}\nnonce: ${nonce}`;
}

export function encodeFrame(type: FrameType, seq: number, body: Buffer = Buffer.alloc(0)): Buffer[] {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(seq, 1);
  header.writeUInt32BE(body.length, 5);
  return [header, body];
}

export function jsonFrame(type: FrameType, body: unknown): Buffer {
  return Buffer.concat(encodeFrame(type, 0, Buffer.from(JSON.stringify(body))));
}

/** The peer broke the framing: an unknown type or a frame longer than we accept. */
export class FrameError extends PerunError {
  constructor(problem: string) {
    super("STREAM_FRAME", `Broken stream frame: ${problem}.`, {
      hint: "Both ends must speak the frames of examples/stream-frames.ts.",
    });
  }
}

/**
 * Cuts a byte stream into frames. `maxBody` bounds what a peer can make us buffer before we look at
 * it: the server reads only a hello (small), the receiver chunks of the size it expects.
 */
export class FrameReader {
  private buffered: Buffer[] = [];
  private length = 0;

  constructor(private readonly maxBody: number) {}

  /** Adds bytes; returns the frames now complete, in order. Throws `FrameError` on a broken frame. */
  push(data: Buffer): Frame[] {
    this.buffered.push(data);
    this.length += data.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.length < HEADER) return frames;
      const head = this.peek(HEADER);
      const type = head.readUInt8(0);
      const size = head.readUInt32BE(5);
      if (type > FrameType.end) throw new FrameError(`unknown frame type ${type}`);
      if (size > this.maxBody)
        throw new FrameError(`frame of ${size} bytes, at most ${this.maxBody} accepted`);
      if (this.length < HEADER + size) return frames;
      const all = this.take(HEADER + size);
      frames.push({ type: type as FrameType, seq: all.readUInt32BE(1), body: all.subarray(HEADER) });
    }
  }

  private peek(n: number): Buffer {
    const first = this.buffered[0] as Buffer;
    if (first.length >= n) return first;
    this.buffered = [Buffer.concat(this.buffered)];
    return this.buffered[0] as Buffer;
  }

  private take(n: number): Buffer {
    const all = this.peek(n);
    this.buffered[0] = all.subarray(n);
    if (this.buffered[0].length === 0) this.buffered.shift();
    this.length -= n;
    return all.subarray(0, n);
  }
}
