/**
 * Liveness after faults (in process, real EVM, real WebSockets): an update that could not be delivered
 * or was not answered is delivered again, with back-off, as soon as the peer is reachable, also when
 * the peer cannot dial us (it restarted and never knew our address, as a hub behind which clients
 * sit). Meanwhile a new update on that channel fails fast with PEER_OFFLINE, never CHANNEL_BUSY.
 */
import { parseEther } from "viem";
import { beforeAll, describe, expect, it } from "vitest";
import { devKey } from "../../src/chain/embedded.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import { createMemoryStore } from "../../src/store/memory-store.js";
import { createWsTransport, type WsTransport } from "../../src/wire/index.js";
import { type Party, until, type World, world } from "./harness.js";

const ONE = parseEther("1");
let w: World;
beforeAll(async () => {
  w = await world();
});

async function wsParty(name: string, index: number, port: number, store = createMemoryStore()) {
  const signer = privateKeyToSigner(devKey(index));
  const transport: WsTransport = await createWsTransport({ signer, listen: { host: "127.0.0.1", port } });
  const party = await w.party(name, index, { store, transport, options: { peerTimeoutMs: 1_000 } });
  return { party, transport };
}

async function stopAll(...ps: { party: Party; transport: WsTransport }[]) {
  for (const p of ps) {
    await p.party.stop();
    await p.transport.close();
  }
}

describe("liveness after faults", () => {
  it("Bob restarts and cannot dial Alice: Alice's undelivered payment reaches him when he is back; meanwhile PEER_OFFLINE, never CHANNEL_BUSY", async () => {
    const bob = await wsParty("Bob", 2, 0);
    const bobPort = Number(new URL(bob.transport.url as string).port);
    const alice = await wsParty("Alice", 1, 0);
    alice.transport.addPeer(bob.party.address, bob.transport.url as string); // Bob never learns Alice's URL
    const id = await alice.party.client.openChannel({
      peer: bob.party.address,
      assets: [w.eth],
      balances: [[ONE, 0n]],
    });
    await until(() => bob.party.client.channel(id).phase === "Acting", 10_000, "Bob sees the channel");
    await alice.party.client.pay(id, parseEther("0.1"));

    // Bob goes down; Alice's payment cannot be delivered.
    const bobStore = bob.party.store;
    await stopAll(bob);
    const failed = await alice.party.client.pay(id, parseEther("0.2")).catch((e: unknown) => e);
    expect((failed as { code?: string }).code).toMatch(/PEER_UNREACHABLE|PEER_TIMEOUT/);
    expect(alice.party.client.channel(id).phase).toBe("Signing");
    const offline = await alice.party.client.pay(id, parseEther("0.3")).catch((e: unknown) => e);
    expect((offline as { code?: string }).code).toBe("PEER_OFFLINE");

    // Bob restarts on the same port with his store; he cannot dial Alice (no URL), so only Alice's
    // redelivery can bring them together again.
    const bob2 = await wsParty("Bob", 2, bobPort, bobStore as ReturnType<typeof createMemoryStore>);
    await until(
      () => alice.party.client.channel(id).phase === "Acting",
      20_000,
      "Alice's channel usable again",
    );
    await until(
      () => bob2.party.client.channel(id).version === alice.party.client.channel(id).version,
      10_000,
      "both at the same version",
    );
    expect(bob2.party.client.channel(id).balances).toEqual(alice.party.client.channel(id).balances);
    // The channel works again, in both directions.
    await alice.party.client.pay(id, parseEther("0.05"));
    expect(bob2.party.client.channel(id).balances).toEqual(alice.party.client.channel(id).balances);
    await stopAll(alice, bob2);
  });
});
