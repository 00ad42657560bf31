/**
 * The store a node or a library client keeps its channels in, chosen by one small spec (the node's
 * config "db" / "store", the library's `store` option): an SQLite file (the default; one file, one
 * process, no server), a Postgres schema (a hub whose database a server keeps: replication, backups,
 * point-in-time recovery) or memory (tests). Both durable stores commit each turn's writes together
 * (SQLite with `groupCommit`): the client awaits `durable()` before anything leaves the process.
 *
 * `closeStore` is the other end: it waits for the last commit where that takes a round trip.
 */
import { createMemoryStore } from "./memory-store.js";
import { openPostgresStore } from "./postgres-store.js";
import { openSqliteStore } from "./sqlite-store.js";
import type { Store } from "./store.js";

export type StoreSpec =
  | "memory"
  | { readonly file: string }
  | { readonly postgres: string; readonly schema?: string };

/** A restarted node may find its old session not yet dropped by the server: wait this long for it. */
const POSTGRES_LOCK_WAIT_MS = 5_000;

/**
 * Opens the store `spec` names; `where` says where it is (file path, or server and schema without
 * the password) for logs.
 *
 * @example
 * const { store } = await openStore({ postgres: "postgres://perun@db/hubs", schema: "hub1" });
 * // ... a client on it ...
 * await closeStore(store);
 */
export async function openStore(spec: StoreSpec): Promise<{ store: Store; where: string }> {
  if (spec === "memory") return { store: createMemoryStore(), where: ":memory:" };
  if ("file" in spec) {
    const store = openSqliteStore(spec.file, { groupCommit: true });
    return { store, where: store.path };
  }
  const store = await openPostgresStore({
    connection: spec.postgres,
    ...(spec.schema === undefined ? {} : { schema: spec.schema }),
    lockTimeoutMs: POSTGRES_LOCK_WAIT_MS,
  });
  return { store, where: store.path };
}

/** Closes `store`, and resolves once its last commit is done where that takes a round trip. */
export async function closeStore(store: Store): Promise<void> {
  if (store.closeAsync) await store.closeAsync();
  else store.close();
}
