/**
 * Mallory against a node process (`perun node`, `accept.proposals: true`), over a real WebSocket from
 * this test process (docs/security.md): the same proposal twice, proposals the node's policy refuses
 * (a holder she deployed, the same asset twice), and a flood of made-up virtual channels. On chain the
 * node deposits once, recovers exactly its deposit, and deposits nothing into what it refused; the node
 * keeps answering its API throughout.
 */
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EthChain } from "../../src/chain/chain-port.js";
import { AssetHolderETHAbi, AssetHolderETHBytecode } from "../../src/chain/generated/index.js";
import { deploy } from "../../src/chain/transact.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Address, Hex, State } from "../../src/channel/types.js";
import { virtualInitialState, virtualParams } from "../../src/channel/virtual.js";
import { createWsTransport, type WsTransport } from "../../src/wire/index.js";
import type { Inbound, WireMsg } from "../../src/wire/messages.js";
import { ledgerProposal, type Mallory, randomHex32 } from "../mallory/mallory.js";
import { killAll, type NodeProcess } from "./processes.js";
import { crash, logLines, nodeSpec, runNode, type Scene, startScene, until } from "./scenario-helpers.js";

const ONE = parseEther("1");

let scene: Scene;
let victim: NodeProcess;
let m: Mallory;
let tx: WsTransport;

beforeAll(async () => {
  scene = await startScene();
  const spec = await nodeSpec(scene, "victim", 2);
  victim = await runNode(scene, spec);
  const key = scene.key(3);
  const signer = privateKeyToSigner(key);
  tx = await createWsTransport({ signer, listen: { host: "127.0.0.1", port: 0 } });
  tx.addPeer(victim.address, spec.wireUrl);
  const inbox: Inbound[] = [];
  tx.onMessage((x) => inbox.push(x));
  m = {
    name: "Mallory",
    key,
    signer,
    address: signer.address,
    transport: tx,
    inbox,
    chain: new EthChain(scene.conn, scene.chain.info.contracts.adjudicator, key),
    send: (to, msg) => tx.send(to, msg),
    async receive(from, pred, since = 0, ms = 10_000) {
      let found: WireMsg | undefined;
      await until(
        () => {
          found = inbox
            .slice(since)
            .find((x) => x.from.toLowerCase() === from.toLowerCase() && pred(x.msg))?.msg;
          return found !== undefined;
        },
        `a message from ${from}`,
        ms,
      );
      return found as WireMsg;
    },
    sign: (s: State) => signState(s, signer),
    close: () => tx.close(),
  };
}, 120_000);

afterAll(async () => {
  await tx?.close();
  if (victim) await crash(victim);
  scene?.chain.kill("SIGTERM");
  await killAll();
});

const answers = (proposalID: Hex) =>
  m.inbox.filter(
    (x) =>
      (x.msg.type === "channelAccept" || x.msg.type === "channelReject") && x.msg.proposalID === proposalID,
  );

describe("Mallory against a node process", () => {
  it("the same proposal twice: one channel, one deposit; Mallory never deposits, the node recovers exactly its deposit", async () => {
    const d = ledgerProposal(m, victim.address, {
      assets: [scene.eth],
      balances: [[ONE, ONE]],
      challengeDuration: 60n,
      fundingTimeout: 30n,
    });
    await Promise.all([m.send(victim.address, d.msg), m.send(victim.address, d.msg)]);
    await until(() => answers(d.msg.proposalID).length === 2, "two answers");
    expect(
      answers(d.msg.proposalID)
        .map((x) => x.msg.type)
        .sort(),
    ).toEqual(["channelAccept", "channelReject"]);
    const id = d.initial.channelID;
    await until(async () => (await scene.holdings(id, victim.address)) > 0n, "the node's deposit");
    await new Promise((r) => setTimeout(r, 500));
    expect(await scene.holdings(id, victim.address)).toBe(ONE);
    expect((await victim.api.channels()).filter((c) => c.channelID === id)).toHaveLength(1);
    await scene.advance(31);
    await until(
      async () => (await victim.api.channel(id)).phase === "Registered",
      "version 0 registered",
      20_000,
    );
    await scene.advance(61);
    await until(
      async () => (await victim.api.channel(id)).phase === "Withdrawn",
      "the node recovered",
      20_000,
    );
    expect(await scene.withdrawn(id, victim.address)).toEqual([ONE]);
    expect(await scene.holdings(id, victim.address)).toBe(0n);
  });

  it("proposals its policy refuses (a holder Mallory deployed, the same asset twice) get a reason and no deposit", async () => {
    const rogue = (await deploy(scene.conn, m.key, AssetHolderETHAbi, AssetHolderETHBytecode, [m.address]))
      .address;
    for (const [assets, rule] of [
      [[{ ...scene.eth, ethHolder: rogue as Address }], "asset-holder"],
      [[scene.eth, scene.eth], "asset-duplicate"],
    ] as const) {
      const d = ledgerProposal(m, victim.address, {
        assets,
        balances: assets.map(() => [ONE, ONE] as const),
        challengeDuration: 60n,
      });
      await m.send(victim.address, d.msg);
      await until(() => answers(d.msg.proposalID).length === 1, "the answer");
      const answer = answers(d.msg.proposalID)[0]?.msg as { type: string; reason: string };
      expect(answer.type).toBe("channelReject");
      expect(answer.reason).toContain(`policy: ${rule}`);
      expect(await scene.holdings(d.initial.channelID, victim.address)).toBe(0n);
      expect((await victim.api.channels()).some((c) => c.channelID === d.initial.channelID)).toBe(false);
    }
  });

  it("a flood of final states of made-up virtual channels is refused and the node keeps answering", async () => {
    const accomplice = privateKeyToSigner(scene.key(5));
    const big = `0x${"ab".repeat(200_000)}` as Hex;
    const since = m.inbox.length;
    for (let i = 0; i < 40; i++) {
      const params = virtualParams({
        alice: m.address,
        bob: accomplice.address,
        nonce: BigInt(randomHex32()),
        challengeDuration: 60n,
      });
      const state: State = {
        ...virtualInitialState(params, [scene.eth], [[ONE, ONE]]),
        version: 9n,
        isFinal: true,
        appData: big,
      };
      await m.send(victim.address, {
        type: "virtualFinal",
        params,
        state,
        sigs: [m.sign(state), signState(state, accomplice)],
      });
    }
    await until(
      () => m.inbox.slice(since).filter((x) => x.msg.type === "error").length === 40,
      "40 refusals",
      30_000,
    );
    expect((await victim.api.info()).address).toBe(victim.address);
    expect(logLines(victim).some((l) => String(l.reason ?? "").includes("no part in virtual channel"))).toBe(
      true,
    );
  });
});
