/**
 * Disputes between separate OS processes on one `perun chain`:
 *  a. The peer goes offline (kill -9 of Bob's node): Alice's close falls back to a dispute, the
 *     chain time moves past the challenge duration, Alice's node concludes and withdraws her last
 *     balance; Bob's share waits on chain until his restarted node (same config and database)
 *     sees the conclusion and withdraws it.
 *  b. Attack: Mallory (a client in this test process: WebSocket wire, SQLite store, chain, watcher)
 *     pays Bob most of her deposit, stops, and registers her stale version 0 directly on chain.
 *     Bob's node (watcher) refutes with the newest state and, after the timeout, withdraws his full
 *     latest balance.
 */
import { join } from "node:path";
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EthChain } from "../../src/chain/chain-port.js";
import { devChainPolicy } from "../../src/channel/policy.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Hex, Params, State } from "../../src/channel/types.js";
import { Client } from "../../src/client/client.js";
import { openSqliteStore } from "../../src/store/index.js";
import { Watcher } from "../../src/watcher/watcher.js";
import { createWsTransport } from "../../src/wire/index.js";
import { killAll, type NodeProcess } from "./processes.js";
import {
  balanceOf,
  crash,
  logLines,
  nodePair,
  nodeSpec,
  runNode,
  type Scene,
  startScene,
  until,
  untilInSync,
} from "./scenario-helpers.js";

const CHALLENGE = 100;
let scene: Scene;

beforeAll(async () => {
  scene = await startScene();
}, 120_000);

afterAll(async () => {
  scene?.chain.kill("SIGTERM");
  await killAll();
});

describe("the peer goes offline: settle by dispute", () => {
  it("Alice concludes and withdraws her balance; Bob's restarted node withdraws his share", async () => {
    const [aSpec, bSpec] = await nodePair(scene, ["alice", 1], ["bob", 2]);
    const [alice, bob0] = await Promise.all([runNode(scene, aSpec), runNode(scene, bSpec)]);
    const { channelID: id } = await alice.api.open({
      peer: bob0.address,
      deposit: parseEther("2"),
      peerDeposit: parseEther("1"),
      challengeDuration: CHALLENGE,
    });
    await until(async () => (await bob0.api.channel(id)).phase === "Acting", "Bob sees the channel funded");
    for (let i = 0; i < 5; i++) await alice.api.pay(id, parseEther("0.25"));
    for (let i = 0; i < 3; i++) await bob0.api.pay(id, parseEther("0.1"));
    const [last] = await untilInSync(alice, bob0, id);
    expect(last.version).toBe("8");
    const aliceFinal = balanceOf(last, 0);
    const bobFinal = balanceOf(last, 1);
    expect([aliceFinal, bobFinal]).toEqual([parseEther("1.05"), parseEther("1.95")]);

    await crash(bob0);
    // Not forced: the cooperative attempt finds no Bob, the node falls back to a dispute.
    const closing = alice.api.close(id);
    const closeOutcome = closing.catch((e: unknown) => e);
    await until(async () => (await scene.reader.dispute(id)) !== undefined, "Alice's registration", 30_000);
    const d = await scene.reader.dispute(id);
    expect(d?.version).toBe(8n);
    await scene.advance(CHALLENGE + 1);
    expect(await closeOutcome).toEqual({ ok: true });
    expect((await alice.api.channel(id)).phase).toBe("Withdrawn");
    expect(await scene.withdrawn(id, alice.address)).toEqual([aliceFinal]);
    expect(await scene.holdings(id, alice.address)).toBe(0n);
    // Bob's share waits for him on chain.
    expect(await scene.holdings(id, bob0.address)).toBe(bobFinal);
    expect(await scene.withdrawn(id, bob0.address)).toEqual([]);
    const fallback = logLines(alice).find((l) => l.msg === "cooperative close failed; settling by dispute");
    expect(fallback).toBeDefined();
    console.log(JSON.stringify({ cooperativeCloseFailed: fallback?.error }));

    // Bob comes back on the same config and database: his watcher replays the missed blocks.
    const bob = await runNode(scene, bSpec);
    await until(async () => (await bob.api.channel(id)).phase === "Withdrawn", "Bob withdrew after restart");
    expect(await scene.withdrawn(id, bob.address)).toEqual([bobFinal]);
    expect(await scene.holdings(id, bob.address)).toBe(0n);
    await crash(alice);
    await crash(bob);
  }, 120_000);
});

describe("Mallory registers an old state", () => {
  let bob: NodeProcess;
  afterAll(async () => {
    if (bob) await crash(bob);
  });

  it("Bob's watcher refutes with the newest state and Bob withdraws his full balance", async () => {
    const bSpec = await nodeSpec(scene, "bob2", 4);
    bob = await runNode(scene, bSpec);

    // Mallory: a full client in this process, like bench/ledger-party.ts.
    const mKey = scene.key(3);
    const signer = privateKeyToSigner(mKey);
    const store = openSqliteStore(join(scene.dir, "mallory.db"));
    const transport = await createWsTransport({ signer, listen: { host: "127.0.0.1", port: 0 } });
    transport.addPeer(bob.address, bSpec.wireUrl);
    const chain = new EthChain(scene.conn, scene.chain.info.contracts.adjudicator, mKey);
    const policy = devChainPolicy(scene.conn.chainId, [scene.chain.info.contracts.assetHolderETH]);
    const mallory = new Client({ signer, transport, store, chain, policy, options: { pollMs: 50 } });
    await mallory.start();
    const watcher = new Watcher(chain, store, mallory, { pollMs: 50 });
    await watcher.start();
    let stopped = false;
    const stopMallory = async () => {
      if (stopped) return;
      stopped = true;
      await watcher.stop();
      await mallory.close();
      await transport.close();
      store.close();
    };

    try {
      const id = await mallory.openChannel({
        peer: bob.address,
        assets: [scene.eth],
        balances: [[parseEther("1"), parseEther("1")]],
        challengeDuration: BigInt(CHALLENGE),
      });
      await until(async () => (await bob.api.channel(id)).phase === "Acting", "Bob sees the channel funded");
      // Version 0, signed by both, straight from Mallory's store.
      const rec0 = store.getChannel(id);
      const v0 = rec0?.machine.current as { state: State; sigs: Hex[] };
      const params = rec0?.machine.params as Params;
      expect(v0.state.version).toBe(0n);
      expect(v0.sigs).toHaveLength(2);

      for (let i = 0; i < 4; i++) await mallory.pay(id, parseEther("0.2"));
      const view = await bob.api.channel(id);
      expect(view.version).toBe("4");
      const bobFinal = balanceOf(view, 1);
      expect(bobFinal).toBe(parseEther("1.8"));
      await stopMallory();

      // The attack: version 0 (Mallory had 1 ETH) goes on chain.
      await chain.register({ params, state: v0.state, sigs: v0.sigs });
      await until(
        async () => (await scene.reader.dispute(id))?.version === 4n,
        "Bob's refutation on chain",
        30_000,
      );
      const refuted = logLines(bob).find((l) => l.msg === "channel refuted" && l.channelID === id);
      expect(refuted).toMatchObject({ stale: "0", ours: "4" });

      await scene.advance(CHALLENGE + 1);
      await until(async () => (await bob.api.channel(id)).phase === "Withdrawn", "Bob withdrew", 30_000);
      expect(await scene.withdrawn(id, bob.address)).toEqual([bobFinal]);
      expect(await scene.holdings(id, bob.address)).toBe(0n);
      // Mallory gets only what the newest state gives her (still on chain; she is gone).
      expect(await scene.holdings(id, signer.address)).toBe(parseEther("0.2"));
    } finally {
      await stopMallory();
    }
  }, 120_000);
});
