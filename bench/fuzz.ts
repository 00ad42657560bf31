/**
 * `npm run fuzz`: the long fuzz run, "no crash, no unhandled rejection, no state change on bad
 * input", of the wire codec (bench/fuzz/codec-fuzz.ts) and of the node's local API against a running
 * node with a funded channel (bench/fuzz/api-fuzz.ts; two nodes in this process on an embedded chain,
 * src/node/api-harness.testutil.ts, started afresh every --chunk cases so that what valid requests
 * leave behind does not pile up). Prints a JSON summary (cases, failures, time, per target) and exits
 * 1 on any failure, any unhandled rejection or uncaught exception, a node that does not stop after its
 * chunk (a request left a socket or a promise behind), or a hang: a watchdog thread kills the run if no
 * case finishes for 120 s (a synchronous loop would stop every timer of this thread).
 *
 *   npm run fuzz                                  100,000 cases per target, seed from the clock
 *   node dist/bench/fuzz.js --cases 5000 --seed 7 --target codec
 *
 * A failure names its case index: with the same seed, codecCase(seed, i) / apiCase(seed, i, target)
 * rebuild it.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { startApiHarness } from "../src/node/api-harness.testutil.js";
import { type ApiFuzzReport, harnessTarget, runApiFuzz } from "./fuzz/api-fuzz.js";
import { type CodecFuzzReport, runCodecFuzz } from "./fuzz/codec-fuzz.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = here.includes(join("dist", "bench")) ? join(here, "..", "..") : join(here, "..");

const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "100000" },
    seed: { type: "string" },
    target: { type: "string", default: "all" },
    chunk: { type: "string", default: "2500" },
    out: { type: "string" },
  },
});
const cases = Number(values.cases);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const chunk = Number(values.chunk);
if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed) || !(chunk >= 1)) {
  process.stderr.write("usage: fuzz [--cases N] [--seed S] [--target codec|api|all] [--chunk N]\n");
  process.exit(2);
}

// Watchdog: the main thread counts finished cases into shared memory; a worker thread ends the
// process if the count stands still (a hang, even a synchronous one).
const beat = new Int32Array(new SharedArrayBuffer(8));
const watchdog = new Worker(
  `const { workerData } = require("node:worker_threads");
   const beat = new Int32Array(workerData.sab);
   let last = -1, still = 0;
   setInterval(() => {
     const now = Atomics.load(beat, 0);
     still = now === last ? still + 5 : 0;
     last = now;
     if (still >= 120) {
       // fs.writeSync and a signal: a blocked main thread would never print or exit for us.
       require("node:fs").writeSync(1, JSON.stringify({ ok: false, hang: { target: Atomics.load(beat, 1) === 0 ? "codec" : "api", afterCases: now, seconds: still } }) + "\\n");
       process.kill(process.pid, "SIGKILL");
     }
   }, 5000);`,
  { eval: true, workerData: { sab: beat.buffer } },
);
watchdog.unref();

let unhandledRejections = 0;
const stopFailures: string[] = [];
let uncaughtExceptions = 0;
const firstErrors: string[] = [];
process.on("unhandledRejection", (e) => {
  unhandledRejections++;
  if (firstErrors.length < 5) firstErrors.push(`unhandledRejection: ${String((e as Error)?.stack ?? e)}`);
});
process.on("uncaughtException", (e) => {
  uncaughtExceptions++;
  if (firstErrors.length < 5) firstErrors.push(`uncaughtException: ${String(e?.stack ?? e)}`);
});

const progress = (what: string, done: number) =>
  process.stderr.write(`fuzz ${what}: ${done}/${cases} (${new Date().toISOString()})\n`);

function fuzzCodec(): CodecFuzzReport {
  Atomics.store(beat, 1, 0);
  return runCodecFuzz({
    cases,
    seed,
    onCase: (i) => {
      Atomics.store(beat, 0, i);
      if (i > 0 && i % 10_000 === 0) progress("codec", i);
    },
  });
}

async function fuzzApi(): Promise<ApiFuzzReport> {
  Atomics.store(beat, 1, 1);
  const parts: ApiFuzzReport[] = [];
  for (let from = 0; from < cases; from += chunk) {
    const h = await startApiHarness({ keepLogs: false });
    try {
      const target = await harnessTarget(h);
      parts.push(
        await runApiFuzz(target, {
          cases: Math.min(chunk, cases - from),
          seed,
          from,
          onProgress: (n) => {
            Atomics.store(beat, 0, from + n);
          },
        }),
      );
    } finally {
      // The node must still stop: a request that left a socket or a promise behind would block it.
      const stopped = await Promise.race([
        h.stop().then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 30_000).unref()),
      ]);
      if (!stopped)
        stopFailures.push(`the node did not stop within 30 s after cases ${from}..${from + chunk - 1}`);
    }
    Atomics.store(beat, 0, from + chunk);
    progress("api", Math.min(cases, from + chunk));
  }
  return mergeApi(parts);
}

function mergeApi(parts: ApiFuzzReport[]): ApiFuzzReport {
  const sum = (f: (p: ApiFuzzReport) => number) => parts.reduce((a, p) => a + f(p), 0);
  const add = (f: (p: ApiFuzzReport) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const p of parts) for (const [k, v] of Object.entries(f(p))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  return {
    target: "api",
    seed,
    cases: sum((p) => p.cases),
    failures: sum((p) => p.failures),
    statuses: add((p) => p.statuses),
    stateChanges: sum((p) => p.stateChanges),
    retargeted: sum((p) => p.retargeted),
    maxCaseMs: Math.max(...parts.map((p) => p.maxCaseMs)),
    ms: sum((p) => p.ms),
    kinds: add((p) => p.kinds),
    samples: parts.flatMap((p) => p.samples).slice(0, 20),
  };
}

const started = Date.now();
const codec = values.target === "api" ? undefined : fuzzCodec();
const api = values.target === "codec" ? undefined : await fuzzApi();
// Let late rejections of the last requests surface before the verdict.
await new Promise((r) => setTimeout(r, 500));
const failures =
  (codec?.failures ?? 0) +
  (api?.failures ?? 0) +
  unhandledRejections +
  uncaughtExceptions +
  stopFailures.length;
const summary = {
  ok: failures === 0,
  seed,
  cases: { codec: codec?.cases ?? 0, api: api?.cases ?? 0 },
  failures,
  seconds: Math.round((Date.now() - started) / 1000),
  unhandledRejections,
  uncaughtExceptions,
  ...(stopFailures.length > 0 ? { stopFailures } : {}),
  ...(firstErrors.length > 0 ? { firstErrors } : {}),
  codec,
  api,
  node: process.version,
  at: new Date().toISOString(),
};
const text = JSON.stringify(summary, null, 2);
writeFileSync(values.out ?? join(root, "bench", "results", "fuzz-latest.json"), `${text}\n`);
process.stdout.write(`${text}\n`);
process.exit(failures === 0 ? 0 : 1);
