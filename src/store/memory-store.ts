/**
 * In-memory Store for unit tests and throwaway clients: same contract as the SQLite store (both pass
 * ./store.suite.ts), nothing survives the process.
 *
 * Records are kept as the same bigint-safe JSON text the SQLite store writes (./json.ts), so every
 * read is a fresh deep copy (a caller mutating what it stored or got back cannot change the store) and
 * a record survives here exactly when it survives there: values the codec refuses (functions, Maps,
 * NaN) fail on put in both. Channel ids are keyed case-insensitively, like the SQLite store. Records
 * are not re-validated on read: nothing but this process can have written them.
 */
import { StoreClosedError } from "./errors.js";
import { decodeJson } from "./json.js";
import { channelKey, encodeRecord } from "./record.js";
import type { ChannelRecord, Store } from "./store.js";

export interface MemoryStoreOptions {
  /** Clock for `updatedAt` (milliseconds since the epoch); default `Date.now`. */
  readonly now?: () => number;
}

/**
 * A Store held in a Map.
 *
 * @example
 * const store = createMemoryStore();
 * store.putChannel(record);
 * store.getChannel(record.channelID); // an equal copy
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const now = options.now ?? Date.now;
  const channels = new Map<string, { text: string; updatedAt: number }>();
  const read = (k: string): ChannelRecord | undefined => {
    const row = channels.get(k);
    if (row === undefined) return undefined;
    return { ...(decodeJson(row.text, "record") as ChannelRecord), updatedAt: row.updatedAt };
  };
  const meta = new Map<string, string>();
  const records = new Map<string, Map<string, string>>();
  let closed = false;
  const open = (): void => {
    if (closed) throw new StoreClosedError(":memory:");
  };
  return {
    putChannel(record) {
      open();
      channels.set(channelKey(record.channelID), { text: encodeRecord(record), updatedAt: now() });
    },
    getChannel(channelID) {
      open();
      return read(channelKey(channelID));
    },
    listChannels() {
      open();
      return [...channels.keys()].sort().map((k) => read(k) as ChannelRecord);
    },
    deleteChannel(channelID) {
      open();
      channels.delete(channelKey(channelID));
    },
    getMeta(key) {
      open();
      return meta.get(key);
    },
    setMeta(key, value) {
      open();
      meta.set(key, value);
    },
    deleteMeta(key) {
      open();
      meta.delete(key);
    },
    putRecord(kind, id, value) {
      open();
      const rows = records.get(kind) ?? new Map<string, string>();
      rows.set(id, value);
      records.set(kind, rows);
    },
    deleteRecord(kind, id) {
      open();
      records.get(kind)?.delete(id);
    },
    listRecords(kind) {
      open();
      return [...(records.get(kind) ?? new Map<string, string>()).entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([id, value]) => ({ id, value }));
    },
    durable() {
      return closed ? Promise.reject(new StoreClosedError(":memory:")) : Promise.resolve();
    },
    // Memory does not fail.
    failure: () => new Promise<never>(() => undefined),
    close() {
      closed = true;
    },
  };
}
