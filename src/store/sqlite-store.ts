/**
 * The durable Store (design.md section 2, house style rule 5: persist before acting) on SQLite via
 * better-sqlite3, whose calls are synchronous and commit before they return.
 *
 * Durability: WAL journal with `synchronous = NORMAL` by default. A commit is in the WAL file (in the
 * OS page cache) when `putChannel` returns, so it survives a crash or `kill -9` of the process, which
 * is the failure a client must survive between persisting a state and sending its signature. It may
 * lose the last transactions on power loss or an OS crash; choose `synchronous: "FULL"` to fsync the
 * WAL on every commit (slower, survives power loss on honest disks).
 *
 * Single writer: the file is opened with `locking_mode = EXCLUSIVE` and written once at open, which
 * takes and keeps the exclusive lock until `close()` (or process death, when the OS drops it). A second
 * opener, in this or another process, gets `StoreLockedError`: two clients signing from one store could
 * each sign a state the other never saw. In exclusive WAL mode SQLite keeps the WAL index in heap
 * memory, so no `-shm` file is created; the `-wal` file beside the database is part of it (copy both,
 * or close the store first, to back it up).
 *
 * Corrupt rows: `getChannel` throws `CorruptRecordError` for that channel only. `listChannels` reads
 * every row and, if any is corrupt, throws one `CorruptRecordError` listing all of them (`rows`), rather
 * than skipping: a channel silently missing at restart is a channel nobody watches, whose funds a
 * cheating peer can then take with a stale state. `scanChannels()` returns the good records and the
 * corrupt rows separately, for recovery tools.
 *
 * Schema: `schema_version` (one row), `channels(channel_id, record, updated_at)` with the record as
 * bigint-safe JSON (./json.ts), `meta(key, value)`, `records(kind, id, value)` (a role's own records, one row each). Migrations run in one exclusive transaction at open.
 */
import Database from "better-sqlite3";
import {
  CorruptRecordError,
  type CorruptRow,
  StoreClosedError,
  StoreLockedError,
  StoreOpenError,
  StoreWriteError,
} from "./errors.js";
import { channelKey, decodeRecord, encodeRecord } from "./record.js";
import type { ChannelRecord, Store } from "./store.js";

export interface SqliteStoreOptions {
  /**
   * `"NORMAL"` (default): survives process crashes; power loss may lose the last commits.
   * `"FULL"`: also survives power loss, at the cost of an fsync per commit.
   */
  readonly synchronous?: "NORMAL" | "FULL";
  /** Milliseconds to wait for another connection's lock before `StoreLockedError`. Default 0. */
  readonly lockTimeoutMs?: number;
  /** Clock for `updatedAt` (milliseconds since the epoch); default `Date.now`. */
  readonly now?: () => number;
  /**
   * Gathers the writes of one turn of the event loop into one transaction, committed right after it
   * (`durable()` resolves then): a hub updating many channels at once pays one commit (and, with
   * `synchronous: "FULL"`, one fsync) per turn instead of one per write. Without it (the default)
   * every write is committed before it returns. Only for callers that await `durable()` before acting
   * on a write, as the client does.
   */
  readonly groupCommit?: boolean;
}

export interface SqliteStore extends Store {
  readonly path: string;
  /** Every record that decodes, and every row that does not (never throws `CorruptRecordError`). */
  scanChannels(): { records: ChannelRecord[]; corrupt: CorruptRow[] };
}

/** Schema migrations; entry i takes the database from version i to version i + 1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE channels (
     channel_id TEXT PRIMARY KEY NOT NULL,
     record     TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE meta (
     key   TEXT PRIMARY KEY NOT NULL,
     value TEXT NOT NULL
   );`,
  // One row per record a role keeps (issue: an intermediary re-wrote all of hers on every change).
  `CREATE TABLE records (
     kind  TEXT NOT NULL,
     id    TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (kind, id)
   ) WITHOUT ROWID;`,
];
export const SCHEMA_VERSION = MIGRATIONS.length;

interface Row {
  channel_id: string;
  record: string;
  updated_at: number;
}

/**
 * Opens (creating if needed) the channel store at `path` and locks it for this connection.
 *
 * @example
 * const store = openSqliteStore("./perun.db");
 * store.putChannel(record); // on disk (WAL) when this returns
 * store.close();
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  const now = options.now ?? Date.now;
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: options.lockTimeoutMs ?? 0 });
  } catch (e) {
    throw openError(path, e);
  }
  try {
    initialise(db, options.synchronous ?? "NORMAL");
  } catch (e) {
    db.close();
    throw openError(path, e);
  }

  // Prepared once: preparing costs more than running these statements.
  const upsert = db.prepare<[string, string, number]>(
    `INSERT INTO channels (channel_id, record, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (channel_id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at`,
  );
  const selectOne = db.prepare<[string], Row>(
    "SELECT channel_id, record, updated_at FROM channels WHERE channel_id = ?",
  );
  const selectAll = db.prepare<[], Row>(
    "SELECT channel_id, record, updated_at FROM channels ORDER BY channel_id",
  );
  const deleteOne = db.prepare<[string]>("DELETE FROM channels WHERE channel_id = ?");
  const getMetaStmt = db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?");
  const setMetaStmt = db.prepare<[string, string]>(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  );

  const deleteMetaStmt = db.prepare<[string]>("DELETE FROM meta WHERE key = ?");
  const putRecordStmt = db.prepare<[string, string, string]>(
    "INSERT INTO records (kind, id, value) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value",
  );
  const deleteRecordStmt = db.prepare<[string, string]>("DELETE FROM records WHERE kind = ? AND id = ?");
  const listRecordsStmt = db.prepare<[string], { id: string; value: string }>(
    "SELECT id, value FROM records WHERE kind = ? ORDER BY id",
  );

  // Group commit: the first write of a turn opens a transaction, committed on the next turn.
  let batch: { done: Promise<void> } | null = null;
  let failure: StoreWriteError | null = null;
  let reportFailure: (e: StoreWriteError) => void = () => undefined;
  const failed = new Promise<StoreWriteError>((resolve) => {
    reportFailure = resolve;
  });
  const commitBatch = (): void => {
    if (batch === null || !db.open) return;
    batch = null;
    db.exec("COMMIT");
  };
  const open = (): void => {
    if (failure !== null) throw failure;
    if (!db.open) throw new StoreClosedError(path);
  };
  const write = (run: () => void): void => {
    open();
    if (options.groupCommit === true && batch === null) {
      db.exec("BEGIN IMMEDIATE");
      let settle: { resolve(): void; reject(e: unknown): void } | undefined;
      const done = new Promise<void>((resolve, reject) => {
        settle = { resolve, reject };
      });
      // Nobody may be awaiting it: a failure is still reported by every later call.
      done.catch(() => undefined);
      batch = { done };
      setImmediate(() => {
        try {
          commitBatch();
          settle?.resolve();
        } catch (e) {
          failure = new StoreWriteError(path, e instanceof Error ? e.message : String(e), e);
          if (db.inTransaction) db.exec("ROLLBACK");
          settle?.reject(failure);
          reportFailure(failure);
        }
      });
    }
    run();
  };

  const scan = (): { records: ChannelRecord[]; corrupt: CorruptRow[] } => {
    open();
    const records: ChannelRecord[] = [];
    const corrupt: CorruptRow[] = [];
    for (const row of selectAll.iterate()) {
      try {
        records.push(decodeRecord(row.channel_id, row.record, row.updated_at));
      } catch (e) {
        if (!(e instanceof CorruptRecordError)) throw e;
        corrupt.push(...e.rows);
      }
    }
    return { records, corrupt };
  };

  return {
    path,
    putChannel(record) {
      // Encoded first: a record the codec refuses changes nothing, not even the open batch.
      open();
      const text = encodeRecord(record);
      // One statement is one implicit transaction (or part of the turn's): replaced atomically or not at all.
      write(() => upsert.run(channelKey(record.channelID), text, now()));
    },
    getChannel(channelID) {
      open();
      const row = selectOne.get(channelKey(channelID));
      return row === undefined ? undefined : decodeRecord(row.channel_id, row.record, row.updated_at);
    },
    listChannels() {
      const { records, corrupt } = scan();
      const [first, ...rest] = corrupt;
      if (first !== undefined) throw new CorruptRecordError([first, ...rest]);
      return records;
    },
    scanChannels: scan,
    deleteChannel(channelID) {
      write(() => deleteOne.run(channelKey(channelID)));
    },
    getMeta(key) {
      open();
      return getMetaStmt.get(key)?.value;
    },
    setMeta(key, value) {
      write(() => setMetaStmt.run(key, value));
    },
    deleteMeta(key) {
      write(() => deleteMetaStmt.run(key));
    },
    putRecord(kind, id, value) {
      write(() => putRecordStmt.run(kind, id, value));
    },
    deleteRecord(kind, id) {
      write(() => deleteRecordStmt.run(kind, id));
    },
    listRecords(kind) {
      open();
      return listRecordsStmt.all(kind);
    },
    durable() {
      if (failure !== null) return Promise.reject(failure);
      if (!db.open) return Promise.reject(new StoreClosedError(path));
      return batch?.done ?? Promise.resolve();
    },
    failure: () => failed,
    close() {
      // Idempotent: closing twice (e.g. in a finally after an error path closed it) is harmless.
      if (failure === null) commitBatch();
      if (db.open) db.close();
    },
  };
}

function initialise(db: Database.Database, synchronous: "NORMAL" | "FULL"): void {
  // Order matters. Exclusive locking before the first access in WAL mode makes SQLite keep the WAL
  // index in heap memory (no -shm file); switching to WAL is the first read (a second opener fails
  // here with SQLITE_BUSY); the migration transaction below is the first write, which takes the
  // exclusive lock and holds it until close.
  db.pragma("locking_mode = EXCLUSIVE");
  const mode = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal") throw new Error(`cannot switch to WAL journal mode (got ${String(mode)})`);
  db.pragma(`synchronous = ${synchronous}`);
  db.transaction(() => {
    db.exec(
      "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
    );
    const row = db.prepare<[], { version: number }>("SELECT version FROM schema_version WHERE id = 1").get();
    const from = row?.version ?? 0;
    if (from > SCHEMA_VERSION) throw new NewerSchema(from);
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
    db.prepare(
      "INSERT INTO schema_version (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = ?",
    ).run(SCHEMA_VERSION, SCHEMA_VERSION);
  }).exclusive();
}

class NewerSchema extends Error {
  constructor(readonly version: number) {
    super(`schema version ${version} is newer than this perun-ts supports (${SCHEMA_VERSION})`);
  }
}

function openError(path: string, e: unknown): StoreOpenError | StoreLockedError {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") return new StoreLockedError(path, e);
  if (e instanceof NewerSchema) {
    return new StoreOpenError(
      path,
      message,
      "Upgrade perun-ts; never open a store with an older version.",
      e,
    );
  }
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
    return new StoreOpenError(
      path,
      `not a valid SQLite database (${message})`,
      "Check the path points at a perun-ts store, or restore the file from a backup.",
      e,
    );
  }
  // better-sqlite3 checks the directory itself and throws a plain TypeError without a code.
  const noDir = /directory does not exist/.test(message);
  if (noDir || code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY" || code === "SQLITE_PERM") {
    return new StoreOpenError(
      path,
      message,
      "Check that the directory exists and that this user may read and write the file and its directory " +
        "(SQLite creates a -wal file beside it).",
      e,
    );
  }
  return new StoreOpenError(
    path,
    message,
    "See the cause; check the path, permissions and free disk space.",
    e,
  );
}
