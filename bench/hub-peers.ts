/**
 * Peers of the hub benchmark and restart test (bench/hub.ts), many per OS process: each a full client
 * (its own key, WebSocket transport that dials the hub, in-memory store: the peers are the load, the
 * hub is what is measured) with one ledger channel to the hub. Driven over the IPC channel of `fork`:
 *
 *   { cmd: "open" }            open every peer's channel (1 ETH from the peer, nothing from the hub)
 *   { cmd: "load" }            every peer pays the hub 1 wei, again and again, one payment in flight
 *   { cmd: "stats" }           payments made, latencies, each peer's last success (ms since epoch)
 *   { cmd: "quiet" }           stop paying; answers once every payment in flight has ended
 *   { cmd: "views" }           each channel's version and balances as its peer sees it
 *
 * A failed payment (hub down, PEER_OFFLINE, the peer's update redelivered) is retried after 500 ms:
 * nothing here helps a channel recover but the client's own liveness (re-dial, re-sync).
 */
import { EthChain } from "../src/chain/chain-port.js";
import { connectChain } from "../src/chain/connection.js";
import { devChainPolicy } from "../src/channel/policy.js";
import { privateKeyToSigner } from "../src/channel/signer.js";
import type { Address, Hex } from "../src/channel/types.js";
import { Client } from "../src/client/client.js";
import { createMemoryStore } from "../src/store/memory-store.js";
import { createWsTransport, type WsTransport } from "../src/wire/ws-transport.js";

interface Peer {
  readonly client: Client;
  readonly transport: WsTransport;
  channelID?: Hex;
  lastOk: number;
  paid: number;
  failed: number;
}

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};

async function main(): Promise<void> {
  const keys = env("KEYS").split(",") as Hex[];
  const hub = env("HUB_ADDR") as Address;
  const hubUrl = env("HUB_URL");
  const holder = env("HOLDER") as Hex;
  const conn = await connectChain({ rpcUrl: env("RPC") });
  const policy = devChainPolicy(conn.chainId, [holder]);
  const peers: Peer[] = [];
  /** Failed payments by error code (or name), and wire warnings: why channels did not work. */
  const failures = new Map<string, number>();
  for (const key of keys) {
    const signer = privateKeyToSigner(key);
    const transport = await createWsTransport({
      signer,
      log: (level, msg) => {
        if (level === "warn" || level === "error")
          failures.set(`wire: ${msg}`, (failures.get(`wire: ${msg}`) ?? 0) + 1);
      },
    });
    transport.addPeer(hub, hubUrl);
    const client = new Client({
      signer,
      transport,
      store: createMemoryStore(),
      chain: new EthChain(conn, env("ADJ") as Hex, key),
      policy,
      // Many clients share one chain: slow polls (funding is the only thing they wait for there).
      options: { pollMs: 500, peerTimeoutMs: 5_000 },
    });
    client.onProposal(() => ({ accept: false, reason: "a load peer" }));
    await client.start();
    peers.push({ client, transport, lastOk: 0, paid: 0, failed: 0 });
  }
  const latencies: number[] = [];
  let loading = false;
  const running = new Set<Promise<void>>();

  const open = async (): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < peers.length) {
        const p = peers[next++] as Peer;
        p.channelID = await p.client.openChannel({
          peer: hub,
          assets: [{ chainID: BigInt(conn.chainId), ethHolder: holder, ccHolder: "0x" }],
          balances: [[10n ** 18n, 0n]],
          challengeDuration: 60n,
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  };

  const payLoop = async (p: Peer): Promise<void> => {
    while (loading) {
      const t0 = performance.now();
      try {
        await p.client.pay(p.channelID as Hex, 1n);
        latencies.push(performance.now() - t0);
        p.paid++;
        p.lastOk = Date.now();
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        const why = typeof code === "string" ? code : e instanceof Error ? e.name : String(e);
        failures.set(why, (failures.get(why) ?? 0) + 1);
        p.failed++;
        // A wallet whose payment failed tries again after a while, not in a tight loop.
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  const answer = (id: number, body: unknown) =>
    process.send?.({
      id,
      body: JSON.parse(JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? `${v}` : v))),
    });

  process.on("message", (m: { id: number; cmd: string }) => {
    void (async () => {
      try {
        if (m.cmd === "open") {
          await open();
          answer(m.id, { opened: peers.map((p) => p.channelID) });
        } else if (m.cmd === "load") {
          loading = true;
          for (const p of peers) {
            const run = payLoop(p);
            running.add(run);
            void run.finally(() => running.delete(run));
          }
          answer(m.id, { loading: peers.length });
        } else if (m.cmd === "stats") {
          const lat = latencies.splice(0);
          answer(m.id, {
            paid: peers.reduce((s, p) => s + p.paid, 0),
            failed: peers.reduce((s, p) => s + p.failed, 0),
            lastOk: peers.map((p) => p.lastOk),
            failures: Object.fromEntries(failures),
            latencies: lat,
          });
        } else if (m.cmd === "quiet") {
          loading = false;
          await Promise.all(running);
          answer(m.id, { quiet: true });
        } else if (m.cmd === "views") {
          answer(
            m.id,
            peers.map((p) => {
              const c = p.client.channel(p.channelID as Hex);
              return { channelID: c.channelID, version: c.version, balances: c.balances, phase: c.phase };
            }),
          );
        }
      } catch (e) {
        answer(m.id, { error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
      }
    })();
  });
  process.send?.({ id: 0, body: { ready: peers.length } });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
