/**
 * Child process of the crash-durability test in sqlite-store.test.ts (run with vite-node).
 *
 * Opens the store at argv path, prints `ready`, then writes a new channel record per step and prints
 * `committed <n>` only after `putChannel` returned. The test kills it with SIGKILL at an arbitrary
 * moment and checks that every step it saw reported is in the reopened store. It stops by itself after
 * `maxSteps` (argv, default 20000) so a test that fails to kill it does not leave it filling the disk:
 * vite-node's SIGTERM handler cannot run while this loop holds the thread.
 *
 * With `group` as the fourth argument the store gathers each turn's writes into one commit: the writer
 * makes five steps per turn and reports them only once `durable()` resolved.
 */
import { sampleRecord } from "./fixtures.testutil.js";
import { openSqliteStore } from "./sqlite-store.js";

const path = process.argv[2];
if (path === undefined) throw new Error("usage: crash-writer.testutil.ts <db path> [maxSteps]");
const maxSteps = BigInt(process.argv[3] ?? "20000");
const group = process.argv[4] === "group";
const store = openSqliteStore(path, { groupCommit: group });
process.stdout.write("ready\n");
if (!group) {
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
store.close();
