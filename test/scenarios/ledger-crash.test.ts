/**
 * Crashes (kill -9) of node processes, on one `perun chain`:
 *  a. In the middle of an update: Alice pays Bob through her API in a loop and Bob's node (the
 *     responder), then in a second channel Alice's node (the proposer), is killed after a random
 *     number of payments with a request in flight. After the restart on the same config and
 *     database both nodes show the same version and balances (re-sync), payments go on, and the
 *     cooperative close pays out exactly the final balances.
 *  b. In the middle of a dispute: Alice registers (POST /dispute) and is killed; chain time passes
 *     the timeout; Bob (online throughout) and the restarted Alice (watcher resuming from its
 *     stored block) each withdraw exactly their share.
 *  c. Bad input over the real socket: a raw WebSocket sends garbage and an oversized frame to
 *     Bob's wire port; Bob logs the reason and keeps serving Alice.
 *  d. Found by (a): after a restart, a duplicate proposal's late error voided Alice's next proposal
 *     that Bob signed anyway; Alice stayed one version behind and every payment failed ("Version
 *     must be n+1, got n") until a reconnect. Deterministically: a scripted peer that is behind
 *     proposes a version Bob already holds; Bob answers the error and then his latest state.
 */
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { EthChain } from "../../src/chain/chain-port.js";
import { channelId, fundingId } from "../../src/channel/hash.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Hex, Params, State } from "../../src/channel/types.js";
import { ZERO_ADDRESS } from "../../src/channel/types.js";
import { createWsTransport } from "../../src/wire/index.js";
import type { WireMsg } from "../../src/wire/messages.js";
import { killAll, type NodeProcess } from "./processes.js";
import {
  balanceOf,
  crash,
  logLines,
  type NodeSpec,
  nodePair,
  retry,
  runNode,
  type Scene,
  startScene,
  until,
  untilInSync,
} from "./scenario-helpers.js";

const DEPOSIT_A = parseEther("10");
const DEPOSIT_B = parseEther("5");
const PAY = parseEther("0.01");
const CHALLENGE = 60;

let scene: Scene;
let aSpec: NodeSpec;
let bSpec: NodeSpec;
let alice: NodeProcess;
let bob: NodeProcess;

beforeAll(async () => {
  scene = await startScene();
  [aSpec, bSpec] = await nodePair(scene, ["alice", 1], ["bob", 2]);
  [alice, bob] = await Promise.all([runNode(scene, aSpec), runNode(scene, bSpec)]);
}, 120_000);

afterAll(async () => {
  scene?.chain.kill("SIGTERM");
  await killAll();
});

async function openChannel(): Promise<Hex> {
  const { channelID } = await alice.api.open({
    peer: bob.address,
    deposit: DEPOSIT_A,
    peerDeposit: DEPOSIT_B,
    challengeDuration: CHALLENGE,
  });
  await until(
    async () => (await bob.api.channel(channelID)).phase === "Acting",
    "Bob sees the channel funded",
  );
  return channelID;
}

/** Every version is one payment of PAY from Alice: the balances follow from the version. */
function expectConsistent(view: { version: string | null; balances: string[][] | null }): void {
  const v = BigInt(view.version ?? "-1");
  expect(view.balances).toEqual([[(DEPOSIT_A - v * PAY).toString(), (DEPOSIT_B + v * PAY).toString()]]);
}

/** Cooperative close; the chain pays out exactly the final balances. */
async function closeAndCheck(id: Hex): Promise<void> {
  const [final] = await untilInSync(alice, bob, id);
  expectConsistent(final);
  await alice.api.close(id);
  await until(async () => (await bob.api.channel(id)).phase === "Withdrawn", "Bob withdrew", 30_000);
  expect((await alice.api.channel(id)).phase).toBe("Withdrawn");
  expect(await scene.withdrawn(id, alice.address)).toEqual([balanceOf(final, 0)]);
  expect(await scene.withdrawn(id, bob.address)).toEqual([balanceOf(final, 1)]);
  expect(await scene.holdings(id, alice.address)).toBe(0n);
  expect(await scene.holdings(id, bob.address)).toBe(0n);
}

/** Restarts `who` on its config and database. */
async function restart(who: "alice" | "bob"): Promise<void> {
  if (who === "alice") alice = await runNode(scene, aSpec);
  else bob = await runNode(scene, bSpec);
}

/** After a crash and restart: a payment goes through (retried), both show the same state. */
async function expectRecovered(id: Hex, atLeast: bigint): Promise<bigint> {
  const { failures } = await retry(() => alice.api.pay(id, PAY), "a payment after the restart");
  if (failures.length > 0)
    console.log(JSON.stringify({ retriesAfterRestart: failures.length, first: failures[0]?.split("\n")[0] }));
  const [a, b] = await untilInSync(alice, bob, id);
  expect(a.version).toBe(b.version);
  expect(a.balances).toEqual(b.balances);
  expectConsistent(a);
  // Nothing signed before the crash is lost.
  expect(BigInt(a.version ?? "0")).toBeGreaterThanOrEqual(atLeast);
  return BigInt(a.version ?? "0");
}

/**
 * Pays in a loop and, at payment `killAt`, kills `victim` with that request in flight (after a
 * random delay within the mean payment latency so far), restarts it, retries until a payment goes
 * through and checks the re-sync. Then the same deterministically in the middle of an update:
 * Bob is frozen (SIGSTOP) so that Alice's proposal is out but unanswered, and `victim` is killed
 * there (for Alice: Bob resumes, signs and answers a dead Alice, who learns it only by re-sync).
 * Then 50 more payments.
 */
async function payThroughCrash(id: Hex, victim: "alice" | "bob", killAt: number): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < killAt; i++) await alice.api.pay(id, PAY);
  const meanMs = (performance.now() - t0) / killAt;
  const delayMs = Math.random() * meanMs;
  const inFlight = alice.api.pay(id, PAY).then(
    () => "ok",
    (e: { code?: string }) => e.code ?? "?",
  );
  await new Promise((r) => setTimeout(r, delayMs));
  await crash(victim === "alice" ? alice : bob);
  await restart(victim);
  // Bounded: the node's peer timeout (10 s) ends an unanswered payment at the latest.
  const outcome = await inFlight;
  console.log(
    JSON.stringify({ victim, killAt, meanMs: +meanMs.toFixed(1), delayMs: +delayMs.toFixed(1), outcome }),
  );
  let version = await expectRecovered(id, BigInt(killAt));

  // Deterministic: the proposal is out, the responder has not answered.
  bob.kill("SIGSTOP");
  const frozen = alice.api.pay(id, PAY).then(
    () => "ok",
    (e: { code?: string }) => e.code ?? "?",
  );
  await until(async () => (await alice.api.channel(id)).phase === "Signing", "Alice's proposal out");
  if (victim === "alice") {
    await crash(alice);
    bob.kill("SIGCONT");
    // Bob signs version + 1 and answers; Alice is gone.
    await until(async () => (await bob.api.channel(id)).version === String(version + 1n), "Bob signed");
  } else {
    await crash(bob);
  }
  await restart(victim);
  const frozenOutcome = await frozen;
  console.log(JSON.stringify({ victim, frozenAt: `${version}`, outcome: frozenOutcome }));
  version = await expectRecovered(id, victim === "alice" ? version + 1n : version);

  for (let i = 0; i < 50; i++) await alice.api.pay(id, PAY);
  const [a2, b2] = await untilInSync(alice, bob, id);
  expect(BigInt(a2.version ?? "0")).toBe(version + 50n);
  expect(b2.balances).toEqual(a2.balances);
  expectConsistent(a2);
}

const randomKillAt = () => 50 + Math.floor(Math.random() * 101);

describe("kill -9 in the middle of an update", () => {
  it("of the responder (Bob): both re-sync to the same state; payouts = final balances", async () => {
    const id = await openChannel();
    await payThroughCrash(id, "bob", randomKillAt());
    await closeAndCheck(id);
  }, 120_000);

  it("of the proposer (Alice): both re-sync to the same state; payouts = final balances", async () => {
    const id = await openChannel();
    await payThroughCrash(id, "alice", randomKillAt());
    await closeAndCheck(id);
  }, 120_000);
});

describe("kill -9 in the middle of a dispute", () => {
  it("the restarted Alice withdraws her share, Bob (online throughout) his", async () => {
    const id = await openChannel();
    for (let i = 0; i < 7; i++) await alice.api.pay(id, PAY);
    const [last] = await untilInSync(alice, bob, id);
    expect(last.version).toBe("7");

    expect(await alice.api.dispute(id)).toEqual({ ok: true });
    await until(async () => (await scene.reader.dispute(id))?.version === 7n, "the registration on chain");
    await crash(alice);
    await scene.advance(CHALLENGE + 1);
    await until(async () => (await bob.api.channel(id)).phase === "Withdrawn", "Bob withdrew", 30_000);
    expect(await scene.withdrawn(id, bob.address)).toEqual([balanceOf(last, 1)]);
    // Alice's share waits on chain for her.
    expect(await scene.holdings(id, alice.address)).toBe(balanceOf(last, 0));

    alice = await runNode(scene, aSpec);
    await until(async () => (await alice.api.channel(id)).phase === "Withdrawn", "Alice withdrew", 30_000);
    expect(await scene.withdrawn(id, alice.address)).toEqual([balanceOf(last, 0)]);
    expect(await scene.holdings(id, alice.address)).toBe(0n);
    expect(await scene.holdings(id, bob.address)).toBe(0n);
  }, 120_000);
});

describe("bad input on the wire port", () => {
  /** Opens a raw WebSocket to Bob's wire port and resolves with the close code. */
  function rawPeer(send: (ws: WebSocket) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(bSpec.wireUrl, { maxPayload: 64 * 1024 * 1024 });
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error("Bob did not close the raw connection within 10 s"));
      }, 10_000);
      ws.once("message", () => send(ws)); // Bob's hello frame first
      ws.on("error", () => undefined);
      ws.once("close", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  it("garbage and an oversized frame are logged and dropped; Bob keeps serving Alice", async () => {
    const id = await openChannel();
    await alice.api.pay(id, PAY);

    const garbageClose = await rawPeer((ws) => ws.send("hello, this is not a handshake"));
    expect(garbageClose).toBe(1002);
    await until(
      () => logLines(bob).some((l) => l.msg === "wire: Wire handshake failed: expected a binary frame."),
      "Bob's log of the garbage",
    );

    const bigClose = await rawPeer((ws) => ws.send(Buffer.alloc(2 * 1024 * 1024, 7)));
    expect(bigClose).toBe(1009);
    await until(
      () => logLines(bob).some((l) => typeof l.msg === "string" && l.msg.startsWith("wire: frame too big")),
      "Bob's log of the oversized frame",
    );

    // The channel still works over Bob's wire port.
    const after = await alice.api.pay(id, PAY);
    expect(after.version).toBe("2");
    const [view] = await untilInSync(alice, bob, id);
    expect(view.version).toBe("2");
    await closeAndCheck(id);
  }, 60_000);
});

describe("a peer that is behind", () => {
  it("gets Bob's latest fully signed state after the error for its stale proposal", async () => {
    // Scripted "Carol" (dev key 3) speaks the wire protocol directly to Bob's node.
    const key = scene.key(3);
    const carol = privateKeyToSigner(key);
    const wire = await createWsTransport({ signer: carol });
    wire.addPeer(bob.address, bSpec.wireUrl);
    const inbox: WireMsg[] = [];
    wire.onMessage(({ msg }) => inbox.push(msg));
    try {
      const params: Params = {
        challengeDuration: BigInt(CHALLENGE),
        nonce: BigInt(Date.now()),
        participants: [
          { ethAddress: carol.address, ccAddress: "0x" },
          { ethAddress: bob.address, ccAddress: "0x" },
        ],
        app: ZERO_ADDRESS,
        ledgerChannel: true,
        virtualChannel: false,
      };
      const id = channelId(params);
      const v0: State = {
        channelID: id,
        version: 0n,
        outcome: { assets: [scene.eth], backends: [0n], balances: [[1000n, 0n]], locked: [] },
        appData: "0x",
        isFinal: false,
      };
      const pay = (s: State, amount: bigint): State => ({
        ...s,
        version: s.version + 1n,
        outcome: { ...s.outcome, balances: [[1000n - amount, amount]] },
      });
      await wire.send(bob.address, {
        type: "channelProposal",
        proposalID: `0x${"33".repeat(32)}`,
        params,
        initial: v0,
        sig: signState(v0, carol),
        fundingTimeout: 600n,
      });
      await until(() => inbox.some((m) => m.type === "channelAccept"), "Bob's accept");
      await new EthChain(scene.conn, scene.chain.info.contracts.adjudicator, key).deposit(
        scene.eth,
        fundingId(id, carol.address),
        1000n,
      );
      await until(async () => (await bob.api.channel(id)).phase === "Acting", "funded");

      // Version 1, signed by both ...
      const v1 = pay(v0, 10n);
      await wire.send(bob.address, {
        type: "update",
        channelID: id,
        from: 0,
        state: v1,
        sig: signState(v1, carol),
      });
      await until(() => inbox.some((m) => m.type === "updateAccept" && m.version === 1n), "Bob's signature");
      // ... but Carol acts as if she missed Bob's answer: another version 1.
      const other = pay(v0, 20n);
      await wire.send(bob.address, {
        type: "update",
        channelID: id,
        from: 0,
        state: other,
        sig: signState(other, carol),
      });
      await until(() => inbox.some((m) => m.type === "error"), "Bob's error");
      await until(() => inbox.some((m) => m.type === "sync"), "Bob's latest state after the error");
      const errorAt = inbox.findIndex((m) => m.type === "error");
      const syncAt = inbox.findIndex((m) => m.type === "sync");
      expect(syncAt).toBeGreaterThan(errorAt);
      const sync = inbox[syncAt] as Extract<WireMsg, { type: "sync" }>;
      expect(sync.state.version).toBe(1n);
      expect(sync.state.outcome.balances).toEqual([[990n, 10n]]);
      expect(sync.sigs).toHaveLength(2);
      expect((await bob.api.channel(id)).version).toBe("1");
    } finally {
      await wire.close();
    }
  }, 60_000);
});
