/**
 * A metered stream, the "video over a phone call" of a payment channel network: Bob serves a stream of
 * data chunks over a side channel (TCP on 127.0.0.1), Alice pays for every chunk she receives with one
 * payment over a virtual channel, and Bob stops serving when Alice stops paying.
 *
 * Everything is the real thing: an EVM (the embedded chain), three library clients (`createPerunClient`)
 * with SQLite stores and the WebSocket wire between them. Alice and Bob each open a funded ledger channel
 * with Ingrid on chain; Alice opens a virtual channel V with Bob through Ingrid, paying the fee Ingrid's
 * published terms ask for; then the stream runs (examples/stream-server.ts, examples/stream-receiver.ts):
 * Bob sends chunk n+1 only while the payments his own client saw in V leave at most `creditChunks` chunks
 * unpaid. At the end V closes cooperatively into both ledger channels, which settle on chain.
 *
 * The report: chunks and payments (and per second), bytes per second, the total paid, Ingrid's fee and
 * her net gain, and whether Ingrid saw any of the per-chunk payments (her ledger channels' versions
 * during the stream; she should not: V's updates go between Alice and Bob only).
 *
 * Run: `npm run build && node dist/examples/metered-stream.js --chunks 200 --stop-paying-after 150`
 * (`--json` for one JSON line, `--help` for every option).
 */
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  createEmbeddedChain,
  createPerunClient,
  formatEther,
  type Hex,
  InvalidArgumentError,
  type Logger,
  type PerunClient,
  PerunError,
  parseEther,
  type RentalTerms,
  rentalFee,
} from "../src/index.js";
import type { EndReason } from "./stream-frames.js";
import { receiveStream } from "./stream-receiver.js";
import { type ServedStream, type StreamServer, startStreamServer } from "./stream-server.js";

export interface MeteredStreamOptions {
  /** Chunks Alice asks for (default 200). */
  readonly chunks?: number;
  /** Alice pays for the first this many chunks only (default: all of them). */
  readonly stopPayingAfter?: number;
  /** Bytes per chunk (default 16 KiB). */
  readonly chunkSize?: number;
  /** Wei per chunk (default 1e12). */
  readonly price?: bigint;
  /** Chunks Bob serves ahead of the payments (default 2). */
  readonly creditChunks?: number;
  /** How long Bob waits for a payment once the credit is used up, before he stops (ms, default 2,000). */
  readonly stallMs?: number;
  /** Alice hangs up after this many seconds (default: when the stream ends). */
  readonly durationSeconds?: number;
  /** Log lines of the three clients (default: none). */
  readonly log?: (party: string, ...line: Parameters<Logger>) => void;
}

/** What one run measured. Wei amounts are bigints (strings in `--json`); rates are per second. */
export interface MeteredStreamReport {
  readonly chunks: {
    readonly requested: number;
    readonly chunkSize: number;
    /** Sent by Bob. */
    readonly served: number;
    /** Received by Alice. */
    readonly received: number;
    /** Covered by the payments in V, as Bob's client saw them once every payment was through. */
    readonly paid: number;
    /** Served and never paid: Bob's loss, at most the credit window. */
    readonly unpaid: number;
    /** The most chunks that were unpaid at any moment while Bob served. */
    readonly maxUnpaid: number;
    readonly creditChunks: number;
  };
  /** Payments Alice made over V (each co-signed by Bob). */
  readonly payments: number;
  readonly stopPayingAfter: number;
  /** Why Bob stopped: "complete", "unpaid" (Alice stopped paying), "receiver-closed" (Alice hung up). */
  readonly stopReason: EndReason;
  /**
   * From Alice's connecting to her last chunk (chunks, bytes) or to her last payment co-signed
   * (payments): the wait before Bob gives up on a missing payment is not part of the stream.
   */
  readonly rates: {
    readonly chunksPerSecond: number;
    readonly paymentsPerSecond: number;
    readonly bytesPerSecond: number;
  };
  readonly seconds: { readonly setup: number; readonly stream: number; readonly settle: number };
  readonly wei: {
    readonly price: bigint;
    readonly totalPaid: bigint;
    readonly ingridFee: bigint;
    /** Ingrid's payouts from both ledger channels on chain minus her deposits. */
    readonly ingridNet: bigint;
    /** Alice's and Bob's payouts from their ledger channels on chain minus their deposits. */
    readonly aliceNet: bigint;
    readonly bobNet: bigint;
    /** V's deposits ([Alice, Bob]) and its final balances. */
    readonly virtualDeposits: readonly [bigint, bigint];
    readonly virtualFinal: readonly [bigint, bigint];
  };
  readonly ingrid: {
    /** Versions of Ingrid's ledger channels with Alice and with Bob, before and after the stream. */
    readonly versionsBefore: readonly [bigint, bigint];
    readonly versionsAfter: readonly [bigint, bigint];
    /** Channel updates Ingrid co-signed while the stream ran (any channel of hers). */
    readonly updatesDuringStream: number;
    readonly sawPayments: boolean;
  };
}

const DEFAULTS = {
  chunks: 200,
  chunkSize: 16_384,
  price: 10n ** 12n,
  creditChunks: 2,
  stallMs: 2_000,
} as const;

/** Ingrid's rental terms (README "Virtual channels"): what she publishes, what Alice pays by. */
const INGRID_TERMS: RentalTerms = {
  baseFee: 1_000_000_000_000n,
  ratePerSecondPerUnit: 1_000_000_000n,
  maxDurationSeconds: 86_400n,
};

/** Wei on top of V's deposit in every ledger deposit: Alice's fee comes out of it. */
const LEDGER_HEADROOM = parseEther("1");
/** The most V may hold: the dev accounts hold 1,000,000 ETH, and Ingrid fronts V in full. */
const MAX_VIRTUAL_DEPOSIT = parseEther("1000");

/** Longest stream by the clock (Alice's --duration). */
const MAX_DURATION_SECONDS = 3_600;
/**
 * V's lifetime, what Alice rents Ingrid's collateral for: the longest stream by the clock and a
 * margin to close V.
 * At expiry V would be closed by Alice's client (and after a grace period by Ingrid) mid-stream.
 */
const VIRTUAL_SECONDS = BigInt(MAX_DURATION_SECONDS + 600);

type Checked = Required<Omit<MeteredStreamOptions, "durationSeconds" | "log">> &
  Pick<MeteredStreamOptions, "durationSeconds" | "log">;

/** Range checks, shared by the function and the CLI: the error names the option and the range. */
export function checkStreamOptions(o: MeteredStreamOptions): Checked {
  const int = (v: unknown, name: string, min: number, max: number): number => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(name, `an integer from ${min} to ${max}`, v);
    }
    return v;
  };
  const chunks = int(o.chunks ?? DEFAULTS.chunks, "chunks", 1, 1_000_000);
  const stopPayingAfter = int(o.stopPayingAfter ?? chunks, "stopPayingAfter", 0, chunks);
  const chunkSize = int(o.chunkSize ?? DEFAULTS.chunkSize, "chunkSize", 1, 1 << 20);
  // At least one chunk on credit: Alice pays after receipt, so with none no chunk would ever leave.
  const creditChunks = int(o.creditChunks ?? DEFAULTS.creditChunks, "creditChunks", 1, 1_000);
  const stallMs = int(o.stallMs ?? DEFAULTS.stallMs, "stallMs", 1, 600_000);
  const price = o.price ?? DEFAULTS.price;
  if (typeof price !== "bigint" || price < 1n || price * BigInt(chunks) > MAX_VIRTUAL_DEPOSIT) {
    throw new InvalidArgumentError(
      "price",
      `wei per chunk as a positive bigint, with price x chunks at most ${formatEther(MAX_VIRTUAL_DEPOSIT)} ETH`,
      price,
    );
  }
  const d = o.durationSeconds;
  if (d !== undefined && (typeof d !== "number" || !(d > 0) || d > MAX_DURATION_SECONDS)) {
    throw new InvalidArgumentError(
      "durationSeconds",
      `a number of seconds above 0, at most ${MAX_DURATION_SECONDS}`,
      d,
    );
  }
  return {
    chunks,
    stopPayingAfter,
    chunkSize,
    price,
    creditChunks,
    stallMs,
    ...(d === undefined ? {} : { durationSeconds: d }),
    ...(o.log === undefined ? {} : { log: o.log }),
  };
}

/** Alice, Ingrid and Bob on a fresh embedded chain, with both ledger channels and V open. */
export interface StreamNetwork {
  readonly alice: PerunClient;
  readonly bob: PerunClient;
  readonly ingrid: PerunClient;
  /** Private keys of the three (development keys of the embedded chain). */
  readonly keys: { readonly alice: Hex; readonly bob: Hex; readonly ingrid: Hex };
  /** The ledger channels Alice-Ingrid and Bob-Ingrid, and V between Alice and Bob. */
  readonly l1: Hex;
  readonly l2: Hex;
  readonly v: Hex;
  readonly ledgerDeposit: bigint;
  readonly virtualDeposit: bigint;
  /** What Alice paid Ingrid for V, quoted from Ingrid's published terms. */
  readonly fee: bigint;
  /** Payouts on chain so far, by party ("alice", "bob", "ingrid") and channel id. */
  withdrawn(party: string, channelID: Hex): bigint;
  /** How many channel updates Ingrid co-signed so far (any channel of hers). */
  ingridUpdates(): number;
  /** Closes the three clients and deletes their stores. */
  close(): Promise<void>;
}

/**
 * Sets up the parties of the example: a chain in this process, three clients with SQLite stores in a
 * new temporary folder and the WebSocket wire between them, a funded ledger channel of Alice and one of
 * Bob with Ingrid (on chain), and V from Alice to Bob through Ingrid (no transaction), holding
 * `price x chunks` of Alice's. Resolves once both ends of V are funded and Ingrid stored both locks.
 */
export async function openStreamNetwork(options: MeteredStreamOptions = {}): Promise<StreamNetwork> {
  const o = checkStreamOptions(options);
  const dir = mkdtempSync(join(tmpdir(), "perun-stream-"));
  const clients: PerunClient[] = [];
  const close = async () => {
    for (const c of clients.reverse()) await c.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // accounts[0] deployed the contracts; Alice, Bob and Ingrid are 1, 2 and 3.
    const chain = await createEmbeddedChain({ accounts: 4 });
    const [, aliceKey, bobKey, ingridKey] = chain.accounts as [Hex, Hex, Hex, Hex];
    const virtualDeposit = o.price * BigInt(o.chunks);
    const ledgerDeposit = virtualDeposit + LEDGER_HEADROOM;
    const party = async (
      name: string,
      signer: Hex,
      extra: { intermediary?: RentalTerms; acceptProposals?: boolean },
    ): Promise<PerunClient> => {
      const c = await createPerunClient({
        signer,
        chain,
        store: { file: join(dir, `${name}.db`) },
        listen: { port: 0 },
        // Ingrid fronts V towards Bob out of her deposit with him, so she deposits as much as each peer.
        policy: { maxDeposit: { ETH: ledgerDeposit } },
        log: (...line) => o.log?.(name, ...line),
        ...extra,
      });
      clients.push(c);
      return c;
    };
    const ingrid = await party("ingrid", ingridKey, { intermediary: INGRID_TERMS, acceptProposals: true });
    const bob = await party("bob", bobKey, { acceptProposals: true });
    const alice = await party("alice", aliceKey, {});
    for (const [a, b] of [
      [alice, ingrid],
      [alice, bob],
      [bob, ingrid],
    ] as const) {
      a.addPeer(b.address, b.url as string);
      b.addPeer(a.address, a.url as string);
    }
    const withdrawn = new Map<string, bigint>();
    let ingridUpdates = 0;
    for (const [name, c] of [
      ["alice", alice],
      ["bob", bob],
      ["ingrid", ingrid],
    ] as const) {
      c.onEvent((e) => {
        if (e.type === "withdrawn") {
          const key = `${name}:${e.channelID.toLowerCase()}`;
          withdrawn.set(key, (withdrawn.get(key) ?? 0n) + (e.amounts[0] ?? 0n));
        }
        if (name === "ingrid" && e.type === "updated") ingridUpdates += 1;
      });
    }

    // Two ledger channels on chain, both sides funded.
    const [l1, l2] = await Promise.all([
      alice.openChannel({ peer: ingrid.address, deposit: ledgerDeposit, peerDeposit: ledgerDeposit }),
      bob.openChannel({ peer: ingrid.address, deposit: ledgerDeposit, peerDeposit: ledgerDeposit }),
    ]);
    await until(
      () => ingrid.channel(l1).phase === "Acting" && ingrid.channel(l2).phase === "Acting",
      "Ingrid's side of both ledger channels funded",
    );

    // Alice quotes the fee from the terms Ingrid publishes, for V's collateral and lifetime.
    const terms = ingrid.directoryEntry().terms;
    if (terms === null) throw new PerunError("NO_TERMS", "Ingrid publishes no rental terms.");
    const fee = rentalFee(terms, virtualDeposit, VIRTUAL_SECONDS);
    const v = await alice.openVirtualChannel({
      peer: bob.address,
      deposit: virtualDeposit,
      seconds: VIRTUAL_SECONDS,
      via: ingrid.address,
      ledger: l1,
      peerLedger: l2,
      fee,
    });
    await until(
      () => bob.channels().some((c) => c.channelID === v && c.phase === "Acting"),
      "Bob's side of V",
    );
    // Ingrid's view of both locks must be stored before her versions are anyone's baseline.
    await until(
      () =>
        ingrid.channel(l1).version === alice.channel(l1).version &&
        ingrid.channel(l2).version === bob.channel(l2).version,
      "Ingrid's view of the locks",
    );
    return {
      alice,
      bob,
      ingrid,
      keys: { alice: aliceKey, bob: bobKey, ingrid: ingridKey },
      l1,
      l2,
      v,
      ledgerDeposit,
      virtualDeposit,
      fee,
      withdrawn: (name, id) => withdrawn.get(`${name}:${id.toLowerCase()}`) ?? 0n,
      ingridUpdates: () => ingridUpdates,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Runs the whole example in this process: chain, Alice, Ingrid and Bob, the channels, the stream, the
 * settlement; resolves with the report. Everything it started is stopped before it resolves or rejects.
 *
 * @example
 * const report = await runMeteredStream({ chunks: 100, stopPayingAfter: 60 });
 * console.log(report.chunks.served, report.rates.chunksPerSecond);
 */
export async function runMeteredStream(options: MeteredStreamOptions = {}): Promise<MeteredStreamReport> {
  const o = checkStreamOptions(options);
  const t0 = performance.now();
  const net = await openStreamNetwork(o);
  const { alice, bob, ingrid, l1, l2, v, ledgerDeposit, virtualDeposit, fee } = net;
  let server: StreamServer | undefined;
  try {
    const ingridVersions = (): [bigint, bigint] => [
      ingrid.channel(l1).version ?? -1n,
      ingrid.channel(l2).version ?? -1n,
    ];
    const versionsBefore = ingridVersions();
    const updatesBefore = net.ingridUpdates();
    const t1 = performance.now();

    // The stream.
    server = await startStreamServer({
      client: bob,
      chunkSize: o.chunkSize,
      price: o.price,
      creditChunks: o.creditChunks,
      stallMs: o.stallMs,
      maxChunks: 1_000_000,
    });
    const served = new Promise<ServedStream>((resolve) => server?.onStreamEnd(resolve));
    const got = await receiveStream({
      client: alice,
      privateKey: net.keys.alice,
      channelID: v,
      host: server.host,
      port: server.port,
      chunks: o.chunks,
      chunkSize: o.chunkSize,
      price: o.price,
      stopPayingAfter: o.stopPayingAfter,
      ...(o.durationSeconds === undefined ? {} : { durationMs: o.durationSeconds * 1_000 }),
    });
    const bobSaw = await served;
    if (bobSaw.reason === "refused") {
      throw new PerunError("STREAM_REFUSED", `Bob refused the stream: ${bobSaw.detail}.`);
    }
    // Alice's last payment resolved once Bob co-signed it; his client publishes it once it is stored.
    const bobIdx = bob.channel(v).idx;
    // Bob put nothing into V: all he holds in it, Alice paid him.
    const bobGain = () => bob.channel(v).balances?.[0]?.[bobIdx] ?? 0n;
    await until(() => bobGain() === got.paidWei, "Bob's view of the last payment");
    const versionsAfter = ingridVersions();
    const updatesDuringStream = net.ingridUpdates() - updatesBefore;
    const t2 = performance.now();

    // Close V into both ledger channels (no transaction), then the ledger channels on chain.
    await alice.settle(v);
    await until(() => bob.channel(v).virtual?.unlocked === true, "Bob's side of V unlocked");
    const aliceIdx = alice.channel(v).idx;
    const final = alice.channel(v).balances?.[0] ?? [];
    const virtualFinal: [bigint, bigint] = [final[aliceIdx] ?? 0n, final[1 - aliceIdx] ?? 0n];
    await Promise.all([alice.settle(l1), bob.settle(l2)]);
    // Alice's and Bob's conclusions paid Ingrid too; her watcher sees it and she records the payout.
    await until(
      () => ingrid.channel(l1).phase === "Withdrawn" && ingrid.channel(l2).phase === "Withdrawn",
      "Ingrid's payouts",
      30_000,
    );
    const t3 = performance.now();

    const paid = Number(bobGain() / o.price);
    const streamSeconds = (at: number | undefined) => (at === undefined ? 0 : (at - got.startedAt) / 1_000);
    const rate = (n: number, s: number) => (s > 0 ? n / s : 0);
    return {
      chunks: {
        requested: o.chunks,
        chunkSize: o.chunkSize,
        served: bobSaw.served,
        received: got.received,
        paid,
        unpaid: bobSaw.served - paid,
        maxUnpaid: bobSaw.maxUnpaid,
        creditChunks: o.creditChunks,
      },
      payments: got.payments,
      stopPayingAfter: o.stopPayingAfter,
      stopReason: bobSaw.reason,
      rates: {
        chunksPerSecond: rate(got.received, streamSeconds(got.lastChunkAt)),
        paymentsPerSecond: rate(got.payments, streamSeconds(got.lastPaymentAt)),
        bytesPerSecond: rate(got.bytes, streamSeconds(got.lastChunkAt)),
      },
      seconds: { setup: (t1 - t0) / 1_000, stream: (t2 - t1) / 1_000, settle: (t3 - t2) / 1_000 },
      wei: {
        price: o.price,
        totalPaid: got.paidWei,
        ingridFee: fee,
        ingridNet: net.withdrawn("ingrid", l1) + net.withdrawn("ingrid", l2) - 2n * ledgerDeposit,
        aliceNet: net.withdrawn("alice", l1) - ledgerDeposit,
        bobNet: net.withdrawn("bob", l2) - ledgerDeposit,
        virtualDeposits: [virtualDeposit, 0n],
        virtualFinal,
      },
      ingrid: {
        versionsBefore,
        versionsAfter,
        updatesDuringStream,
        sawPayments: updatesDuringStream > 0 || versionsAfter.some((x, i) => x !== versionsBefore[i]),
      },
    };
  } finally {
    await server?.close();
    await net.close();
  }
}

async function until(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new PerunError("TIMEOUT", `Timed out after ${ms} ms waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const USAGE = `Usage: node dist/examples/metered-stream.js [options]

Bob streams data chunks to Alice over TCP; Alice pays for each chunk over a virtual channel through
Ingrid; Bob stops serving when Alice stops paying. Runs on an embedded EVM in this process.

Options:
  --chunks <n>              chunks Alice asks for (default ${DEFAULTS.chunks})
  --stop-paying-after <n>   Alice pays for the first n chunks only (default: all)
  --chunk-size <bytes>      bytes per chunk (default ${DEFAULTS.chunkSize})
  --price <wei>             wei per chunk, e.g. 1000000000000 or 1e12 (default 1e12)
  --credit <n>              chunks Bob serves ahead of the payments (default ${DEFAULTS.creditChunks})
  --stall-ms <ms>           how long Bob waits for a late payment before he stops (default ${DEFAULTS.stallMs})
  --duration <seconds>      Alice hangs up after this long (default: when the stream ends)
  --json                    print the report as one JSON line
  --verbose                 the clients' warnings on stderr
  --help                    this text
`;

/** Parses the command line into options; an `InvalidArgumentError` names the option that is wrong. */
export function parseStreamArgs(argv: readonly string[]): {
  options: MeteredStreamOptions;
  json: boolean;
  verbose: boolean;
  help: boolean;
} {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        chunks: { type: "string" },
        "stop-paying-after": { type: "string" },
        "chunk-size": { type: "string" },
        price: { type: "string" },
        credit: { type: "string" },
        "stall-ms": { type: "string" },
        duration: { type: "string" },
        json: { type: "boolean" },
        verbose: { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (err) {
    // node's own message names the option ("Unknown option '--chunkz'", "Option '--chunks <value>'
    // argument missing"); it becomes our error so that every bad command line fails the same way.
    throw new InvalidArgumentError(
      "command line",
      "the options of --help",
      argv.join(" "),
      (err as Error).message,
    );
  }
  const int = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !/^\d+$/.test(v))
      throw new InvalidArgumentError(`--${name}`, "an integer", v);
    return Number(v);
  };
  const wei = (name: string): bigint | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const m = typeof v === "string" ? /^(\d+)(?:e(\d{1,2}))?$/.exec(v) : null;
    if (!m) throw new InvalidArgumentError(`--${name}`, "an amount in wei (digits, or 1e12 notation)", v);
    return BigInt(m[1] as string) * 10n ** BigInt(m[2] ?? "0");
  };
  const seconds = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !/^\d+(\.\d+)?$/.test(v)) {
      throw new InvalidArgumentError(`--${name}`, "a number of seconds", v);
    }
    return Number(v);
  };
  const raw = {
    chunks: int("chunks"),
    stopPayingAfter: int("stop-paying-after"),
    chunkSize: int("chunk-size"),
    price: wei("price"),
    creditChunks: int("credit"),
    stallMs: int("stall-ms"),
    durationSeconds: seconds("duration"),
  };
  const options = Object.fromEntries(
    Object.entries(raw).filter(([, v]) => v !== undefined),
  ) as MeteredStreamOptions;
  // Range errors name the flag the user typed, not the option's field name.
  const flags: Record<string, string> = {
    chunks: "--chunks",
    stopPayingAfter: "--stop-paying-after",
    chunkSize: "--chunk-size",
    price: "--price",
    creditChunks: "--credit",
    stallMs: "--stall-ms",
    durationSeconds: "--duration",
  };
  try {
    checkStreamOptions(options);
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      const what = String(err.details.what);
      throw new InvalidArgumentError(
        flags[what] ?? what,
        String(err.details.expected),
        raw[what as keyof typeof raw],
      );
    }
    throw err;
  }
  return {
    options,
    json: values.json === true,
    verbose: values.verbose === true,
    help: values.help === true,
  };
}

/** The report as JSON: wei amounts and versions as decimal strings (JSON has no bigint). */
export function reportJson(r: MeteredStreamReport): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

export function reportText(r: MeteredStreamReport): string {
  const eth = (wei: bigint) => `${formatEther(wei)} ETH`;
  const n = (x: number) => x.toFixed(1);
  const c = r.chunks;
  const why: Record<EndReason, string> = {
    complete: "every chunk asked for was sent",
    unpaid: `Alice stopped paying; Bob stopped ${c.unpaid} chunk(s) after her last payment`,
    "receiver-closed": "Alice hung up",
    refused: "Bob refused the stream",
    "server-closed": "Bob's server shut down",
  };
  const [b1, b2] = r.ingrid.versionsBefore;
  const [a1, a2] = r.ingrid.versionsAfter;
  return [
    "Metered stream: Bob serves chunks over TCP, Alice pays per chunk over a virtual channel through Ingrid",
    `  chunks     ${c.requested} asked, ${c.served} served, ${c.received} received, ${c.paid} paid ` +
      `(${c.chunkSize} bytes each; credit window ${c.creditChunks}, at most ${c.maxUnpaid} unpaid at once)`,
    `  stopped    ${r.stopReason}: ${why[r.stopReason]}`,
    `  payments   ${r.payments} made (Alice pays for the first ${r.stopPayingAfter}), ${eth(r.wei.totalPaid)} ` +
      `in all at ${r.wei.price} wei per chunk`,
    `  rates      ${n(r.rates.chunksPerSecond)} chunks/s, ${n(r.rates.paymentsPerSecond)} payments/s, ` +
      `${(r.rates.bytesPerSecond / 1_048_576).toFixed(2)} MiB/s`,
    `  Ingrid     fee ${eth(r.wei.ingridFee)}, net gain ${eth(r.wei.ingridNet)}; her ledger channels at versions ` +
      `${b1}/${b2} before the stream and ${a1}/${a2} after: ` +
      (r.ingrid.sawPayments ? "she SAW updates during the stream" : "she saw none of the payments"),
    `  settled    V [Alice, Bob]: [${eth(r.wei.virtualDeposits[0])}, ${eth(r.wei.virtualDeposits[1])}] -> ` +
      `[${eth(r.wei.virtualFinal[0])}, ${eth(r.wei.virtualFinal[1])}]; on chain, net of deposits: ` +
      `Alice ${eth(r.wei.aliceNet)}, Bob ${eth(r.wei.bobNet)}, Ingrid ${eth(r.wei.ingridNet)}`,
    `  time       setup ${r.seconds.setup.toFixed(2)} s, stream ${r.seconds.stream.toFixed(2)} s, ` +
      `settle ${r.seconds.settle.toFixed(2)} s`,
  ].join("\n");
}

/** The command line; resolves with the exit code (2: bad options, 1: the run failed). */
export async function main(argv: readonly string[]): Promise<number> {
  let args: ReturnType<typeof parseStreamArgs>;
  try {
    args = parseStreamArgs(argv);
  } catch (err) {
    process.stderr.write(`metered-stream: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log: MeteredStreamOptions["log"] = args.verbose
    ? (party, level, message, details) => {
        if (level === "warn" || level === "error") {
          process.stderr.write(`${party} ${level}: ${message} ${details ? JSON.stringify(details) : ""}\n`);
        }
      }
    : undefined;
  try {
    const report = await runMeteredStream({ ...args.options, ...(log === undefined ? {} : { log }) });
    process.stdout.write(`${args.json ? reportJson(report) : reportText(report)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`metered-stream: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

const invoked = process.argv[1];
if (invoked !== undefined && import.meta.url === pathToFileURL(realpathSync(invoked)).href) {
  // The embedded chain keeps handles open after the run: exit once the report is out.
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
