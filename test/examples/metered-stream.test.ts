/**
 * The metered stream example (examples/metered-stream.ts) on the real embedded EVM, with real library
 * clients, SQLite stores and the WebSocket wire, no mocks: Bob stops serving within his credit window
 * once Alice stops paying, every chunk paid for was received, V's final balances and every on-chain
 * payout are exact to the wei (Ingrid nets exactly her fee), and Ingrid sees none of the per-chunk
 * payments. The command line's bad options are a table, each refused naming the flag.
 */
import { describe, expect, it } from "vitest";
import {
  type MeteredStreamReport,
  openStreamNetwork,
  parseStreamArgs,
  reportJson,
  reportText,
  runMeteredStream,
} from "../../examples/metered-stream.js";
import { FrameError, FrameReader, FrameType, jsonFrame } from "../../examples/stream-frames.js";
import { receiveStream } from "../../examples/stream-receiver.js";
import { startStreamServer } from "../../examples/stream-server.js";
import { PerunError } from "../../src/errors.js";
import type { Hex } from "../../src/index.js";

/** What holds for every run, whatever made the stream stop. */
function expectExactMoney(r: MeteredStreamReport): void {
  const c = r.chunks;
  const paidWei = r.wei.price * BigInt(c.paid);
  // Bob counts what his client saw in V, Alice what her `pay` calls returned: the same payments.
  expect(c.paid).toBe(r.payments);
  expect(r.wei.totalPaid).toBe(paidWei);
  // Every chunk Alice paid for reached her (she pays after receipt), and Bob never ran past his credit.
  expect(c.received).toBeGreaterThanOrEqual(r.payments);
  expect(c.maxUnpaid).toBeLessThanOrEqual(c.creditChunks);
  expect(c.unpaid).toBeLessThanOrEqual(c.creditChunks);
  const [aliceDeposit, bobDeposit] = r.wei.virtualDeposits;
  expect(r.wei.virtualFinal).toEqual([aliceDeposit - paidWei, bobDeposit + paidWei]);
  // On chain, net of deposits: Ingrid exactly her fee, Alice the payments and the fee, Bob the payments.
  expect(r.wei.ingridFee).toBeGreaterThan(0n);
  expect(r.wei.ingridNet).toBe(r.wei.ingridFee);
  expect(r.wei.aliceNet).toBe(-(paidWei + r.wei.ingridFee));
  expect(r.wei.bobNet).toBe(paidWei);
  // The payments went between Alice and Bob only.
  expect(r.ingrid.updatesDuringStream).toBe(0);
  expect(r.ingrid.versionsAfter).toEqual(r.ingrid.versionsBefore);
  expect(r.ingrid.sawPayments).toBe(false);
}

describe("metered stream on the real EVM", () => {
  it("Bob stops within the credit window once Alice stops paying after 60 of 100 chunks", async () => {
    // Bob's patience for a late payment stays generous: a busy machine must not end the stream early.
    const r = await runMeteredStream({ chunks: 100, stopPayingAfter: 60, stallMs: 2_000 });
    expectExactMoney(r);
    expect(r.stopReason).toBe("unpaid");
    expect(r.payments).toBe(60);
    expect(r.chunks.paid).toBe(60);
    // Alice kept reading, so Bob used his whole credit and not one chunk more.
    expect(r.chunks.served).toBe(60 + r.chunks.creditChunks);
    expect(r.chunks.received).toBe(r.chunks.served);
    for (const rate of [r.rates.chunksPerSecond, r.rates.paymentsPerSecond, r.rates.bytesPerSecond]) {
      expect(Number.isFinite(rate) && rate > 0).toBe(true);
    }
    const json = JSON.parse(reportJson(r));
    expect(json.wei.totalPaid).toBe((60n * r.wei.price).toString());
    expect(reportText(r)).toMatch(/chunks\/s, .* payments\/s/);
  });

  it("streams to the end while Alice pays, with a credit window of one chunk", async () => {
    const r = await runMeteredStream({ chunks: 40, creditChunks: 1, chunkSize: 4_096 });
    expectExactMoney(r);
    expect(r.stopReason).toBe("complete");
    expect([r.chunks.served, r.chunks.received, r.chunks.paid]).toEqual([40, 40, 40]);
    expect(r.chunks.maxUnpaid).toBe(1);
  });

  it("serves only the credit window to a receiver who never pays", async () => {
    // No payment is ever coming: Bob's patience only delays the end.
    const r = await runMeteredStream({ chunks: 20, stopPayingAfter: 0, creditChunks: 3, stallMs: 200 });
    expectExactMoney(r);
    expect(r.stopReason).toBe("unpaid");
    expect([r.chunks.served, r.chunks.received, r.payments]).toEqual([3, 3, 0]);
    expect(r.wei.virtualFinal).toEqual(r.wei.virtualDeposits);
  });
});

describe("metered stream server", () => {
  it("serves nobody but the other end of a funded virtual channel of Bob's", async () => {
    const net = await openStreamNetwork({ chunks: 10 });
    const server = await startStreamServer({
      client: net.bob,
      chunkSize: 1_024,
      price: 10n ** 12n,
      creditChunks: 2,
      stallMs: 200,
    });
    try {
      const ask = (channelID: Hex, privateKey: Hex) =>
        receiveStream({
          client: net.alice,
          privateKey,
          channelID,
          host: server.host,
          port: server.port,
          chunks: 10,
          chunkSize: 1_024,
          price: 10n ** 12n,
          stopPayingAfter: 0,
        });
      // Ingrid knows V's id (she relayed it) but cannot draw on Alice's payments: she is no end of V.
      const byIngrid = await ask(net.v, net.keys.ingrid);
      expect([byIngrid.reason, byIngrid.received]).toEqual(["refused", 0]);
      expect(byIngrid.end?.detail).toMatch(/not signed by the other end of the channel/);
      // Payments in a ledger channel are not what the stream is metered by.
      const ledger = await ask(net.l2, net.keys.ingrid);
      expect([ledger.reason, ledger.received]).toEqual(["refused", 0]);
      expect(ledger.end?.detail).toMatch(/not a virtual channel/);
      // Alice herself is served, up to the credit window since she pays nothing here.
      const byAlice = await ask(net.v, net.keys.alice);
      expect([byAlice.reason, byAlice.received]).toEqual(["unpaid", 2]);
    } finally {
      await server.close();
      await net.close();
    }
  });
});

describe("metered stream command line", () => {
  it("reads the options", () => {
    const a = parseStreamArgs(["--chunks", "200", "--stop-paying-after", "150", "--price", "1e12", "--json"]);
    expect(a).toEqual({
      options: { chunks: 200, stopPayingAfter: 150, price: 10n ** 12n },
      json: true,
      verbose: false,
      help: false,
    });
  });

  const rows: [string, string[], RegExp][] = [
    ["an unknown option", ["--chunkz", "3"], /Unknown option '--chunkz'/],
    ["a missing value", ["--chunks"], /--chunks <value>' argument missing/],
    ["a positional argument", ["200"], /Unexpected argument '200'/],
    ["chunks not a number", ["--chunks", "many"], /Invalid --chunks: expected an integer, got "many"/],
    ["no chunks", ["--chunks", "0"], /Invalid --chunks: expected an integer from 1 to 1000000, got 0/],
    [
      "stop paying after more than asked for",
      ["--chunks", "10", "--stop-paying-after", "11"],
      /Invalid --stop-paying-after: expected an integer from 0 to 10, got 11/,
    ],
    ["no credit", ["--credit", "0"], /Invalid --credit: expected an integer from 1 to 1000/],
    ["a price in ether", ["--price", "0.001"], /Invalid --price: expected an amount in wei/],
    ["a price of nothing", ["--price", "0"], /Invalid --price: expected wei per chunk as a positive bigint/],
    ["a price too high", ["--price", "1e21"], /price x chunks at most 1000 ETH/],
    ["chunks of 2 MiB", ["--chunk-size", "2097152"], /Invalid --chunk-size: expected an integer from 1 to/],
    ["a negative duration", ["--duration=-1"], /Invalid --duration: expected a number of seconds/],
    ["a zero duration", ["--duration", "0"], /Invalid --duration: expected a number of seconds above 0/],
  ];
  for (const [name, argv, message] of rows) {
    it(`refuses ${name}`, () => {
      let error: unknown;
      try {
        parseStreamArgs(argv);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PerunError);
      expect((error as PerunError).code).toBe("INVALID_ARGUMENT");
      expect((error as PerunError).message).toMatch(message);
    });
  }
});

describe("metered stream frames", () => {
  it("reassembles frames cut anywhere and refuses one longer than allowed", () => {
    const bytes = Buffer.concat([
      jsonFrame(FrameType.end, { reason: "complete" }),
      jsonFrame(FrameType.hello, {}),
    ]);
    const reader = new FrameReader(64);
    const frames = [...bytes].flatMap((b) => reader.push(Buffer.from([b])));
    expect(frames.map((f) => [f.type, JSON.parse(f.body.toString("utf8"))])).toEqual([
      [FrameType.end, { reason: "complete" }],
      [FrameType.hello, {}],
    ]);
    expect(() => new FrameReader(8).push(jsonFrame(FrameType.hello, { channelID: "0x00" }))).toThrow(
      FrameError,
    );
  });
});
