/**
 * Child process of the crash-durability tests in sqlite-store.test.ts and postgres-store.test.ts
 * (run with vite-node).
 *
 * Opens the store at argv `target`, prints `ready`, then writes a new channel record per step and
 * prints `committed <n>` only once the step is committed. The test kills it with SIGKILL at an
 * arbitrary moment and checks that every step it saw reported is in the reopened store. It stops by
 * itself after `maxSteps` (argv, default 20000) so a test that fails to kill it does not leave it
 * filling the disk: vite-node's SIGTERM handler cannot run while this loop holds the thread.
 *
 * Modes (argv 4): `single`, an SQLite store committing each write before it returns; `group`, an
 * SQLite store gathering each turn's writes into one commit; `postgres`, the Postgres store at the
 * connection string `target`, schema argv 5. With the last two the writer makes five steps per turn
 * and reports them only once `durable()` resolved.
 */
import { sampleRecord } from "./fixtures.testutil.js";
import { openPostgresStore } from "./postgres-store.js";
import { openSqliteStore } from "./sqlite-store.js";
import type { Store } from "./store.js";

const target = process.argv[2];
if (target === undefined) {
  throw new Error(
    "usage: crash-writer.testutil.ts <db path | postgres url> [maxSteps] [single|group|postgres] [schema]",
  );
}
const maxSteps = BigInt(process.argv[3] ?? "20000");
const mode = process.argv[4] ?? "single";
const store: Store =
  mode === "postgres"
    ? await openPostgresStore({ connection: target, schema: process.argv[5] ?? "perun" })
    : openSqliteStore(target, { groupCommit: mode === "group" });
process.stdout.write("ready\n");
if (mode === "single") {
  for (let n = 0n; n < maxSteps; n++) {
    store.putChannel(sampleRecord(n, n));
    store.setMeta("last", n.toString());
    // Written only after both commits returned: whatever the parent reads was committed.
    process.stdout.write(`committed ${n}\n`);
  }
} else {
  for (let n = 0n; n < maxSteps; n += 5n) {
    for (let k = n; k < n + 5n; k++) {
      store.putChannel(sampleRecord(k, k));
      store.setMeta("last", k.toString());
    }
    await store.durable();
    for (let k = n; k < n + 5n; k++) process.stdout.write(`committed ${k}\n`);
  }
}
await (store.closeAsync?.() ?? store.close());
