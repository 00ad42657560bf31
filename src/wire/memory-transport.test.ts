import { describe, expect, it } from "vitest";
import type { PerunError } from "../errors.js";
import { signers, updateMsg } from "./fixtures.testutil.js";
import { createMemoryNetwork } from "./memory-transport.js";
import type { UpdateMsg } from "./messages.js";
import { collect, connected, transportSuite } from "./transport.suite.js";

transportSuite("memory", async () => {
  const { alice, bob, carol } = signers();
  const net = createMemoryNetwork();
  const a = net.transport(alice);
  const b = net.transport(bob);
  const c = net.transport(carol);
  return {
    a,
    b,
    c,
    cleanup: async () => {
      await Promise.all([a.close(), b.close(), c.close()]);
    },
  };
});

describe("memory transport", () => {
  it("validates like the socket: a malformed message is dropped and logged", async () => {
    const { alice, bob } = signers();
    const logs: string[] = [];
    const net = createMemoryNetwork({ log: (_l, msg, d) => logs.push(`${msg} ${String(d?.reason)}`) });
    const a = net.transport(alice);
    const b = net.transport(bob);
    const got = collect(b, 1);
    const bad = { ...updateMsg(1n), sig: "0x1234" } as UpdateMsg;
    await a.send(b.address, bad);
    await a.send(b.address, updateMsg(2n));
    const [m] = await got;
    expect(m?.msg.type === "update" && m.msg.state.version).toBe(2n);
    expect(logs.join("\n")).toMatch(/update\.sig/);
  });

  it("disconnect rejects sends and loses messages in flight; reconnect fires onPeerConnected", async () => {
    const { alice, bob } = signers();
    const net = createMemoryNetwork();
    const a = net.transport(alice);
    const b = net.transport(bob);
    const first = connected(b);
    const got: bigint[] = [];
    b.onMessage(({ msg }) => {
      if (msg.type === "update") got.push(msg.state.version);
    });
    await a.send(b.address, updateMsg(1n));
    expect(await first).toBe(a.address);
    const inFlight = a.send(b.address, updateMsg(2n)); // still in flight when the link drops
    net.disconnect(b.address);
    await inFlight;
    const e = await a.send(b.address, updateMsg(3n)).catch((x: unknown) => x);
    expect((e as PerunError).code).toBe("PEER_UNREACHABLE");
    const again = [connected(a), connected(b)];
    net.reconnect(b.address);
    expect(await Promise.all(again)).toEqual([b.address, a.address]);
    const next = collect(b, 1);
    await a.send(b.address, updateMsg(4n));
    await next;
    expect(got).toEqual([1n, 4n]);
  });
});
