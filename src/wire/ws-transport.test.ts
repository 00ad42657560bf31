import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { Signer } from "../channel/signer.js";
import type { Address } from "../channel/types.js";
import type { PerunError } from "../errors.js";
import { encodeMsg } from "./codec.js";
import { signers, updateMsg } from "./fixtures.testutil.js";
import { CHALLENGE_BYTES, clientAuthFrame, parseHello, verifyServerAuth } from "./handshake.js";
import type { LogLevel } from "./log.js";
import { collect, connected, transportSuite } from "./transport.suite.js";
import type { WsTransport, WsTransportOptions } from "./ws-transport.js";
import { createWsTransport } from "./ws-transport.js";

interface LogLine {
  level: LogLevel;
  msg: string;
  details: Record<string, unknown>;
}

const LISTEN = { host: "127.0.0.1", port: 0 } as const;

async function node(
  signer: Signer,
  logs: LogLine[] = [],
  extra: Partial<WsTransportOptions> = {},
): Promise<WsTransport> {
  return createWsTransport({
    signer,
    listen: LISTEN,
    log: (level, msg, details) => logs.push({ level, msg, details: details ?? {} }),
    ...extra,
  });
}

transportSuite("websocket", async () => {
  const { alice, bob, carol } = signers();
  const [a, b, c] = await Promise.all([node(alice), node(bob), node(carol)]);
  for (const x of [a, b, c]) for (const y of [a, b, c]) if (x !== y) x.addPeer(y.address, y.url as string);
  return {
    a,
    b,
    c,
    cleanup: async () => {
      await Promise.all([a.close(), b.close(), c.close()]);
    },
  };
});

/** A hand-driven client speaking raw frames to a transport: the attacker's view of the wire. */
class RawClient {
  readonly ws: WebSocket;
  private readonly frames: Buffer[] = [];
  private waiting: ((f: Buffer) => void) | undefined;
  readonly closed: Promise<number>;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data: Buffer) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w(data);
      else this.frames.push(data);
    });
    ws.on("error", () => {});
    this.closed = new Promise((resolve) => ws.on("close", (code) => resolve(code)));
  }

  static async connect(url: string): Promise<RawClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const client = new RawClient(ws);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return client;
  }

  next(): Promise<Buffer> {
    const f = this.frames.shift();
    if (f !== undefined) return Promise.resolve(f);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  send(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** Runs the honest client side of the handshake as `signer` towards `server`. */
  async handshake(signer: Signer, server: Address): Promise<void> {
    const sC = parseHello(await this.next());
    const cC = randomBytes(CHALLENGE_BYTES);
    this.send(clientAuthFrame(signer, server, sC, cC));
    verifyServerAuth(await this.next(), server, signer.address, sC, cC);
  }
}

describe("websocket transport", () => {
  const { alice, bob, carol, mallory } = signers();
  const open: WsTransport[] = [];
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await Promise.all(open.splice(0).map((t) => t.close()));
  });
  async function start(signer: Signer, logs: LogLine[] = [], extra: Partial<WsTransportOptions> = {}) {
    const t = await node(signer, logs, extra);
    open.push(t);
    return t;
  }
  async function raw(t: WsTransport): Promise<RawClient> {
    const c = await RawClient.connect(t.url as string);
    clients.push(c);
    return c;
  }
  const warned = (logs: LogLine[], code: string) =>
    logs.some((l) => l.level === "warn" && l.details.code === code);

  it("closes a connection that sends garbage instead of the handshake", async () => {
    const logs: LogLine[] = [];
    const b = await start(bob, logs);
    const c = await raw(b);
    await c.next(); // HELLO
    c.send(Uint8Array.from([1, 2, 3]));
    expect(await c.closed).toBe(1002);
    expect(warned(logs, "HANDSHAKE_FAILED")).toBe(true);
  });

  it("rejects a handshake with a bad signature", async () => {
    const logs: LogLine[] = [];
    const b = await start(bob, logs);
    const c = await raw(b);
    const sC = parseHello(await c.next());
    const auth = clientAuthFrame(alice, b.address, sC, randomBytes(32));
    auth[50] = (auth[50] as number) ^ 0xff; // flip a byte of the signed client challenge
    c.send(auth);
    expect(await c.closed).toBe(1002);
    expect(logs.find((l) => l.details.code === "HANDSHAKE_FAILED")?.msg).toMatch(
      /not from the address it claims/,
    );
  });

  it("rejects a client signing with key X but claiming address Y", async () => {
    const logs: LogLine[] = [];
    const b = await start(bob, logs);
    const c = await raw(b);
    const sC = parseHello(await c.next());
    const auth = clientAuthFrame(mallory, b.address, sC, randomBytes(32));
    auth.set(Buffer.from(alice.address.slice(2), "hex"), 1);
    c.send(auth);
    expect(await c.closed).toBe(1002);
    const line = logs.find((l) => l.details.code === "HANDSHAKE_FAILED");
    expect(line?.details.claimed).toBe(alice.address);
    // The digest binds the claimed address, so mallory's signature recovers to some unrelated key.
    expect(line?.details.recovered).not.toBe(alice.address);
  });

  it("closes a connection that does not complete the handshake in time", async () => {
    const logs: LogLine[] = [];
    const b = await start(bob, logs, { handshakeTimeoutMs: 100 });
    const c = await raw(b);
    expect(await c.closed).toBe(1008);
    expect(logs.some((l) => /no handshake within/.test(l.msg))).toBe(true);
  });

  it("drops and logs a malformed frame after the handshake and keeps the connection", async () => {
    const logs: LogLine[] = [];
    const b = await start(bob, logs);
    const c = await raw(b);
    await c.handshake(mallory, b.address);
    const got = collect(b, 1);
    c.send(Uint8Array.from([1, ...Buffer.from('{"type":"update"}')]));
    c.send("a text frame");
    c.send(encodeMsg(updateMsg(5n)));
    const [m] = await got;
    expect(m?.from).toBe(mallory.address);
    const drops = logs.filter((l) => l.msg === "wire: dropped malformed message");
    expect(drops).toHaveLength(2);
    expect(drops[0]?.details.peer).toBe(mallory.address);
    expect(drops[0]?.details.field).toBe("update");
    expect(drops[1]?.details.reason).toMatch(/binary frame/);
  });

  it("disconnects a peer flooding malformed frames", async () => {
    const logs: LogLine[] = [];
    const b = await start(bob, logs, { maxMalformedFrames: 100 });
    const c = await raw(b);
    await c.handshake(mallory, b.address);
    for (let i = 0; i < 100; i++) c.send(Uint8Array.from([9]));
    expect(await c.closed).toBe(1008);
    expect(logs.filter((l) => l.msg === "wire: dropped malformed message")).toHaveLength(100);
  });

  it("a burst of 5,000 valid messages from one peer arrives whole and in order", async () => {
    const b = await start(bob, []);
    const c = await raw(b);
    await c.handshake(mallory, b.address);
    const got = collect(b, 5_000);
    // One synchronous burst: more than the queue holds before a turn takes the excess too.
    for (let i = 0; i < 5_000; i++) c.send(encodeMsg(updateMsg(BigInt(i + 1))));
    const msgs = await got;
    expect(msgs.map((m) => (m.msg as { state: { version: bigint } }).state.version)).toEqual(
      Array.from({ length: 5_000 }, (_, i) => BigInt(i + 1)),
    );
  });

  it("closes on an oversized frame (1009) and keeps serving others", async () => {
    const logs: LogLine[] = [];
    const b = await start(bob, logs, { maxFrameBytes: 4096 });
    const a = await start(alice, [], { maxFrameBytes: 4096 });
    a.addPeer(b.address, b.url as string);
    const c = await raw(b);
    await c.handshake(mallory, b.address);
    c.send(new Uint8Array(4097));
    expect(await c.closed).toBe(1009);
    expect(logs.some((l) => /frame too big/.test(l.msg))).toBe(true);
    const got = collect(b, 1);
    await a.send(b.address, updateMsg(1n));
    expect((await got)[0]?.from).toBe(a.address);
    const e = await a.send(b.address, updateMsg(2n, `0x${"00".repeat(4096)}`)).catch((x: unknown) => x);
    expect((e as PerunError).code).toBe("OVERSIZED_MESSAGE");
  });

  it("reports the proven address, not the sender the body claims", async () => {
    const b = await start(bob);
    const c = await raw(b);
    await c.handshake(mallory, b.address);
    const got = collect(b, 1);
    c.send(encodeMsg({ ...updateMsg(1n), from: 0 })); // index 0 is alice in the test channel
    const [m] = await got;
    expect(m?.from).toBe(mallory.address);
    expect(m?.msg.type === "update" && m.msg.from).toBe(0);
  });

  it("rejects the send when the dialed server is not the expected peer", async () => {
    const carolLogs: LogLine[] = [];
    const a = await start(alice);
    const c = await start(carol, carolLogs);
    a.addPeer(bob.address, c.url as string); // bob's address, carol's server
    const e = await a.send(bob.address, updateMsg(1n)).catch((x: unknown) => x);
    expect((e as PerunError).code).toBe("PEER_UNREACHABLE");
    expect((e as PerunError).message).toMatch(/HANDSHAKE_FAILED/);
    // Carol sees alice's proof is bound to bob and refuses it (so she could not replay it to bob).
    expect(carolLogs.find((l) => l.details.code === "HANDSHAKE_FAILED")?.msg).toMatch(/another server/);
  });

  it("rejects the send when nobody listens at the URL", async () => {
    const a = await start(alice);
    const b = await start(bob);
    const url = b.url as string;
    await b.close();
    a.addPeer(bob.address, url);
    const e = await a.send(bob.address, updateMsg(1n)).catch((x: unknown) => x);
    expect((e as PerunError).code).toBe("PEER_UNREACHABLE");
  });

  it("redials on the next send after the peer restarted, and reports it connected again", async () => {
    const a = await start(alice);
    const b1 = await start(bob);
    a.addPeer(bob.address, b1.url as string);
    const first = collect(b1, 1);
    await a.send(bob.address, updateMsg(1n));
    await first;
    await b1.close();
    const b2 = await start(bob);
    a.addPeer(bob.address, b2.url as string);
    const again = connected(a);
    const got = collect(b2, 1);
    await a.send(bob.address, updateMsg(2n));
    expect(await again).toBe(bob.address);
    expect((await got)[0]?.from).toBe(alice.address);
  });

  it("rejects sends after close", async () => {
    const a = await start(alice);
    await a.close();
    const e = await a.send(bob.address, updateMsg(1n)).catch((x: unknown) => x);
    expect((e as PerunError).code).toBe("TRANSPORT_CLOSED");
  });
});
