/**
 * The SQLite store: the shared Store suite on a real file, plus what only a file can show: data
 * survives close and reopen, a crash (SIGKILL of a writer process), corrupt rows surface as typed
 * errors, and a second opener is locked out.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { CORRUPT_CASES, type CorruptEdit, tamperedText } from "./corrupt-cases.testutil.js";
import { CorruptRecordError, StoreLockedError, StoreOpenError } from "./errors.js";
import { sampleRecord } from "./fixtures.testutil.js";
import { openSqliteStore } from "./sqlite-store.js";
import { storeSuite } from "./store.suite.js";

const dir = mkdtempSync(join(tmpdir(), "perun-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = (): string => join(dir, `store-${files++}.db`);

storeSuite("sqlite", () => openSqliteStore(freshPath()));
storeSuite("sqlite, group commit", () => openSqliteStore(freshPath(), { groupCommit: true }));

/** Rewrites the stored JSON of one row with `edit` (or replaces the text), bypassing the store. */
function tamper(path: string, channelID: string, edit: CorruptEdit): void {
  const db = new Database(path);
  const key = channelID.toLowerCase();
  const row = db
    .prepare<[string], { record: string }>("SELECT record FROM channels WHERE channel_id = ?")
    .get(key);
  db.prepare("UPDATE channels SET record = ? WHERE channel_id = ?").run(tamperedText(row!.record, edit), key);
  db.close();
}

describe("openSqliteStore", () => {
  it("keeps records and meta across close and reopen", () => {
    const path = freshPath();
    const s = openSqliteStore(path);
    const r = sampleRecord(1n, 7n);
    s.putChannel(r);
    s.setMeta("lastBlock", "1234");
    s.close();
    const again = openSqliteStore(path);
    const { updatedAt, ...rest } = again.getChannel(r.channelID)!;
    expect(rest).toStrictEqual(r);
    expect(typeof updatedAt).toBe("number");
    expect(again.getMeta("lastBlock")).toBe("1234");
    again.close();
  });

  it("keeps a role's records across close and reopen, and adds their table to a store of schema 1", () => {
    const path = freshPath();
    const s = openSqliteStore(path);
    s.putRecord("context", "0x01", "ctx");
    s.close();
    const again = openSqliteStore(path);
    expect(again.listRecords("context")).toEqual([{ id: "0x01", value: "ctx" }]);
    again.close();
    // A store written before the records table existed (schema 1) opens, keeps its channels, gains it.
    const old = freshPath();
    const db = new Database(old);
    db.exec(
      "CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1, 1);" +
        "CREATE TABLE channels (channel_id TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL, updated_at INTEGER NOT NULL);" +
        "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL); INSERT INTO meta VALUES ('lastBlock', '9');",
    );
    db.close();
    const migrated = openSqliteStore(old);
    expect(migrated.getMeta("lastBlock")).toBe("9");
    migrated.putRecord("held", "0x02", "h");
    expect(migrated.listRecords("held")).toEqual([{ id: "0x02", value: "h" }]);
    migrated.close();
  });

  it("group commit: a turn's writes commit together after the turn; close commits what is pending", async () => {
    const path = freshPath();
    const s = openSqliteStore(path, { groupCommit: true });
    s.putChannel(sampleRecord(1n, 1n));
    s.putChannel(sampleRecord(2n, 2n));
    let committed = false;
    const durable = s.durable().then(() => {
      committed = true;
    });
    expect(committed).toBe(false);
    await durable;
    expect(committed).toBe(true);
    s.putChannel(sampleRecord(3n, 3n));
    s.close(); // before the turn ended: close commits it
    const again = openSqliteStore(path);
    const versions = again.listChannels().map((r) => Number(r.machine.current?.state.version));
    expect(versions.sort()).toStrictEqual([1, 2, 3]);
    again.close();
  });

  it("stamps updatedAt with the injected clock", () => {
    const s = openSqliteStore(freshPath(), { now: () => 1_700_000_000_000 });
    s.putChannel(sampleRecord(1n, 0n));
    expect(s.getChannel(sampleRecord(1n, 0n).channelID)?.updatedAt).toBe(1_700_000_000_000);
    s.close();
  });

  it("locks the file: a second opener gets StoreLockedError until the first closes", () => {
    const path = freshPath();
    const s = openSqliteStore(path);
    expect(() => openSqliteStore(path)).toThrow(StoreLockedError);
    s.close();
    openSqliteStore(path).close();
  });

  it("says which path and why when the file cannot be opened", () => {
    const missing = join(dir, "no-such-dir", "x.db");
    expect(() => openSqliteStore(missing)).toThrow(StoreOpenError);
    try {
      openSqliteStore(missing);
    } catch (e) {
      expect((e as StoreOpenError).path).toBe(missing);
      expect((e as StoreOpenError).hint).toMatch(/directory exists/);
    }
    const garbage = join(dir, "garbage.db");
    writeFileSync(garbage, "this is not a database, just some text that is long enough ".repeat(100));
    expect(() => openSqliteStore(garbage)).toThrow(/not a valid SQLite database/);
  });

  it("refuses a store written by a newer schema", () => {
    const path = freshPath();
    openSqliteStore(path).close();
    const db = new Database(path);
    db.prepare("UPDATE schema_version SET version = 99").run();
    db.close();
    expect(() => openSqliteStore(path)).toThrow(/schema version 99 is newer/);
  });

  describe("corrupt rows", () => {
    it.each(CORRUPT_CASES)("%s -> CorruptRecordError naming the channel and field", (_name, edit, field) => {
      const path = freshPath();
      const s = openSqliteStore(path);
      const bad = sampleRecord(1n, 3n);
      const good = sampleRecord(2n, 4n);
      s.putChannel(bad);
      s.putChannel(good);
      s.close();
      tamper(path, bad.channelID, edit);

      const again = openSqliteStore(path);
      let err: unknown;
      try {
        again.getChannel(bad.channelID);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorruptRecordError);
      const c = err as CorruptRecordError;
      expect(c.code).toBe("STORE_CORRUPT_RECORD");
      expect(c.channelID).toBe(bad.channelID.toLowerCase());
      expect(c.field.startsWith(field)).toBe(true);
      expect(c.message).toContain(bad.channelID.toLowerCase());

      // The rest of the store stays usable: other channels read, the listing names the bad row.
      expect(again.getChannel(good.channelID)?.machine.current?.state.version).toBe(4n);
      expect(() => again.listChannels()).toThrow(CorruptRecordError);
      const scan = again.scanChannels();
      expect(scan.records.map((r) => r.channelID)).toEqual([good.channelID]);
      expect(scan.corrupt.map((r) => r.channelID)).toEqual([bad.channelID.toLowerCase()]);
      // Overwriting the bad row with a good record repairs it.
      again.putChannel(bad);
      expect(again.listChannels()).toHaveLength(2);
      again.close();
    });

    it("listChannels names every corrupt row", () => {
      const path = freshPath();
      const s = openSqliteStore(path);
      const recs = [1n, 2n, 3n].map((n) => sampleRecord(n, n));
      for (const r of recs) s.putChannel(r);
      s.close();
      tamper(path, recs[0]!.channelID, "{}");
      tamper(path, recs[2]!.channelID, "null");
      const again = openSqliteStore(path);
      try {
        again.listChannels();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptRecordError);
        expect((e as CorruptRecordError).rows).toHaveLength(2);
      }
      again.close();
    });
  });

  describe("crash durability", () => {
    const require = createRequire(import.meta.url);
    const viteNode = join(require.resolve("vite-node/package.json"), "..", "vite-node.mjs");
    const child = join(import.meta.dirname, "crash-writer.testutil.ts");

    it.each([
      ["a commit per write", "single"],
      ["group commit, reported after durable()", "group"],
    ])("every write a writer reported survives its kill -9, and the lock dies with it (%s)", async (_name, mode) => {
      const path = freshPath();
      const proc: ChildProcess = spawn(process.execPath, [viteNode, child, path, "20000", mode], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      const reported: bigint[] = [];
      let stderr = "";
      proc.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      // Kill at an arbitrary point after a few hundred commits.
      const killAfter = 200 + Math.floor(Math.random() * 400);
      let lockedWhileRunning: unknown;
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        proc.on("close", (_code, sig) => resolve(sig)),
      );
      let buffered = "";
      proc.stdout!.on("data", (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          if (line === "ready" && lockedWhileRunning === undefined) {
            try {
              openSqliteStore(path).close();
              lockedWhileRunning = "opened";
            } catch (e) {
              lockedWhileRunning = e;
            }
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
      expect(lockedWhileRunning).toBeInstanceOf(StoreLockedError);
      expect(reported.length).toBeGreaterThanOrEqual(killAfter);

      const s = openSqliteStore(path);
      for (const n of reported) {
        const rec = s.getChannel(sampleRecord(n, n).channelID);
        expect(rec?.machine.current?.state.version, `step ${n}`).toBe(n);
      }
      expect(BigInt(s.getMeta("last")!)).toBeGreaterThanOrEqual(reported[reported.length - 1]!);
      s.close();
    });
  });
});
