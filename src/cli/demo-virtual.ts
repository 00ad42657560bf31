/**
 * The virtual-channel part of `perun demo` (design.md section 5): Alice and
 * Bob share no ledger channel; each has one with Ingrid. They open a virtual
 * channel through her with no transaction, pay each other directly (Ingrid
 * sees none of it), close it back into both ledger channels, then close the
 * ledger channels on chain. Every party's on-chain balance is printed and
 * checked: Ingrid ends with exactly her fee.
 *
 * The three clients run in this process over the in-process wire; the same
 * client runs in `perun node` over WebSockets.
 */
import { formatEther, parseEther } from "viem";
import { EthChain } from "../chain/chain-port.js";
import type { ChainConnection } from "../chain/connection.js";
import { devKey } from "../chain/embedded.js";
import { type RentalTerms, rentalFee } from "../channel/fees.js";
import { devChainPolicy } from "../channel/policy.js";
import { privateKeyToSigner } from "../channel/signer.js";
import type { Address, Hex } from "../channel/types.js";
import { Client, type ClientEvent } from "../client/client.js";
import { PerunError } from "../errors.js";
import { createMemoryStore } from "../store/memory-store.js";
import { Watcher } from "../watcher/watcher.js";
import { createMemoryNetwork } from "../wire/memory-transport.js";

interface Party {
  readonly name: string;
  readonly address: Address;
  readonly client: Client;
  readonly watcher: Watcher;
  readonly withdrawn: Map<string, bigint>;
  fees: bigint;
}

export async function runVirtualDemo(
  conn: ChainConnection,
  contracts: { adjudicator: Hex; assetHolderETH: Hex },
  payments: number,
  log: (s: string) => void,
): Promise<void> {
  const terms: RentalTerms = {
    baseFee: parseEther("0.001"),
    ratePerSecondPerUnit: 10n ** 11n,
    maxDurationSeconds: 86_400n,
  };
  const net = createMemoryNetwork();
  const eth = { chainID: BigInt(conn.chainId), ethHolder: contracts.assetHolderETH, ccHolder: "0x" as Hex };
  const parties: Party[] = [];
  for (const [name, i] of [
    ["Alice", 4],
    ["Ingrid", 5],
    ["Bob", 6],
  ] as const) {
    const key = devKey(i);
    const signer = privateKeyToSigner(key);
    const store = createMemoryStore();
    const chain = new EthChain(conn, contracts.adjudicator, key);
    const client = new Client({
      signer,
      transport: net.transport(signer),
      store,
      chain,
      policy: devChainPolicy(conn.chainId, [contracts.assetHolderETH]),
      options: {
        pollMs: 20,
        concludeFinalGraceMs: 500,
        ...(name === "Ingrid" ? { intermediary: { terms } } : {}),
      },
    });
    client.onProposal(() => ({ accept: true }));
    const party: Party = {
      name,
      address: signer.address,
      client,
      watcher: new Watcher(chain, store, client, { pollMs: 20 }),
      withdrawn: new Map(),
      fees: 0n,
    };
    client.onEvent((e: ClientEvent) => {
      if (e.type === "withdrawn")
        party.withdrawn.set(e.channelID, (e.amounts[0] ?? 0n) + (party.withdrawn.get(e.channelID) ?? 0n));
    });
    await client.start();
    await party.watcher.start();
    parties.push(party);
  }
  const [alice, ingrid, bob] = parties as [Party, Party, Party];
  const balance = (p: Party) => conn.publicClient.getBalance({ address: p.address });
  const before = await Promise.all(parties.map(balance));
  try {
    const deposit = parseEther("2");
    const l1 = await alice.client.openChannel({
      peer: ingrid.address,
      assets: [eth],
      balances: [[deposit, deposit]],
    });
    const l2 = await bob.client.openChannel({
      peer: ingrid.address,
      assets: [eth],
      balances: [[deposit, deposit]],
    });
    await until(
      () => ingrid.client.channel(l1).phase === "Acting" && ingrid.client.channel(l2).phase === "Acting",
    );
    log(
      `\nledger channels: Alice-Ingrid ${l1.slice(0, 10)}..., Bob-Ingrid ${l2.slice(0, 10)}... (2 ETH each side)`,
    );

    const seconds = 3_600n;
    const fee = rentalFee(terms, parseEther("2"), seconds) + 1_000n;
    const blockBefore = await conn.publicClient.getBlockNumber();
    const t0 = performance.now();
    const v = await alice.client.openVirtualChannel({
      peer: bob.address,
      via: ingrid.address,
      ledger: l1,
      peerLedger: l2,
      balances: [[parseEther("1"), parseEther("1")]],
      fee: [fee],
      seconds,
    });
    await until(() => bob.client.channel(v).phase === "Acting");
    const openMs = performance.now() - t0;
    const blocksAtOpen = (await conn.publicClient.getBlockNumber()) - blockBefore;
    log(
      `virtual channel ${v.slice(0, 10)}... Alice <-> Bob through Ingrid opened in ${openMs.toFixed(1)} ms, ` +
        `${blocksAtOpen} transactions; fee to Ingrid ${formatEther(fee)} ETH (1h rent of 2 ETH collateral)`,
    );
    const t1 = performance.now();
    for (let i = 0; i < payments; i++) {
      if (i % 3 === 2) await bob.client.pay(v, parseEther("0.001"));
      else await alice.client.pay(v, parseEther("0.001"));
    }
    const ms = performance.now() - t1;
    const vb = alice.client.channel(v).balances?.[0] ?? [];
    log(
      `${payments} payments over the virtual channel in ${ms.toFixed(0)} ms, none seen by Ingrid; ` +
        `V: Alice ${formatEther(vb[0] ?? 0n)}, Bob ${formatEther(vb[1] ?? 0n)}`,
    );
    await alice.client.settleVirtual(v);
    await until(() => bob.client.channel(v).virtual?.unlocked === true);
    log(
      `virtual channel closed into both ledger channels, ${(await conn.publicClient.getBlockNumber()) - blockBefore} transactions`,
    );

    await Promise.all([alice.client.settle(l1), bob.client.settle(l2)]);
    await until(
      () =>
        ingrid.client.channel(l1).phase === "Withdrawn" && ingrid.client.channel(l2).phase === "Withdrawn",
    );
    const after = await Promise.all(parties.map(balance));
    const aliceOut = (alice.withdrawn.get(l1) ?? 0n) - deposit;
    const bobOut = (bob.withdrawn.get(l2) ?? 0n) - deposit;
    const ingridOut = (ingrid.withdrawn.get(l1) ?? 0n) + (ingrid.withdrawn.get(l2) ?? 0n) - 2n * deposit;
    log("\non-chain result (ETH): party, net from channels, wallet before -> after (difference = net - gas)");
    for (const [i, p] of parties.entries()) {
      const netOut = [aliceOut, ingridOut, bobOut][i] as bigint;
      log(
        `${p.name.padEnd(7)} ${formatEther(netOut).padStart(12)}   ${formatEther(before[i] as bigint)} -> ${formatEther(after[i] as bigint)}`,
      );
    }
    const expectAlice = (vb[0] ?? 0n) - parseEther("1") - fee;
    const expectBob = (vb[1] ?? 0n) - parseEther("1");
    if (aliceOut !== expectAlice || bobOut !== expectBob || ingridOut !== fee) {
      throw new PerunError("DEMO_CHECK_FAILED", "Virtual channel payouts do not match the final state.", {
        details: { aliceOut: `${aliceOut}`, bobOut: `${bobOut}`, ingridOut: `${ingridOut}`, fee: `${fee}` },
      });
    }
    log("check: Alice and Bob got exactly V's outcome (Alice minus the fee), Ingrid exactly her fee. OK");
  } finally {
    for (const p of parties) {
      await p.watcher.stop();
      await p.client.close();
    }
  }
}

async function until(pred: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end)
      throw new PerunError("DEMO_TIMEOUT", "The demo timed out waiting for a channel step.");
    await new Promise((r) => setTimeout(r, 5));
  }
}
