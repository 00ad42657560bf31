/**
 * A virtual channel through one intermediary across separate OS processes: one `perun chain`, three
 * `perun node`s (Alice, Ingrid with intermediary terms in her config, Bob), over the WebSocket wire.
 * Alice and Bob each open a ledger channel with Ingrid through their APIs; Alice opens V to Bob via
 * Ingrid, paying the fee quoted from the terms in Ingrid's GET /v1/info, with no transaction; 100
 * payments over V in both directions leave Ingrid's ledger channels untouched (0 intermediary
 * messages per payment); Alice closes V (cooperatively, into both ledger channels, again no
 * transaction); both ledger channels close on chain. The Withdrawn events pay out exactly, and
 * Ingrid nets exactly her fee.
 */
import { createPublicClient, http, type PublicClient, parseAbiItem, parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rentalFee } from "../../src/channel/fees.js";
import { fundingId } from "../../src/channel/hash.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Address, Hex } from "../../src/channel/types.js";
import type { ApiChannel } from "../../src/node/api-client.js";
import {
  type ChainProcess,
  freePort,
  killAll,
  type NodeProcess,
  nodeConfig,
  spawnChain,
  spawnNode,
  tempDir,
  until,
} from "./processes.js";

const FIVE = parseEther("5");
const ONE = parseEther("1");
const SECONDS = 3_600;
/** Ingrid's terms: 1e12 wei per V, plus 1e9 wei per second per ether of collateral. */
const TERMS = { baseFee: "1000000000000", ratePerSecondPerUnit: "1000000000", maxDurationSeconds: 86_400 };
const PAYMENTS = 100;
/** Alice pays 3 milli-ether on even payments, Bob 1 milli-ether on odd ones. */
const A_PAYS = parseEther("0.003");
const B_PAYS = parseEther("0.001");

let chain: ChainProcess;
let alice: NodeProcess;
let ingrid: NodeProcess;
let bob: NodeProcess;
let rpc: PublicClient;

beforeAll(async () => {
  chain = await spawnChain();
  // cacheTime 0: viem caches getBlockNumber for 4 s by default, which would hide any transaction.
  rpc = createPublicClient({ transport: http(chain.info.rpcUrl), cacheTime: 0 }) as PublicClient;
  const dir = tempDir("perun-virtual-");
  const [aPort, iPort, bPort] = [await freePort(), await freePort(), await freePort()];
  const keys = {
    alice: chain.info.devKeys[1] as Hex,
    ingrid: chain.info.devKeys[3] as Hex,
    bob: chain.info.devKeys[2] as Hex,
  };
  const addr = (k: Hex) => privateKeyToSigner(k).address;
  const wire = {
    [addr(keys.alice)]: `ws://127.0.0.1:${aPort}`,
    [addr(keys.ingrid)]: `ws://127.0.0.1:${iPort}`,
    [addr(keys.bob)]: `ws://127.0.0.1:${bPort}`,
  };
  // Everyone knows everyone else's wire URL: Alice<->Ingrid, Bob<->Ingrid and Alice<->Bob.
  const others = (k: Hex) => Object.fromEntries(Object.entries(wire).filter(([a]) => a !== addr(k)));
  [alice, ingrid, bob] = await Promise.all([
    spawnNode(
      dir,
      "alice",
      nodeConfig(chain.info, { db: "alice.db", wirePort: aPort, peers: others(keys.alice) }),
      { PERUN_KEY: keys.alice },
    ),
    spawnNode(
      dir,
      "ingrid",
      nodeConfig(chain.info, {
        db: "ingrid.db",
        wirePort: iPort,
        peers: others(keys.ingrid),
        intermediary: TERMS,
      }),
      { PERUN_KEY: keys.ingrid },
    ),
    spawnNode(
      dir,
      "bob",
      nodeConfig(chain.info, { db: "bob.db", wirePort: bPort, peers: others(keys.bob) }),
      { PERUN_KEY: keys.bob },
    ),
  ]);
}, 120_000);

afterAll(async () => {
  for (const n of [alice, ingrid, bob]) n?.kill("SIGTERM");
  await Promise.allSettled([alice, ingrid, bob].map((n) => n?.waitExit(10_000)));
  chain?.kill("SIGTERM");
  await killAll();
});

const find = (list: ApiChannel[], id: Hex) => list.find((c) => c.channelID === id);

describe("virtual channel through one intermediary, three node processes", () => {
  it(`open L1, L2 -> V via Ingrid (no tx) -> ${PAYMENTS} payments (Ingrid untouched) -> close V (no tx) -> close L1, L2; exact payouts`, async () => {
    const startBlock = await rpc.getBlockNumber();

    // Ledger channels with Ingrid, 5 ETH each side.
    const [{ channelID: l1 }, { channelID: l2 }] = await Promise.all([
      alice.api.open({ peer: ingrid.address, deposit: FIVE, peerDeposit: FIVE }),
      bob.api.open({ peer: ingrid.address, deposit: FIVE, peerDeposit: FIVE }),
    ]);
    await until(async () => {
      const cs = await ingrid.api.channels();
      return find(cs, l1)?.phase === "Acting" && find(cs, l2)?.phase === "Acting";
    }, "Ingrid sees L1 and L2 funded");

    // The fee, quoted from the terms Ingrid publishes.
    const info = await ingrid.api.info();
    expect(info.intermediary).toEqual(TERMS);
    expect((await alice.api.info()).intermediary).toBeNull();
    const t = info.intermediary as NonNullable<typeof info.intermediary>;
    const fee = rentalFee(
      {
        baseFee: BigInt(t.baseFee),
        ratePerSecondPerUnit: BigInt(t.ratePerSecondPerUnit),
        maxDurationSeconds: BigInt(t.maxDurationSeconds),
      },
      2n * ONE,
      BigInt(SECONDS),
    );
    expect(fee).toBe(10n ** 12n + 10n ** 9n * 2n * BigInt(SECONDS));

    // V: no transaction.
    const blockBeforeV = await rpc.getBlockNumber();
    expect(blockBeforeV).toBeGreaterThan(startBlock); // the deposits were mined: the reads are live
    const t0 = performance.now();
    const { channelID: v } = await alice.api.openVirtual({
      peer: bob.address,
      via: ingrid.address,
      ledger: l1,
      peerLedger: l2,
      deposit: ONE,
      peerDeposit: ONE,
      fee,
      seconds: SECONDS,
    });
    await until(async () => (await bob.api.channel(v)).phase === "Acting", "Bob sees V funded");
    const openMs = performance.now() - t0;
    expect(await rpc.getBlockNumber()).toBe(blockBeforeV);
    const av = await alice.api.channel(v);
    expect(av).toMatchObject({ peer: bob.address, idx: 0, phase: "Acting", version: "0" });
    expect(av.virtual).toEqual({ path: [alice.address, ingrid.address, bob.address], unlocked: false });
    expect((await bob.api.channel(v)).virtual?.path[1]).toBe(ingrid.address);
    expect(find(await ingrid.api.channels(), v)).toBeUndefined(); // Ingrid is no party of V

    // The locks: V's funds (and the fee) moved out of the ledger balances.
    const ingridLedgers = async () => {
      const cs = await ingrid.api.channels();
      return { l1: find(cs, l1), l2: find(cs, l2) };
    };
    const locked = await ingridLedgers();
    expect(locked.l1?.balances).toEqual([[`${FIVE - ONE - fee}`, `${FIVE - ONE + fee}`]]);
    expect(locked.l2?.balances).toEqual([[`${FIVE - ONE}`, `${FIVE - ONE}`]]);

    // Payments over V, both directions; Ingrid's ledger channels do not move.
    const t1 = performance.now();
    for (let i = 0; i < PAYMENTS; i++) {
      if (i % 2 === 0) await alice.api.pay(v, A_PAYS);
      else await bob.api.pay(v, B_PAYS);
    }
    const payMs = performance.now() - t1;
    const after = await ingridLedgers();
    expect(after.l1?.version).toBe(locked.l1?.version);
    expect(after.l2?.version).toBe(locked.l2?.version);
    expect(after).toEqual(locked);
    const half = BigInt(PAYMENTS / 2);
    const aFinal = ONE - half * A_PAYS + half * B_PAYS; // a' = 0.9
    const bFinal = ONE + half * A_PAYS - half * B_PAYS; // b' = 1.1
    const vb = await bob.api.channel(v);
    expect(vb.version).toBe(String(PAYMENTS));
    expect(vb.balances).toEqual([[`${aFinal}`, `${bFinal}`]]);
    expect(await rpc.getBlockNumber()).toBe(blockBeforeV);

    // Close V from Alice's side: Bob's side unlocks by itself; still no transaction.
    await alice.api.close(v);
    expect((await alice.api.channel(v)).virtual?.unlocked).toBe(true);
    await until(async () => (await bob.api.channel(v)).virtual?.unlocked === true, "Bob's V unlocked");
    expect(await rpc.getBlockNumber()).toBe(blockBeforeV);

    const aliceL1 = FIVE - ONE - fee + aFinal;
    const ingridL1 = FIVE - ONE + fee + bFinal;
    const ingridL2 = FIVE - ONE + aFinal;
    const bobL2 = FIVE - ONE + bFinal;
    await until(async () => {
      const cs = await ingridLedgers();
      return (
        JSON.stringify(cs.l1?.balances) === JSON.stringify([[`${aliceL1}`, `${ingridL1}`]]) &&
        JSON.stringify(cs.l2?.balances) === JSON.stringify([[`${bobL2}`, `${ingridL2}`]])
      );
    }, "both ledger channels unlocked at Ingrid");
    expect((await alice.api.channel(l1)).balances).toEqual([[`${aliceL1}`, `${ingridL1}`]]);
    expect((await bob.api.channel(l2)).balances).toEqual([[`${bobL2}`, `${ingridL2}`]]);

    // Close both ledger channels cooperatively, on chain.
    await Promise.all([alice.api.close(l1), bob.api.close(l2)]);
    await until(async () => {
      const cs = await ingridLedgers();
      return cs.l1?.phase === "Withdrawn" && cs.l2?.phase === "Withdrawn";
    }, "Ingrid withdrew from L1 and L2");

    // On chain: empty holdings, and exactly the expected payouts.
    const holder = chain.info.contracts.assetHolderETH;
    for (const [id, parts] of [
      [l1, [alice.address, ingrid.address]],
      [l2, [bob.address, ingrid.address]],
    ] as const) {
      for (const who of parts) {
        const held = await rpc.readContract({
          address: holder,
          abi: [parseAbiItem("function holdings(bytes32) view returns (uint256)")],
          functionName: "holdings",
          args: [fundingId(id, who)],
        });
        expect(held).toBe(0n);
      }
    }
    const withdrawn = await rpc.getLogs({
      address: holder,
      event: parseAbiItem("event Withdrawn(bytes32 indexed fundingID, uint256 amount, address receiver)"),
      fromBlock: startBlock + 1n,
      toBlock: await rpc.getBlockNumber(),
    });
    const paidTo = (who: Address) =>
      withdrawn
        .filter((l) => l.args.receiver?.toLowerCase() === who.toLowerCase())
        .map((l) => l.args.amount as bigint)
        .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    expect(paidTo(alice.address)).toEqual([aliceL1]);
    expect(paidTo(bob.address)).toEqual([bobL2]);
    expect(paidTo(ingrid.address)).toEqual([ingridL1, ingridL2].sort((x, y) => (x < y ? -1 : 1)));
    // Alice = 5 - 1 - fee + a', Bob = 5 - 1 + b', Ingrid nets exactly the fee.
    expect(aliceL1).toBe(FIVE - ONE - fee + parseEther("0.9"));
    expect(bobL2).toBe(FIVE - ONE + parseEther("1.1"));
    expect(ingridL1 + ingridL2 - 2n * FIVE).toBe(fee);

    console.log(
      JSON.stringify({
        virtualOpenMs: Math.round(openMs),
        payments: PAYMENTS,
        paymentsMs: Math.round(payMs),
        perPaymentMs: +(payMs / PAYMENTS).toFixed(2),
        fee: fee.toString(),
      }),
    );
  }, 300_000);

  it("force-closing or disputing V is refused with 409; the nodes stop gracefully", async () => {
    const v = (await alice.api.channels()).find((c) => c.virtual)?.channelID as Hex;
    await expect(alice.api.close(v, true)).rejects.toMatchObject({ status: 409, code: "VIRTUAL_DISPUTE" });
    await expect(bob.api.dispute(v)).rejects.toMatchObject({ status: 409, code: "VIRTUAL_DISPUTE" });
    for (const n of [alice, ingrid, bob]) n.kill("SIGTERM");
    for (const n of [alice, ingrid, bob]) expect(await n.waitExit()).toEqual({ code: 0, signal: null });
  });
});
