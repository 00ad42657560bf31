/**
 * Alice and Bob as separate OS processes (`perun node`), on a chain served by a third
 * (`perun chain --deploy`), over the WebSocket wire: Alice opens a ledger channel through her local
 * API, both make 1,000 payments in turn through their APIs, Alice closes cooperatively. Then the
 * chain is checked: the holdings are empty, the Withdrawn events pay out exactly the final
 * balances, and each wallet changed by exactly (final balance - deposit - gas fees of its txs).
 */
import { createPublicClient, http, type PublicClient, parseAbiItem, parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fundingId } from "../../src/channel/hash.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Address, Hex } from "../../src/channel/types.js";
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

const PAYMENTS = 1_000;
const DEPOSIT_A = parseEther("10");
const DEPOSIT_B = parseEther("5");
/** Alice pays 3 milli-ether on even payments, Bob pays 1 milli-ether on odd ones. */
const A_PAYS = parseEther("0.003");
const B_PAYS = parseEther("0.001");

let chain: ChainProcess;
let alice: NodeProcess;
let bob: NodeProcess;
let rpc: PublicClient;

beforeAll(async () => {
  chain = await spawnChain();
  rpc = createPublicClient({ transport: http(chain.info.rpcUrl) }) as PublicClient;
  const dir = tempDir();
  const [aPort, bPort] = [await freePort(), await freePort()];
  const aKey = chain.info.devKeys[1] as Hex;
  const bKey = chain.info.devKeys[2] as Hex;
  const aAddr = privateKeyToSigner(aKey).address;
  const bAddr = privateKeyToSigner(bKey).address;
  [alice, bob] = await Promise.all([
    spawnNode(
      dir,
      "alice",
      nodeConfig(chain.info, {
        db: "alice.db",
        wirePort: aPort,
        peers: { [bAddr]: `ws://127.0.0.1:${bPort}` },
      }),
      { PERUN_KEY: aKey },
    ),
    spawnNode(
      dir,
      "bob",
      nodeConfig(chain.info, {
        db: "bob.db",
        wirePort: bPort,
        peers: { [aAddr]: `ws://127.0.0.1:${aPort}` },
      }),
      { PERUN_KEY: bKey },
    ),
  ]);
}, 120_000);

afterAll(async () => {
  // Graceful first (exercises SIGTERM handling), then whatever is left is killed.
  for (const n of [alice, bob]) n?.kill("SIGTERM");
  await Promise.allSettled([alice?.waitExit(10_000), bob?.waitExit(10_000)]);
  chain?.kill("SIGTERM");
  await killAll();
});

describe("ledger channel between two node processes", () => {
  it(`open -> ${PAYMENTS} payments over the APIs -> cooperative close; the chain pays out exactly`, async () => {
    const startBlock = await rpc.getBlockNumber();
    const before = {
      alice: await rpc.getBalance({ address: alice.address }),
      bob: await rpc.getBalance({ address: bob.address }),
    };

    const { channelID: id } = await alice.api.open({
      peer: bob.address,
      deposit: DEPOSIT_A,
      peerDeposit: DEPOSIT_B,
    });
    await until(async () => (await bob.api.channel(id)).phase === "Acting", "Bob sees the channel funded");

    const t0 = performance.now();
    for (let i = 0; i < PAYMENTS; i++) {
      if (i % 2 === 0) await alice.api.pay(id, A_PAYS);
      else await bob.api.pay(id, B_PAYS);
    }
    const ms = performance.now() - t0;
    // The figure that matters for the report: sequential HTTP round trips, each a full update.
    console.log(
      JSON.stringify({ payments: PAYMENTS, ms: Math.round(ms), perPaymentMs: +(ms / PAYMENTS).toFixed(2) }),
    );

    const final = {
      alice: DEPOSIT_A - (BigInt(PAYMENTS) / 2n) * A_PAYS + (BigInt(PAYMENTS) / 2n) * B_PAYS,
      bob: DEPOSIT_B + (BigInt(PAYMENTS) / 2n) * A_PAYS - (BigInt(PAYMENTS) / 2n) * B_PAYS,
    };
    const a = await alice.api.channel(id);
    const b = await bob.api.channel(id);
    expect(a.version).toBe(String(PAYMENTS));
    expect(b.version).toBe(String(PAYMENTS));
    expect(a.balances).toEqual([[final.alice.toString(), final.bob.toString()]]);
    expect(b.balances).toEqual(a.balances);

    await alice.api.close(id);
    await until(async () => (await bob.api.channel(id)).phase === "Withdrawn", "Bob withdrew");
    expect((await alice.api.channel(id)).phase).toBe("Withdrawn");

    // On chain: nothing left in the channel, and the payouts are the final balances.
    const holder = chain.info.contracts.assetHolderETH;
    for (const who of [alice.address, bob.address]) {
      const held = await rpc.readContract({
        address: holder,
        abi: [parseAbiItem("function holdings(bytes32) view returns (uint256)")],
        functionName: "holdings",
        args: [fundingId(id, who)],
      });
      expect(held).toBe(0n);
    }
    const endBlock = await rpc.getBlockNumber();
    const withdrawn = await rpc.getLogs({
      address: holder,
      event: parseAbiItem("event Withdrawn(bytes32 indexed fundingID, uint256 amount, address receiver)"),
      fromBlock: startBlock + 1n,
      toBlock: endBlock,
    });
    const paidTo = (who: Address) =>
      withdrawn.filter((l) => l.args.receiver?.toLowerCase() === who.toLowerCase()).map((l) => l.args.amount);
    expect(paidTo(alice.address)).toEqual([final.alice]);
    expect(paidTo(bob.address)).toEqual([final.bob]);

    // Wallets: exactly final - deposit - the gas fees of each party's own transactions.
    const fees = { alice: 0n, bob: 0n };
    for (let n = startBlock + 1n; n <= endBlock; n++) {
      const block = await rpc.getBlock({ blockNumber: n, includeTransactions: true });
      for (const tx of block.transactions) {
        const who =
          tx.from.toLowerCase() === alice.address.toLowerCase()
            ? "alice"
            : tx.from.toLowerCase() === bob.address.toLowerCase()
              ? "bob"
              : undefined;
        if (!who) continue;
        const r = await rpc.getTransactionReceipt({ hash: tx.hash });
        fees[who] += r.gasUsed * r.effectiveGasPrice;
      }
    }
    const after = {
      alice: await rpc.getBalance({ address: alice.address }),
      bob: await rpc.getBalance({ address: bob.address }),
    };
    expect(after.alice - before.alice).toBe(final.alice - DEPOSIT_A - fees.alice);
    expect(after.bob - before.bob).toBe(final.bob - DEPOSIT_B - fees.bob);
  }, 300_000);

  it("both nodes stop gracefully on SIGTERM (exit code 0)", async () => {
    alice.kill("SIGTERM");
    bob.kill("SIGTERM");
    expect(await alice.waitExit()).toEqual({ code: 0, signal: null });
    expect(await bob.waitExit()).toEqual({ code: 0, signal: null });
    expect(alice.stderr()).toContain('"msg":"node stopped"');
  });
});
