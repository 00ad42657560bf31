/**
 * The shared test suite of the Transport port (house style rule 9): every implementation
 * (./ws-transport.ts, ./memory-transport.ts) must pass it. Imported only by *.test.ts files.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Address } from "../channel/types.js";
import { PerunError } from "../errors.js";
import { updateMsg } from "./fixtures.testutil.js";
import type { Inbound } from "./messages.js";
import type { Transport } from "./transport.js";

export interface TransportFixture {
  /** a and b know how to reach each other (and c, if given). */
  readonly a: Transport;
  readonly b: Transport;
  readonly c?: Transport;
  cleanup(): Promise<void>;
}

/** Resolves with the first `n` messages `t` receives. */
export function collect(t: Transport, n: number): Promise<Inbound[]> {
  const got: Inbound[] = [];
  return new Promise((resolve) => {
    t.onMessage((m) => {
      got.push(m);
      if (got.length === n) resolve(got);
    });
  });
}

/** Resolves with the first peer `t` reports connected. */
export function connected(t: Transport): Promise<Address> {
  return new Promise((resolve) => t.onPeerConnected(resolve));
}

const versions = (got: Inbound[]): bigint[] =>
  got.map((m) => (m.msg.type === "update" ? m.msg.state.version : -1n));
const range = (n: number): bigint[] => Array.from({ length: n }, (_, i) => BigInt(i));

export function transportSuite(name: string, factory: () => Promise<TransportFixture>): void {
  describe(`Transport: ${name}`, () => {
    let f: TransportFixture;
    beforeEach(async () => {
      f = await factory();
    });
    afterEach(async () => {
      await f.cleanup();
    });

    it("delivers 1,000 messages in order, from the authenticated address", async () => {
      const { a, b } = f;
      const got = collect(b, 1000);
      await Promise.all(range(1000).map((v) => a.send(b.address, updateMsg(v))));
      const msgs = await got;
      expect(versions(msgs)).toEqual(range(1000));
      for (const m of msgs) expect(m.from).toBe(a.address);
    });

    it("delivers in both directions at once (both dial), in order, without duplicates", async () => {
      const { a, b } = f;
      const all: Inbound[] = [];
      a.onMessage((m) => all.push(m));
      const atB = collect(b, 500);
      const atA = collect(a, 500);
      const sends = range(500).flatMap((v) => [
        a.send(b.address, updateMsg(v)),
        b.send(a.address, updateMsg(v)),
      ]);
      await Promise.all(sends);
      expect(versions(await atB)).toEqual(range(500));
      expect(versions(await atA)).toEqual(range(500));
      // One more message: a duplicate of any earlier one would have arrived before it.
      const marker = collect(a, 1);
      await b.send(a.address, updateMsg(999n));
      await marker;
      expect(all).toHaveLength(501);
      for (const m of all) expect(m.from).toBe(b.address);
    });

    it("reports the peer connected on both sides", async () => {
      const { a, b } = f;
      const atA = connected(a);
      const atB = connected(b);
      const got = collect(b, 1);
      await a.send(b.address, updateMsg(1n));
      expect(await atA).toBe(b.address);
      expect(await atB).toBe(a.address);
      expect((await got)[0]?.from).toBe(a.address);
    });

    it("answers over the connection the peer opened", async () => {
      const { a, b } = f;
      const atA = collect(a, 1);
      b.onMessage(({ from }) => {
        void b.send(from, updateMsg(7n));
      });
      await a.send(b.address, updateMsg(1n));
      const [reply] = await atA;
      expect(reply?.from).toBe(b.address);
      expect(versions([reply as Inbound])).toEqual([7n]);
    });

    it("rejects a send to an unknown peer with a typed error", async () => {
      const stranger: Address = `0x${"42".repeat(20)}`;
      const error = await f.a.send(stranger, updateMsg(1n)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PerunError);
      expect((error as PerunError).code).toMatch(/UNKNOWN_PEER|PEER_UNREACHABLE/);
    });

    it("delivers a large but valid message", async () => {
      const { a, b } = f;
      const appData = `0x${"ab".repeat(400_000)}` as const; // ~800 KB of JSON, below the 1 MiB limit
      const got = collect(b, 1);
      await a.send(b.address, updateMsg(1n, appData));
      const [m] = await got;
      expect(m?.msg.type === "update" && m.msg.state.appData).toBe(appData);
    });

    it("keeps three peers apart", async (ctx) => {
      const { a, b, c } = f;
      if (c === undefined) return ctx.skip();
      const atC = collect(c, 2);
      await a.send(c.address, updateMsg(1n));
      await b.send(c.address, updateMsg(2n));
      const got = await atC;
      const byVersion = new Map(got.map((m) => [versions([m])[0], m.from]));
      expect(byVersion.get(1n)).toBe(a.address);
      expect(byVersion.get(2n)).toBe(b.address);
    });
  });
}
