/**
 * Funding timeout with recovery, between Alice's node process and a peer that walks away: the peer
 * (a client in this test process on a real WebSocket port, reached by Alice through `peerUrl`)
 * accepts the proposal and signs version 0 but never deposits. Alice opens with a short funding
 * timeout; once chain time passes it her node registers version 0, concludes after the challenge
 * duration and withdraws her deposit. The POST /v1/channels answers with a FUNDING_TIMEOUT error
 * body; on chain Alice's holdings are 0 and her Withdrawn amount is her deposit.
 */
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChainPort, EthChain } from "../../src/chain/chain-port.js";
import { devChainPolicy } from "../../src/channel/policy.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Hex } from "../../src/channel/types.js";
import { Client } from "../../src/client/client.js";
import { createMemoryStore } from "../../src/store/index.js";
import { createWsTransport, type WsTransport } from "../../src/wire/index.js";
import { killAll, type NodeProcess } from "./processes.js";
import { crash, logLines, nodeSpec, runNode, type Scene, startScene, until } from "./scenario-helpers.js";

const DEPOSIT = parseEther("1");
const FUNDING_TIMEOUT = 30;
const CHALLENGE = 50;

let scene: Scene;
let alice: NodeProcess;
let peer: Client;
let peerTransport: WsTransport;

beforeAll(async () => {
  scene = await startScene();
  alice = await runNode(scene, await nodeSpec(scene, "alice", 1));
  // The peer: accepts every proposal and signs, but its deposit never happens.
  const key = scene.key(2);
  const signer = privateKeyToSigner(key);
  const real = new EthChain(scene.conn, scene.chain.info.contracts.adjudicator, key);
  const lazy: ChainPort = Object.assign(Object.create(Object.getPrototypeOf(real)) as ChainPort, real, {
    deposit: () => new Promise<void>(() => {}),
  });
  peerTransport = await createWsTransport({ signer, listen: { host: "127.0.0.1", port: 0 } });
  peer = new Client({
    signer,
    transport: peerTransport,
    store: createMemoryStore(),
    chain: lazy,
    policy: devChainPolicy(scene.conn.chainId, [scene.chain.info.contracts.assetHolderETH]),
  });
  peer.onProposal(() => ({ accept: true }));
  await peer.start();
}, 120_000);

afterAll(async () => {
  await peer?.close();
  await peerTransport?.close();
  if (alice) await crash(alice);
  scene?.chain.kill("SIGTERM");
  await killAll();
});

describe("funding timeout", () => {
  it("the peer never deposits: Alice's node recovers her deposit; the open fails with FUNDING_TIMEOUT", async () => {
    // Raw fetch: the test checks the status and the error body as sent.
    const opening = fetch(`${alice.apiUrl}/v1/channels`, {
      method: "POST",
      headers: { "content-type": "application/json", ...alice.api.authHeaders() },
      body: JSON.stringify({
        peer: peer.address,
        peerUrl: peerTransport.url,
        deposit: DEPOSIT.toString(),
        peerDeposit: DEPOSIT.toString(),
        fundingTimeout: FUNDING_TIMEOUT,
        challengeDuration: CHALLENGE,
      }),
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as unknown }));
    const outcome = opening.catch((e: unknown) => e);

    let id: Hex | undefined;
    await until(async () => {
      id = (await alice.api.channels())[0]?.channelID;
      return id !== undefined && (await scene.holdings(id, alice.address)) === DEPOSIT;
    }, "Alice's deposit");
    const channelID = id as Hex;
    expect((await alice.api.channel(channelID)).phase).toBe("Funding");
    expect(peer.channel(channelID).phase).toBe("Funding");
    expect(await scene.holdings(channelID, peer.address)).toBe(0n);

    await scene.advance(FUNDING_TIMEOUT + 1);
    await until(
      async () => (await scene.reader.dispute(channelID))?.version === 0n,
      "the recovery registration of version 0",
      30_000,
    );
    await scene.advance(CHALLENGE + 1);

    const res = await outcome;
    expect(res).toMatchObject({ status: 409, body: { error: { code: "FUNDING_TIMEOUT" } } });
    const message = (res as { body: { error: { message: string; hint: string } } }).body.error;
    expect(message.message).toMatch(/not fully funded in time; our deposit was recovered on chain/);
    expect(message.hint).toMatch(/Open a new channel/);

    expect((await alice.api.channel(channelID)).phase).toBe("Withdrawn");
    expect(await scene.holdings(channelID, alice.address)).toBe(0n);
    expect(await scene.withdrawn(channelID, alice.address)).toEqual([DEPOSIT]);
    const log = logLines(alice);
    expect(log.some((l) => l.msg === "channel fundingTimeout" && l.channelID === channelID)).toBe(true);
    expect(log.some((l) => l.msg === "funding timed out; recovering our deposit")).toBe(true);
  }, 90_000);
});
