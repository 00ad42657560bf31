/**
 * Ways a stored channel record can be corrupt (a bad disk, a bad restore, a hand edit), shared by
 * the SQLite and Postgres store tests: each row is a name, an edit of the stored record (or a text
 * that replaces it) and the field the `CorruptRecordError` must name. Both stores must report each
 * the same way (./record.ts).
 */
import { sampleRecord } from "./fixtures.testutil.js";
import { decodeJson, encodeJson } from "./json.js";

/** An edit of the decoded record, or the text that replaces the stored one. */
export type CorruptEdit = ((rec: Record<string, unknown>) => void) | string;

/** The stored text after `edit`. */
export function tamperedText(stored: string, edit: CorruptEdit): string {
  if (typeof edit === "string") return edit;
  const rec = decodeJson(stored) as Record<string, unknown>;
  edit(rec);
  return encodeJson(rec);
}

export const CORRUPT_CASES: [name: string, edit: CorruptEdit, field: string][] = [
  ["not JSON", "{not json", "record"],
  ["record not an object", "[1,2]", "record"],
  ["bad bigint tag", '{"channelID":{"$big":"01"}}', "channelID"],
  [
    "version out of range",
    (r) => {
      const m = r.machine as { current: { state: { version: bigint } } };
      m.current.state.version = -1n;
    },
    "machine.current.state.version",
  ],
  [
    "balance not a bigint",
    (r) => {
      const m = r.machine as { pending: { state: { outcome: { balances: unknown[][] } } } };
      m.pending.state.outcome.balances[0]![1] = "lots";
    },
    "machine.pending.state.outcome.balances[0][1]",
  ],
  [
    "params changed (id mismatch)",
    (r) => {
      (r.machine as { params: { nonce: bigint } }).params.nonce += 1n;
    },
    "machine.params",
  ],
  [
    "params invalid",
    (r) => {
      (r.machine as { params: { challengeDuration: bigint } }).params.challengeDuration = 0n;
    },
    "machine.params.challengeDuration",
  ],
  [
    "unknown phase",
    (r) => {
      (r.machine as { phase: string }).phase = "Bogus";
    },
    "machine.phase",
  ],
  [
    "missing signature slot",
    (r) => {
      (r.machine as { current: { sigs: unknown[] } }).current.sigs.pop();
    },
    "machine.current.sigs",
  ],
  [
    "row under another channel's key",
    (r) => {
      r.channelID = sampleRecord(2n, 0n).channelID;
    },
    "channelID",
  ],
  [
    "peers not addresses",
    (r) => {
      r.peers = ["0x12", "0x34"];
    },
    "peers",
  ],
];
