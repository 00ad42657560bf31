/**
 * One party of the ledger-channel benchmark, run as its own OS process:
 * a full client (WebSocket wire, store, chain over JSON-RPC, watcher). The store is STORE:
 * `sqlite` (commit per write, file DB), `sqlite-group` (a turn's writes in one commit),
 * `sqlite-full` (commit per write, fsync per commit) or `postgres` (DB is then a connection
 * string).
 * Bob listens and accepts; Alice opens a channel to Bob and makes N payments,
 * one after the other, timing each round (propose -> Bob checks, persists,
 * signs -> Alice checks, persists). Prints one JSON line with the figures.
 */
import { EthChain } from "../src/chain/chain-port.js";
import { connectChain } from "../src/chain/connection.js";
import { devChainPolicy } from "../src/channel/policy.js";
import { privateKeyToSigner } from "../src/channel/signer.js";
import type { Address, Hex } from "../src/channel/types.js";
import { Client } from "../src/client/client.js";
import { openPostgresStore } from "../src/store/postgres-store.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import type { Store } from "../src/store/store.js";
import { Watcher } from "../src/watcher/watcher.js";
import { createWsTransport } from "../src/wire/ws-transport.js";

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};

async function main(): Promise<void> {
  const role = env("ROLE");
  const key = env("KEY") as Hex;
  const signer = privateKeyToSigner(key);
  const conn = await connectChain({ rpcUrl: env("RPC") });
  const chain = new EthChain(conn, env("ADJ") as Hex, key);
  const kind = process.env.STORE ?? "sqlite";
  const store: Store =
    kind === "postgres"
      ? await openPostgresStore({ connection: env("DB") })
      : openSqliteStore(env("DB"), {
          groupCommit: kind === "sqlite-group",
          synchronous: kind === "sqlite-full" ? "FULL" : "NORMAL",
        });
  const transport = await createWsTransport({ signer, listen: { host: "127.0.0.1", port: 0 } });
  const policy = devChainPolicy(conn.chainId, [env("HOLDER") as Hex]);
  const client = new Client({ signer, transport, store, chain, policy, options: { pollMs: 50 } });
  client.onProposal(() => ({ accept: true }));
  await client.start();
  const watcher = new Watcher(chain, store, client, { pollMs: 200 });
  await watcher.start();
  const out = (o: unknown) =>
    process.stdout.write(`${JSON.stringify(o, (_k, v) => (typeof v === "bigint" ? `${v}` : v))}\n`);

  // Exiting normally on SIGINT lets `--cpu-prof` write its profile (bench/ledger.ts, PARTY_PROF).
  process.once("SIGINT", () => process.exit(0));
  if (role === "bob") {
    out({ ready: true, address: signer.address, url: transport.url });
    return;
  }
  const bob = env("BOB_ADDR") as Address;
  transport.addPeer(bob, env("BOB_URL"));
  const n = Number(env("N"));
  const id = await client.openChannel({
    peer: bob,
    assets: [{ chainID: BigInt(conn.chainId), ethHolder: env("HOLDER") as Hex, ccHolder: "0x" }],
    balances: [[10n ** 18n, 10n ** 18n]],
  });
  for (let i = 0; i < 200; i++) await client.pay(id, 1n); // warm up (JIT, connections, SQLite pages)
  const lat: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.pay(id, 1n);
    lat.push(performance.now() - t0);
  }
  const seconds = (performance.now() - start) / 1000;
  const pct = (xs: number[], p: number) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return (
      Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0) * 1000) / 1000
    );
  };
  // Then 64 pay requests in flight at all times (as 64 callers of one node would make them).
  const inFlight = 64;
  const payments = 8 * n;
  const v0 = client.channel(id).version ?? 0n;
  const lat64: number[] = [];
  let next = 0;
  const start64 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < payments) {
        next++;
        const t0 = performance.now();
        await client.pay(id, 1n);
        lat64.push(performance.now() - t0);
      }
    }),
  );
  const seconds64 = (performance.now() - start64) / 1000;
  out({
    updates: n,
    seconds,
    updatesPerSecond: Math.round(n / seconds),
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
    payments64: payments,
    paymentsPerSecond64: Math.round(payments / seconds64),
    updatesFor64: Number((client.channel(id).version ?? 0n) - v0),
    p50of64: pct(lat64, 0.5),
    p99of64: pct(lat64, 0.99),
    channelID: id,
  });
  await watcher.stop();
  await client.close();
  await transport.close();
  await (store.closeAsync?.() ?? store.close());
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
