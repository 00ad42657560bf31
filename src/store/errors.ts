/**
 * Typed errors of the Store (house style rule 7): one small `PerunError` subclass per failure, each
 * with a stable `code`, the values that identify it (path, channel id, field) and a hint.
 */
import { PerunError } from "../errors.js";

/** The database file cannot be opened or initialised (missing directory, not a database, newer schema). */
export class StoreOpenError extends PerunError {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string, hint: string, cause?: unknown) {
    super("STORE_OPEN", `Cannot open the channel store at ${path}: ${reason}.`, {
      details: { path, reason },
      hint,
      ...(cause === undefined ? {} : { cause }),
    });
    this.path = path;
    this.reason = reason;
  }
}

/**
 * Another connection (normally another process) holds the database. The store is single-writer: two
 * clients persisting states of the same channels could each sign a state the other never saw.
 */
export class StoreLockedError extends PerunError {
  readonly path: string;
  constructor(
    path: string,
    cause?: unknown,
    hint = "Stop the other client using this file (only one may run per store), or use another path.",
  ) {
    super("STORE_LOCKED", `The channel store at ${path} is in use by another process or connection.`, {
      details: { path },
      hint,
      ...(cause === undefined ? {} : { cause }),
    });
    this.path = path;
  }
}

/** The store was used after `close()`. */
export class StoreClosedError extends PerunError {
  constructor(path: string) {
    super("STORE_CLOSED", `The channel store at ${path} is closed.`, {
      details: { path },
      hint: "Open the store again; a closed store cannot be reused.",
    });
  }
}

/**
 * A commit failed (disk full, I/O error, the database server gone). What was written since the last
 * commit may be lost, so the store refuses every later call: the client must not go on signing from a
 * memory the disk does not back. Nothing that depended on the lost writes left the process.
 */
export class StoreWriteError extends PerunError {
  readonly path: string;
  constructor(path: string, reason: string, cause?: unknown) {
    super("STORE_WRITE", `Writing to the channel store at ${path} failed: ${reason}.`, {
      details: { path, reason },
      hint: "Fix the cause (free disk space, restore the database server), then restart the node: it resumes from the last commit.",
      ...(cause === undefined ? {} : { cause }),
    });
    this.path = path;
  }
}

/** One stored row that failed validation on the way back in. */
export interface CorruptRow {
  readonly channelID: string;
  /** Path of the offending field inside the record, e.g. `machine.current.state.version`. */
  readonly field: string;
  readonly reason: string;
}

/**
 * A stored channel record does not decode to a valid record (house style rule 8: stored records are
 * untrusted input). Carries every corrupt row found: one for `getChannel`, possibly several for
 * `listChannels`; `channelID`/`field` name the first.
 */
export class CorruptRecordError extends PerunError {
  readonly channelID: string;
  readonly field: string;
  readonly rows: readonly CorruptRow[];
  constructor(rows: readonly [CorruptRow, ...CorruptRow[]], cause?: unknown) {
    const [first] = rows;
    const more = rows.length > 1 ? ` (and ${rows.length - 1} more corrupt record(s))` : "";
    super(
      "STORE_CORRUPT_RECORD",
      `Stored record of channel ${first.channelID} is corrupt at ${first.field}: ${first.reason}${more}.`,
      {
        details: {
          channelID: first.channelID,
          field: first.field,
          reason: first.reason,
          ...(rows.length > 1 ? { corruptChannels: rows.map((r) => r.channelID).join(",") } : {}),
        },
        hint:
          "Do not act on this channel from this record. Restore the store from a backup, or ask the " +
          "peers for the latest signed state; the other channels are still readable one by one.",
        ...(cause === undefined ? {} : { cause }),
      },
    );
    this.channelID = first.channelID;
    this.field = first.field;
    this.rows = rows;
  }
}

/** A value handed to the store cannot be represented (not JSON with bigints, e.g. a function or a Map). */
export class RecordEncodingError extends PerunError {
  readonly field: string;
  constructor(field: string, reason: string) {
    super("STORE_RECORD_ENCODING", `Cannot store ${field}: ${reason}.`, {
      details: { field, reason },
      hint: "Records hold plain objects, arrays, strings, finite numbers, booleans, null and bigints only.",
    });
    this.field = field;
  }
}
