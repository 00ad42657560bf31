/**
 * Virtual channels through one intermediary: open and close latency (no
 * transaction either way), update rate of V between Alice and Bob next to a
 * ledger channel's measured the same way in the same run, and how many
 * messages the intermediary receives per payment over V (target: 0).
 *
 * The three parties run in one process (WebSocket over loopback, SQLite
 * stores, watchers running): the figures compare V with a ledger channel on
 * equal terms; the two-process ledger figure is in ledger.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EthChain } from "../src/chain/chain-port.js";
import { connectChain } from "../src/chain/connection.js";
import { deployPerun } from "../src/chain/deploy.js";
import { createEmbeddedChain, devKey } from "../src/chain/embedded.js";
import { type RentalTerms, rentalFee } from "../src/channel/fees.js";
import { privateKeyToSigner } from "../src/channel/signer.js";
import type { Address, Hex } from "../src/channel/types.js";
import { Client } from "../src/client/client.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import { Watcher } from "../src/watcher/watcher.js";
import { createWsTransport, type WsTransport } from "../src/wire/ws-transport.js";

export interface VirtualRecord {
  readonly openLatencyMs: { readonly intermediaries1: number; readonly intermediaries3: null };
  readonly closeLatencyMs: { readonly intermediaries1: number; readonly intermediaries3: null };
  readonly updatesPerSecond: number;
  readonly ledgerUpdatesPerSecondSameSetup: number;
  readonly ratioToLedger: number;
  readonly intermediaryMessagesPerPayment: number;
  readonly note: string;
}

const ETH = 10n ** 18n;
const terms: RentalTerms = { baseFee: 1_000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.floor(s.length / 2)] ?? 0) * 100) / 100;
}

export async function measureVirtual(payments = 1_000): Promise<VirtualRecord> {
  const embedded = await createEmbeddedChain();
  const conn = await connectChain({ embedded });
  const { adjudicator, assetHolderETH } = await deployPerun(conn, devKey(0));
  const eth = { chainID: BigInt(conn.chainId), ethHolder: assetHolderETH, ccHolder: "0x" as Hex };
  const dir = mkdtempSync(join(tmpdir(), "perun-vbench-"));
  const parties: {
    client: Client;
    transport: WsTransport;
    watcher: Watcher;
    address: Address;
    inbound: number;
  }[] = [];
  try {
    for (const [i, name] of [
      [1, "alice"],
      [3, "ingrid"],
      [2, "bob"],
    ] as const) {
      const key = devKey(i);
      const signer = privateKeyToSigner(key);
      const store = openSqliteStore(join(dir, `${name}.db`));
      const transport = await createWsTransport({ signer, listen: { host: "127.0.0.1", port: 0 } });
      const chain = new EthChain(conn, adjudicator, key);
      const client = new Client({
        signer,
        transport,
        store,
        chain,
        options: { pollMs: 20, ...(name === "ingrid" ? { intermediary: { terms } } : {}) },
      });
      client.onProposal(() => ({ accept: true }));
      await client.start();
      const watcher = new Watcher(chain, store, client, { pollMs: 100 });
      await watcher.start();
      const party = { client, transport, watcher, address: signer.address, inbound: 0 };
      transport.onMessage(() => {
        party.inbound++;
      });
      parties.push(party);
    }
    const [alice, ingrid, bob] = parties as [(typeof parties)[0], (typeof parties)[0], (typeof parties)[0]];
    for (const a of parties)
      for (const b of parties) if (a !== b) a.transport.addPeer(b.address, b.transport.url ?? "");
    const l1 = await alice.client.openChannel({
      peer: ingrid.address,
      assets: [eth],
      balances: [[100n * ETH, 100n * ETH]],
    });
    const l2 = await bob.client.openChannel({
      peer: ingrid.address,
      assets: [eth],
      balances: [[100n * ETH, 100n * ETH]],
    });
    const fee = rentalFee(terms, 2n * ETH, 3_600n) + 1_000n;

    const opens: number[] = [];
    const closes: number[] = [];
    let v: Hex | undefined;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const id = await alice.client.openVirtualChannel({
        peer: bob.address,
        via: ingrid.address,
        ledger: l1,
        peerLedger: l2,
        balances: [[ETH, ETH]],
        fee: [fee],
        seconds: 3_600n,
      });
      // open = both ends funded (Bob's lock is signed in parallel with Alice's)
      while (bob.client.channel(id).phase !== "Acting") await new Promise((r) => setTimeout(r, 1));
      opens.push(performance.now() - t0);
      if (i < 4) {
        const t1 = performance.now();
        await alice.client.settleVirtual(id);
        while (bob.client.channel(id).virtual?.unlocked !== true) await new Promise((r) => setTimeout(r, 1));
        closes.push(performance.now() - t1);
      } else v = id;
    }
    const vid = v as Hex;
    for (let i = 0; i < 100; i++) await alice.client.pay(vid, 1n); // warm up
    const before = ingrid.inbound;
    let t = performance.now();
    for (let i = 0; i < payments; i++) await alice.client.pay(vid, 1n);
    const vRate = payments / ((performance.now() - t) / 1000);
    const ingridMsgs = ingrid.inbound - before;
    for (let i = 0; i < 100; i++) await alice.client.pay(l1, 1n);
    t = performance.now();
    for (let i = 0; i < payments; i++) await alice.client.pay(l1, 1n);
    const lRate = payments / ((performance.now() - t) / 1000);
    return {
      openLatencyMs: { intermediaries1: median(opens), intermediaries3: null },
      closeLatencyMs: { intermediaries1: median(closes), intermediaries3: null },
      updatesPerSecond: Math.round(vRate),
      ledgerUpdatesPerSecondSameSetup: Math.round(lRate),
      ratioToLedger: Math.round((vRate / lRate) * 100) / 100,
      intermediaryMessagesPerPayment: ingridMsgs / payments,
      note:
        "one process, three clients over WebSocket loopback with SQLite stores; open = V proposed until both ends " +
        "funded, close = final state until both ledger channels unlocked; no transaction in either. Paths of 3 " +
        "intermediaries are not implemented yet (null).",
    };
  } finally {
    for (const p of parties) {
      await p.watcher.stop();
      await p.client.close();
      await p.transport.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
