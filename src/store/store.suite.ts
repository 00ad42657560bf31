/**
 * The shared test suite of the Store port (house style rule 9): every implementation must pass it,
 * so the in-memory store used by unit tests behaves like the SQLite store used by real clients.
 *
 * The factory may be asynchronous (a store on a database server connects first); the suite closes
 * every store it opened after each test, awaiting `closeAsync()` where the store has it.
 *
 * @example
 * storeSuite("memory", () => createMemoryStore());
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Machine } from "../channel/machine.js";
import { MAX_UINT64, MAX_UINT256 } from "../channel/types.js";
import { RecordEncodingError, StoreClosedError } from "./errors.js";
import { sampleRecord } from "./fixtures.testutil.js";
import type { ChannelRecord, Store } from "./store.js";

/** The record as read back, minus the store-set `updatedAt`. */
function withoutUpdatedAt(r: ChannelRecord | undefined): Omit<ChannelRecord, "updatedAt"> | undefined {
  if (r === undefined) return undefined;
  const { updatedAt: _ignored, ...rest } = r;
  return rest;
}

/** A record in dispute, with every optional part of the machine filled and extreme values. */
function disputedRecord(): ChannelRecord {
  const base = sampleRecord(99n, MAX_UINT64 - 1n);
  const current = base.machine.current!;
  const machine: Machine = {
    ...base.machine,
    idx: 1,
    phase: "Progressed",
    dispute: {
      version: MAX_UINT64,
      timeout: 1_900_000_000n,
      state: { ...current.state, version: MAX_UINT64 },
    },
  };
  return {
    ...base,
    machine,
    fundingDeadline: 1_700_000_000n,
    meta: {
      deposited: [MAX_UINT256, 0n, -5n],
      nested: { deep: [{ big: 2n ** 200n }, null, "x", 1.5, true] },
      // Keys that look like the codec's tags must come back as plain keys.
      $big: "not a bigint",
      $$also: { $big: 7n },
    },
  };
}

export function storeSuite(name: string, factory: () => Store | Promise<Store>): void {
  describe(`Store suite: ${name}`, () => {
    const opened: Store[] = [];
    const open = async (): Promise<Store> => {
      const s = await factory();
      opened.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of opened.splice(0)) {
        if (s.closeAsync) await s.closeAsync().catch(() => undefined);
        else s.close();
      }
    });

    it("starts empty", async () => {
      const s = await open();
      expect(s.getChannel(sampleRecord(1n, 0n).channelID)).toBeUndefined();
      expect(s.listChannels()).toEqual([]);
      expect(s.getMeta("lastBlock")).toBeUndefined();
    });

    it("returns exactly what was put, with updatedAt set by the store", async () => {
      const s = await open();
      const before = Date.now();
      const r = sampleRecord(1n, 5n);
      s.putChannel(r);
      const got = s.getChannel(r.channelID);
      expect(withoutUpdatedAt(got)).toStrictEqual(r);
      expect(got?.updatedAt).toBeGreaterThanOrEqual(before);
      expect(got?.updatedAt).toBeLessThanOrEqual(Date.now());
    });

    it("keeps bigints, nested states, disputes and tag-like keys exactly", async () => {
      const s = await open();
      const r = disputedRecord();
      s.putChannel(r);
      const got = s.getChannel(r.channelID);
      expect(withoutUpdatedAt(got)).toStrictEqual(r);
      expect(typeof got?.machine.current?.state.outcome.balances[0]?.[0]).toBe("bigint");
      expect(got?.meta.$big).toBe("not a bigint");
    });

    it("ignores an updatedAt handed in: the store sets it", async () => {
      const s = await open();
      const r = { ...sampleRecord(1n, 5n), updatedAt: 42 };
      s.putChannel(r);
      expect(s.getChannel(r.channelID)?.updatedAt).not.toBe(42);
    });

    it("overwrites a channel with the latest put", async () => {
      const s = await open();
      s.putChannel(sampleRecord(1n, 5n));
      const newer = sampleRecord(1n, 6n, { note: "newer" });
      s.putChannel(newer);
      expect(withoutUpdatedAt(s.getChannel(newer.channelID))).toStrictEqual(newer);
      expect(s.listChannels()).toHaveLength(1);
    });

    it("finds a channel whatever the hex case of its id", async () => {
      const s = await open();
      const r = sampleRecord(1n, 5n);
      s.putChannel(r);
      const upper = `0x${r.channelID.slice(2).toUpperCase()}` as const;
      expect(withoutUpdatedAt(s.getChannel(upper))).toStrictEqual(r);
      s.putChannel({
        ...sampleRecord(1n, 6n),
        channelID: upper,
        machine: { ...sampleRecord(1n, 6n).machine },
      });
      expect(s.listChannels()).toHaveLength(1);
    });

    it("lists every channel", async () => {
      const s = await open();
      const records = [3n, 1n, 2n].map((n) => sampleRecord(n, n * 10n));
      for (const r of records) s.putChannel(r);
      const listed = s.listChannels().map(withoutUpdatedAt);
      const byId = (a: { channelID: string } | undefined, b: { channelID: string } | undefined) =>
        (a?.channelID ?? "").localeCompare(b?.channelID ?? "");
      expect(listed.sort(byId)).toStrictEqual([...records].sort(byId));
    });

    it("deletes a channel whatever the hex case of its id, and only that one", async () => {
      const s = await open();
      const [a, b] = [sampleRecord(1n, 1n), sampleRecord(2n, 2n)];
      s.putChannel(a);
      s.putChannel(b);
      s.deleteChannel(a.channelID.toUpperCase().replace("0X", "0x") as typeof a.channelID);
      expect(s.getChannel(a.channelID)).toBeUndefined();
      expect(s.listChannels().map((r) => r.channelID)).toEqual([b.channelID]);
      s.deleteChannel(a.channelID); // deleting again is harmless
      expect(s.listChannels()).toHaveLength(1);
    });

    it("stores meta settings apart from channels, overwriting", async () => {
      const s = await open();
      s.setMeta("lastBlock", "100");
      s.setMeta("other", "");
      s.setMeta("lastBlock", "101");
      expect(s.getMeta("lastBlock")).toBe("101");
      expect(s.getMeta("other")).toBe("");
      expect(s.getMeta("missing")).toBeUndefined();
      expect(s.listChannels()).toEqual([]);
    });

    it("deletes meta settings, only the one named", async () => {
      const s = await open();
      s.setMeta("a", "1");
      s.setMeta("b", "2");
      s.deleteMeta("a");
      s.deleteMeta("missing");
      expect(s.getMeta("a")).toBeUndefined();
      expect(s.getMeta("b")).toBe("2");
    });

    it("keeps one row per record kind and id: put overwrites, delete removes only that row, list is by id", async () => {
      const s = await open();
      expect(s.listRecords("context")).toEqual([]);
      s.putRecord("context", "0xb", "B");
      s.putRecord("context", "0xa", "A");
      s.putRecord("final", "0xa", "F");
      s.putRecord("context", "0xb", "B2");
      expect(s.listRecords("context")).toEqual([
        { id: "0xa", value: "A" },
        { id: "0xb", value: "B2" },
      ]);
      s.deleteRecord("context", "0xa");
      s.deleteRecord("context", "0xmissing");
      expect(s.listRecords("context")).toEqual([{ id: "0xb", value: "B2" }]);
      expect(s.listRecords("final")).toEqual([{ id: "0xa", value: "F" }]);
      expect(s.listRecords("held")).toEqual([]);
      expect(s.listChannels()).toEqual([]);
      expect(s.getMeta("0xa")).toBeUndefined();
    });

    it("hands out copies: mutating what was put or got does not change the store", async () => {
      const s = await open();
      const r = structuredClone(sampleRecord(1n, 5n)) as ChannelRecord;
      const expected = structuredClone(r);
      s.putChannel(r);
      // Mutate the input after the put.
      (r.machine.current!.state.outcome.balances[0] as bigint[])[0] = 0n;
      (r.meta as Record<string, unknown>).note = "changed";
      // Mutate what came back.
      const got = s.getChannel(r.channelID)!;
      (got.machine.current!.sigs as (string | null)[])[0] = null;
      (s.listChannels()[0]!.peers as string[]).pop();
      expect(withoutUpdatedAt(s.getChannel(r.channelID))).toStrictEqual(expected);
    });

    it("refuses values that are not JSON with bigints, and keeps the old record", async () => {
      const s = await open();
      const r = sampleRecord(1n, 5n);
      s.putChannel(r);
      for (const bad of [() => 1, new Map(), Number.NaN, Symbol("x"), new Date(0)]) {
        expect(() => s.putChannel({ ...r, meta: { bad } })).toThrow(RecordEncodingError);
      }
      expect(withoutUpdatedAt(s.getChannel(r.channelID))).toStrictEqual(r);
    });

    it("durable() resolves after writes (reads see them at once) and rejects after close", async () => {
      const s = await open();
      const r = sampleRecord(3n, 4n);
      s.putChannel(r);
      s.setMeta("k", "v");
      s.putRecord("kind", "id", "value");
      expect(withoutUpdatedAt(s.getChannel(r.channelID))).toStrictEqual(r);
      await s.durable();
      await s.durable();
      expect(s.getMeta("k")).toBe("v");
      // A working store has not failed, and closing it is not a failure either.
      const failed = await Promise.race([s.failure(), new Promise((r) => setTimeout(r, 20, "pending"))]);
      expect(failed).toBe("pending");
      s.close();
      const failedAfterClose = await Promise.race([
        s.failure(),
        new Promise((r) => setTimeout(r, 20, "pending")),
      ]);
      expect(failedAfterClose).toBe("pending");
      await expect(s.durable()).rejects.toBeInstanceOf(StoreClosedError);
    });

    it("refuses calls after close; close twice is harmless", async () => {
      const s = await open();
      s.close();
      s.close();
      expect(() => s.getChannel(sampleRecord(1n, 0n).channelID)).toThrow(StoreClosedError);
      expect(() => s.putChannel(sampleRecord(1n, 0n))).toThrow(StoreClosedError);
      expect(() => s.listChannels()).toThrow(StoreClosedError);
      expect(() => s.getMeta("k")).toThrow(StoreClosedError);
      expect(() => s.setMeta("k", "v")).toThrow(StoreClosedError);
      expect(() => s.deleteChannel(sampleRecord(1n, 0n).channelID)).toThrow(StoreClosedError);
      expect(() => s.deleteMeta("k")).toThrow(StoreClosedError);
      expect(() => s.putRecord("k", "i", "v")).toThrow(StoreClosedError);
      expect(() => s.deleteRecord("k", "i")).toThrow(StoreClosedError);
      expect(() => s.listRecords("k")).toThrow(StoreClosedError);
    });
  });
}
