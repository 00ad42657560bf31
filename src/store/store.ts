/**
 * The Store port: durable channel records (design.md section 2, house style
 * rule 5: a state is written before our signature on it leaves the process).
 * Implementations: SQLite (./sqlite-store.ts, the default), Postgres (./postgres-store.ts, for a hub
 * whose database a server keeps) and in-memory (./memory-store.ts, for unit tests); all pass
 * ./store.suite.ts.
 *
 * Writes are synchronous calls on purpose (the client's effect loop applies a transition without an
 * await, and reads see every earlier write at once), durability is asynchronous: `durable()` resolves
 * once every write made before it is committed. A store may commit each write before returning
 * (SQLite by default) or gather the writes of one turn of the event loop into one commit (SQLite with
 * `groupCommit`, a database server): the client awaits `durable()` before anything that depends on a
 * write leaves the process (a message to a peer, a transaction, an answer to its caller), so a crash
 * can only lose writes nobody outside has heard of.
 */
import type { Machine } from "../channel/machine.js";
import type { Address, Hex } from "../channel/types.js";
import type { StoreWriteError } from "./errors.js";

export interface ChannelRecord {
  readonly channelID: Hex;
  /** The channel machine (params, phase, current signed state, pending proposal, dispute). */
  readonly machine: Machine;
  /** Addresses of the other participants, by participant index (ours included, for simplicity). */
  readonly peers: readonly Address[];
  /** Chain time (seconds) by which every participant must have deposited; null once funded. */
  readonly fundingDeadline: bigint | null;
  /** Free-form client bookkeeping (e.g. what we deposited, withdrawal done), JSON-safe with bigints. */
  readonly meta: Readonly<Record<string, unknown>>;
  /** Milliseconds since the epoch of the last write (set by the store). */
  readonly updatedAt?: number;
}

export interface Store {
  putChannel(record: ChannelRecord): void;
  getChannel(channelID: Hex): ChannelRecord | undefined;
  listChannels(): ChannelRecord[];
  /**
   * Forgets a channel that never became binding for us (a proposal nobody signed, a virtual channel
   * whose locks were refused). Never for a channel that holds or may hold funds.
   */
  deleteChannel(channelID: Hex): void;
  /** Small key/value settings, e.g. the watcher's last processed block. */
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  deleteMeta(key: string): void;
  /**
   * A role's own records beside the channels (an intermediary's virtual-channel contexts, final
   * states, held lock proposals): one row per kind and id, written when it changes and removed when
   * it ends, so a change costs one row however many records there are. Ids are case-sensitive: callers
   * normalise them.
   */
  putRecord(kind: string, id: string, value: string): void;
  deleteRecord(kind: string, id: string): void;
  /** Every record of `kind`, ordered by id. */
  listRecords(kind: string): { id: string; value: string }[];
  /**
   * Resolves once every write made before this call is committed; rejects (with a store error that
   * says what failed) if a commit failed, after which the store refuses every call.
   */
  durable(): Promise<void>;
  /**
   * Resolves with the error once the store has failed for good (a commit failed, the database server
   * went away), after which every call throws it: whoever runs the store stops what depends on it
   * rather than go on as if its writes were kept. Pending while the store works, and forever for a
   * store that fails only write by write (SQLite committing each write: the write itself throws).
   */
  failure(): Promise<StoreWriteError>;
  /** Commits what is pending and releases the store; later calls throw `StoreClosedError`. */
  close(): void;
  /**
   * Present where the final commit and the release take a round trip (a database server): as
   * `close()`, and resolves once they are done (rejects if the commit failed). Whoever closes a
   * store before the process exits awaits it when present.
   */
  closeAsync?(): Promise<void>;
}
