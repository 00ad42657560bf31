/**
 * The Store (design.md section 2, house style rule 5: persist before acting) on a PostgreSQL server
 * via node-postgres, for a hub that wants what a database server gives: replication, managed backups,
 * point-in-time recovery, several hubs on one server. SQLite (./sqlite-store.ts) stays the default.
 *
 * The Store's writes are synchronous and a network round trip is not, so the store keeps every row
 * in memory: `openPostgresStore` loads all of them, reads are served from memory (they see every
 * earlier write at once), and a write changes the memory and queues the row. The queue of one turn
 * of the event loop is committed as one statement (one implicit transaction) right after the turn;
 * while a commit is in flight the next writes gather, and go in one commit once it is done: never
 * more than one commit in flight, each after the previous, so the database always holds a prefix of
 * the writes. `durable()` resolves once the commit holding every earlier write is done (Postgres
 * defaults to `synchronous_commit = on`: the server flushed its WAL, which survives a crash of the
 * server's machine). The client awaits it before anything that depends on a write leaves the process.
 *
 * A failed commit (server gone, connection lost, table dropped) rejects `durable()` with
 * `StoreWriteError`, and every later call throws it: the memory is ahead of what the database holds,
 * and a client must not go on signing from a memory the database does not back. The connection is
 * closed then; restart the node once the server is back, and it resumes from the last commit.
 *
 * Single writer: the session holds a Postgres advisory lock named after the schema from open until
 * the connection ends (`close`, or process death: the server drops a dead session's locks). A second
 * opener of the same schema, in this or another process or host, gets `StoreLockedError`: two clients
 * signing from one store could each sign a state the other never saw. A hub restarted at once after
 * a crash may find its old session not yet gone: `lockTimeoutMs` waits for it.
 *
 * Corrupt rows are reported as by the SQLite store: `getChannel` throws `CorruptRecordError` for that
 * channel only, `listChannels` one error listing every corrupt row, `scanChannels` splits them.
 *
 * Schema (in its own Postgres schema, default `perun`; one store per schema, so several hubs may share
 * one database): `schema_version` (one row), `channels(channel_id, record, updated_at)` with the record
 * as the same bigint-safe JSON text as SQLite's (./json.ts), `meta(key, value)`, `records(kind, id,
 * value)`. Migrations run in one transaction at open, under the lock. Postgres text cannot hold a NUL
 * character: a meta or record value with one is refused when written (`RecordEncodingError`), not
 * when its commit fails.
 *
 * node-postgres is loaded when the first store is opened, not when this module is imported.
 *
 * Memory: every record is held as its text (about 1.5 KB per channel), so 100,000 channels take some
 * 150 MB; a hub beyond that wants a store that reads on demand.
 */
import type pg from "pg";
import {
  CorruptRecordError,
  type CorruptRow,
  RecordEncodingError,
  StoreClosedError,
  StoreLockedError,
  StoreOpenError,
  StoreWriteError,
} from "./errors.js";
import { channelKey, decodeRecord, encodeRecord } from "./record.js";
import type { ChannelRecord, Store } from "./store.js";

export interface PostgresStoreOptions {
  /**
   * The server: a connection string (`postgres://user:password@host:5432/database`) or a
   * node-postgres client config (`{ host, port, user, password, database, ssl, ... }`).
   */
  readonly connection: string | pg.ClientConfig;
  /**
   * The Postgres schema that holds the store's tables, created if missing; default `"perun"`. One
   * store per schema: hubs sharing a database each take their own.
   */
  readonly schema?: string;
  /** Milliseconds to wait for another session's lock before `StoreLockedError`. Default 0. */
  readonly lockTimeoutMs?: number;
  /** Clock for `updatedAt` (milliseconds since the epoch); default `Date.now`. */
  readonly now?: () => number;
}

export interface PostgresStore extends Store {
  /** Where the store is, without the password: `postgres://user@host:port/database#schema`. */
  readonly path: string;
  /** Every record that decodes, and every row that does not (never throws `CorruptRecordError`). */
  scanChannels(): { records: ChannelRecord[]; corrupt: CorruptRow[] };
  /**
   * Commits what is pending, then ends the connection (which releases the lock); resolves once
   * both are done, rejects with `StoreWriteError` if a commit failed. `close()` starts it and does
   * not wait: a process that is about to exit awaits this instead. Idempotent.
   */
  closeAsync(): Promise<void>;
}

/** Schema migrations (same logical schema as SQLite's); entry i takes version i to version i + 1. */
const MIGRATIONS: readonly ((s: string) => string)[] = [
  (s) => `CREATE TABLE ${s}.channels (
     channel_id TEXT COLLATE "C" PRIMARY KEY,
     record     TEXT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE ${s}.meta (
     key   TEXT COLLATE "C" PRIMARY KEY,
     value TEXT NOT NULL
   );`,
  (s) => `CREATE TABLE ${s}.records (
     kind  TEXT COLLATE "C" NOT NULL,
     id    TEXT COLLATE "C" NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (kind, id)
   );`,
];
/** The schema version this code writes (the same steps as SQLite's SCHEMA_VERSION). */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/** A schema name that needs no quoting rules beyond the plain ones (and cannot smuggle SQL). */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

interface ChannelRow {
  readonly text: string;
  readonly updatedAt: number;
}

/** The writes of one commit, last write per row wins (null: deleted); the rows are disjoint keys. */
interface Batch {
  readonly channels: Map<string, ChannelRow | null>;
  readonly meta: Map<string, string | null>;
  readonly records: Map<string, { kind: string; id: string; value: string | null }>;
  readonly done: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

/**
 * Opens (creating its tables if needed) the channel store in `schema` on a Postgres server, locks it
 * for this session and loads it into memory.
 *
 * @example
 * const store = await openPostgresStore({ connection: "postgres://perun:secret@db:5432/hub" });
 * store.putChannel(record); // readable at once, committed after this turn
 * await store.durable(); // committed
 * await store.closeAsync();
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = options.schema ?? "perun";
  const path = describeTarget(options.connection, schema);
  if (!SCHEMA_NAME.test(schema)) {
    throw new StoreOpenError(
      path,
      `the schema name ${JSON.stringify(schema)} is not a plain lower-case identifier`,
      "Use letters a-z, digits and underscores (at most 63, not starting with a digit).",
    );
  }
  const config: pg.ClientConfig =
    typeof options.connection === "string"
      ? { connectionString: options.connection }
      : { ...options.connection };
  // Loaded here, not on import: a program that never opens a Postgres store never loads the driver
  // (whose import already touches process.stderr).
  const { default: driver } = await import("pg");
  const client = new driver.Client({
    application_name: "perun-ts",
    connectionTimeoutMillis: 10_000,
    // A half-open connection (server host gone) must fail the next commit rather than hang it.
    keepAlive: true,
    ...config,
  });
  // Until the store takes over, an error event (server gone while opening) must not crash the process.
  let openFailure: unknown;
  const onOpenError = (e: unknown) => {
    openFailure ??= e;
  };
  client.on("error", onOpenError);
  const s = `"${schema}"`;
  let loaded: Loaded;
  try {
    await client.connect();
    await lock(client, schema, options.lockTimeoutMs ?? 0, path);
    await migrate(client, s);
    loaded = await load(client, s);
  } catch (e) {
    await client.end().catch(() => undefined);
    throw openError(path, openFailure ?? e);
  }
  client.off("error", onOpenError);
  return createStore(client, s, path, loaded, options.now ?? Date.now);
}

async function lock(client: pg.Client, schema: string, timeoutMs: number, path: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Advisory locks are per database: the key names the schema, so each store in it has its own.
    const r = await client.query<{ ok: boolean }>(
      "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok",
      [`perun-ts store ${schema}`],
    );
    if (r.rows[0]?.ok === true) return;
    if (Date.now() >= deadline) {
      throw new StoreLockedError(
        path,
        undefined,
        "Stop the other client using this schema (only one may run per store), or use another schema. " +
          "If that client died, the server may not have noticed yet (its session shows in pg_stat_activity " +
          "with application_name perun-ts): wait, or end it with pg_terminate_backend(pid).",
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function migrate(client: pg.Client, s: string): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)`,
    );
    const r = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_version WHERE id = 1`);
    const from = r.rows[0]?.version ?? 0;
    if (from > POSTGRES_SCHEMA_VERSION) throw new NewerSchema(from);
    for (let v = from; v < POSTGRES_SCHEMA_VERSION; v++)
      await client.query((MIGRATIONS[v] as (s: string) => string)(s));
    await client.query(
      `INSERT INTO ${s}.schema_version (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = $1`,
      [POSTGRES_SCHEMA_VERSION],
    );
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}

interface Loaded {
  readonly channels: Map<string, ChannelRow>;
  readonly meta: Map<string, string>;
  readonly records: Map<string, Map<string, string>>;
}

async function load(client: pg.Client, s: string): Promise<Loaded> {
  const channels = new Map<string, ChannelRow>();
  const rows = await client.query<{ channel_id: string; record: string; updated_at: string }>(
    `SELECT channel_id, record, updated_at FROM ${s}.channels`,
  );
  for (const r of rows.rows) channels.set(r.channel_id, { text: r.record, updatedAt: Number(r.updated_at) });
  const meta = new Map<string, string>();
  for (const r of (await client.query<{ key: string; value: string }>(`SELECT key, value FROM ${s}.meta`))
    .rows) {
    meta.set(r.key, r.value);
  }
  const records = new Map<string, Map<string, string>>();
  const recs = await client.query<{ kind: string; id: string; value: string }>(
    `SELECT kind, id, value FROM ${s}.records`,
  );
  for (const r of recs.rows) {
    const m = records.get(r.kind) ?? new Map<string, string>();
    m.set(r.id, r.value);
    records.set(r.kind, m);
  }
  return { channels, meta, records };
}

function createStore(
  client: pg.Client,
  s: string,
  path: string,
  { channels, meta, records }: Loaded,
  now: () => number,
): PostgresStore {
  // One statement per commit: its data-modifying CTEs run in one implicit transaction, in one round
  // trip. Keys are unique within a batch, so no row is touched twice. Prepared once (named).
  const flushSql = {
    name: "perun-store-flush",
    text: `WITH
      dc AS (DELETE FROM ${s}.channels WHERE channel_id = ANY($1::text[])),
      uc AS (INSERT INTO ${s}.channels (channel_id, record, updated_at)
               SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[])
               ON CONFLICT (channel_id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at),
      dm AS (DELETE FROM ${s}.meta WHERE key = ANY($5::text[])),
      um AS (INSERT INTO ${s}.meta (key, value) SELECT * FROM unnest($6::text[], $7::text[])
               ON CONFLICT (key) DO UPDATE SET value = excluded.value),
      dr AS (DELETE FROM ${s}.records WHERE (kind, id) IN (SELECT * FROM unnest($8::text[], $9::text[]))),
      ur AS (INSERT INTO ${s}.records (kind, id, value) SELECT * FROM unnest($10::text[], $11::text[], $12::text[])
               ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value)
      SELECT 1`,
  };

  let pending: Batch | null = null;
  let inflight: Batch | null = null;
  let failure: StoreWriteError | null = null;
  let closed = false;
  let closing: Promise<void> | null = null;
  let ended = false;

  let reportFailure: (e: StoreWriteError) => void = () => undefined;
  const failed = new Promise<StoreWriteError>((resolve) => {
    reportFailure = resolve;
  });
  const fail = (reason: string, cause: unknown): void => {
    if (failure !== null) return;
    failure = new StoreWriteError(path, reason, cause);
    reportFailure(failure);
    inflight?.reject(failure);
    pending?.reject(failure);
    inflight = null;
    pending = null;
    // We will never write again: end the session, so its lock does not outlive its use.
    endConnection();
  };
  const endConnection = (): Promise<void> => {
    if (ended) return Promise.resolve();
    ended = true;
    return client.end().catch(() => undefined);
  };
  client.on("error", (e) => fail(`the connection to the database server failed (${e.message})`, e));
  client.on("end", () => {
    if (!ended) fail("the database server closed the connection", undefined);
  });

  const startFlush = (): void => {
    if (inflight !== null || pending === null || failure !== null) return;
    const b = pending;
    pending = null;
    inflight = b;
    client.query({ ...flushSql, values: params(b) }).then(
      () => {
        if (inflight !== b) return; // failed meanwhile (connection error first)
        inflight = null;
        b.resolve();
        startFlush();
      },
      (e: unknown) => fail(e instanceof Error ? e.message : String(e), e),
    );
  };

  const batch = (): Batch => {
    if (pending !== null) return pending;
    let settle: { resolve(): void; reject(e: unknown): void } = { resolve() {}, reject() {} };
    const done = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    // Nobody may be awaiting it: a failure is still reported by every later call.
    done.catch(() => undefined);
    const b: Batch = {
      channels: new Map(),
      meta: new Map(),
      records: new Map(),
      done,
      resolve: () => settle.resolve(),
      reject: (e) => settle.reject(e),
    };
    pending = b;
    // After this turn (or, if a commit is in flight, once it is done).
    setImmediate(startFlush);
    return b;
  };

  const live = (): void => {
    if (failure !== null) throw failure;
    if (closed) throw new StoreClosedError(path);
  };

  const scan = (): { records: ChannelRecord[]; corrupt: CorruptRow[] } => {
    live();
    const out: ChannelRecord[] = [];
    const corrupt: CorruptRow[] = [];
    for (const key of [...channels.keys()].sort()) {
      const row = channels.get(key) as ChannelRow;
      try {
        out.push(decodeRecord(key, row.text, row.updatedAt));
      } catch (e) {
        if (!(e instanceof CorruptRecordError)) throw e;
        corrupt.push(...e.rows);
      }
    }
    return { records: out, corrupt };
  };

  const closeAsync = (): Promise<void> => {
    if (closing !== null) return closing;
    closed = true;
    const last = pending ?? inflight;
    startFlush(); // now, not after the turn
    closing = (async () => {
      try {
        if (failure !== null) throw failure;
        await last?.done;
      } finally {
        await endConnection();
      }
    })();
    return closing;
  };

  return {
    path,
    putChannel(record) {
      live();
      // Encoded first: a record the codec refuses changes nothing.
      const text = encodeRecord(record);
      const key = channelKey(record.channelID);
      const row = { text, updatedAt: now() };
      channels.set(key, row);
      batch().channels.set(key, row);
    },
    getChannel(channelID) {
      live();
      const key = channelKey(channelID);
      const row = channels.get(key);
      // Decoded and checked on every read, as SQLite's: a row loaded at open is untrusted input.
      return row === undefined ? undefined : decodeRecord(key, row.text, row.updatedAt);
    },
    listChannels() {
      const { records: out, corrupt } = scan();
      const [first, ...rest] = corrupt;
      if (first !== undefined) throw new CorruptRecordError([first, ...rest]);
      return out;
    },
    scanChannels: scan,
    deleteChannel(channelID) {
      live();
      const key = channelKey(channelID);
      channels.delete(key);
      batch().channels.set(key, null);
    },
    getMeta(key) {
      live();
      return meta.get(key);
    },
    setMeta(key, value) {
      live();
      text(key, "meta key");
      text(value, `meta ${key}`);
      meta.set(key, value);
      batch().meta.set(key, value);
    },
    deleteMeta(key) {
      live();
      meta.delete(key);
      batch().meta.set(key, null);
    },
    putRecord(kind, id, value) {
      live();
      text(kind, "record kind");
      text(id, `record ${kind} id`);
      text(value, `record ${kind} ${id}`);
      const rows = records.get(kind) ?? new Map<string, string>();
      rows.set(id, value);
      records.set(kind, rows);
      batch().records.set(`${kind}\u0000${id}`, { kind, id, value });
    },
    deleteRecord(kind, id) {
      live();
      records.get(kind)?.delete(id);
      batch().records.set(`${kind}\u0000${id}`, { kind, id, value: null });
    },
    listRecords(kind) {
      live();
      return [...(records.get(kind) ?? new Map<string, string>()).entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([id, value]) => ({ id, value }));
    },
    durable() {
      if (failure !== null) return Promise.reject(failure);
      if (closed) return Promise.reject(new StoreClosedError(path));
      return (pending ?? inflight)?.done ?? Promise.resolve();
    },
    failure: () => failed,
    close() {
      // Idempotent; the final commit goes on in the background (closeAsync to wait for it).
      closeAsync().catch(() => undefined);
    },
    closeAsync,
  };
}

/** The statement parameters of a batch: per table, the keys deleted and the rows written. */
function params(b: Batch): unknown[] {
  const dc: string[] = [];
  const uc: [string[], string[], number[]] = [[], [], []];
  for (const [k, row] of b.channels) {
    if (row === null) dc.push(k);
    else {
      uc[0].push(k);
      uc[1].push(row.text);
      uc[2].push(row.updatedAt);
    }
  }
  const dm: string[] = [];
  const um: [string[], string[]] = [[], []];
  for (const [k, v] of b.meta) {
    if (v === null) dm.push(k);
    else {
      um[0].push(k);
      um[1].push(v);
    }
  }
  const dr: [string[], string[]] = [[], []];
  const ur: [string[], string[], string[]] = [[], [], []];
  for (const { kind, id, value } of b.records.values()) {
    if (value === null) {
      dr[0].push(kind);
      dr[1].push(id);
    } else {
      ur[0].push(kind);
      ur[1].push(id);
      ur[2].push(value);
    }
  }
  return [dc, ...uc, dm, ...um, ...dr, ...ur];
}

/** Postgres text cannot hold NUL: refused at the write, not at its commit (which would end the store). */
function text(value: string, field: string): void {
  if (value.includes("\u0000")) {
    throw new RecordEncodingError(field, "a NUL character (U+0000) cannot be stored in Postgres text");
  }
}

/** `postgres://user@host:port/database#schema`, never with the password. */
function describeTarget(connection: string | pg.ClientConfig, schema: string): string {
  if (typeof connection === "string") {
    try {
      const u = new URL(connection);
      u.password = "";
      u.hash = "";
      u.search = "";
      return `${u.toString()}#${schema}`;
    } catch {
      return `postgres (connection string not shown)#${schema}`;
    }
  }
  const user = connection.user === undefined ? "" : `${connection.user}@`;
  return `postgres://${user}${connection.host ?? "localhost"}:${connection.port ?? 5432}/${connection.database ?? ""}#${schema}`;
}

class NewerSchema extends Error {
  constructor(readonly version: number) {
    super(`schema version ${version} is newer than this perun-ts supports (${POSTGRES_SCHEMA_VERSION})`);
  }
}

function openError(path: string, e: unknown): StoreOpenError | StoreLockedError {
  if (e instanceof StoreLockedError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof NewerSchema) {
    return new StoreOpenError(
      path,
      message,
      "Upgrade perun-ts; never open a store with an older version.",
      e,
    );
  }
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "ETIMEDOUT" || /timeout/i.test(message)) {
    return new StoreOpenError(
      path,
      `cannot reach the database server (${message})`,
      "Check that the Postgres server runs and that host and port in the connection are right.",
      e,
    );
  }
  if (code === "28P01" || code === "28000") {
    return new StoreOpenError(path, message, "Check the user name and password of the connection.", e);
  }
  if (code === "3D000") {
    return new StoreOpenError(path, message, "Create the database first (CREATE DATABASE ...).", e);
  }
  if (code === "42501") {
    return new StoreOpenError(
      path,
      message,
      "The user needs the right to create the schema and its tables (GRANT CREATE ON DATABASE ...), or create the schema for it.",
      e,
    );
  }
  return new StoreOpenError(path, message, "See the cause; check the connection and the server's log.", e);
}
