/**
 * Persistence of channel records (house style rule 5: persist before acting): the Store port, the
 * SQLite store for real clients (the default), the Postgres store for a hub whose database a server
 * keeps, the in-memory store for tests, and their typed errors.
 */
export * from "./errors.js";
export { decodeJson, encodeJson, JsonDecodeFailure } from "./json.js";
export { createMemoryStore, type MemoryStoreOptions } from "./memory-store.js";
export {
  openPostgresStore,
  POSTGRES_SCHEMA_VERSION,
  type PostgresStore,
  type PostgresStoreOptions,
} from "./postgres-store.js";
export {
  openSqliteStore,
  SCHEMA_VERSION,
  type SqliteStore,
  type SqliteStoreOptions,
} from "./sqlite-store.js";
export type { ChannelRecord, Store } from "./store.js";
