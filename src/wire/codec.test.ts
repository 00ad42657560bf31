import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { address, bytes32, hexBytes, twoPartyChannel } from "../channel/arbitraries.testutil.js";
import { channelId } from "../channel/hash.js";
import type { Allocation, Hex, Params, State } from "../channel/types.js";
import { MAX_UINT64 } from "../channel/types.js";
import { PerunError } from "../errors.js";
import { CODEC_VERSION, decodeMsg, encodeMsg, MAX_FRAME_BYTES, MAX_REASON_LENGTH } from "./codec.js";
import { MalformedMessageError, OversizedMessageError } from "./errors.js";
import { ID, SIG, sampleMessages } from "./fixtures.testutil.js";
import type { WireMsg } from "./messages.js";

// Amounts below 2^250 so that no asset total (at most 7 entries) can exceed uint256.
const amount = fc.oneof(fc.constantFrom(0n, 1n, MAX_UINT64), fc.bigInt({ min: 0n, max: 1n << 250n }));
const version = fc.oneof(fc.constantFrom(0n, MAX_UINT64), fc.bigInt({ min: 0n, max: MAX_UINT64 }));
const sig = hexBytes(65, 65);
const reason = fc
  .string({ maxLength: MAX_REASON_LENGTH, unit: "grapheme" })
  .filter((s) => s.length <= MAX_REASON_LENGTH);
const index = fc.integer({ min: 0, max: 0xffff });

function allocation(assets: number, parts: number): fc.Arbitrary<Allocation> {
  return fc.record({
    assets: fc.array(fc.record({ chainID: amount, ethHolder: address, ccHolder: hexBytes(0, 40) }), {
      minLength: assets,
      maxLength: assets,
    }),
    backends: fc.array(fc.constantFrom(0n, 1n), { minLength: assets, maxLength: assets }),
    balances: fc.array(fc.array(amount, { minLength: parts, maxLength: parts }), {
      minLength: assets,
      maxLength: assets,
    }),
    locked: fc.uniqueArray(
      fc.record({
        ID: bytes32,
        balances: fc.array(amount, { minLength: assets, maxLength: assets }),
        indexMap: fc.uniqueArray(fc.nat({ max: parts - 1 }), { minLength: 1, maxLength: parts }),
      }),
      { maxLength: 3, selector: (s) => s.ID },
    ),
  });
}

function state(parts: number, id: fc.Arbitrary<Hex> = bytes32): fc.Arbitrary<State> {
  return fc.integer({ min: 1, max: 3 }).chain((assets) =>
    fc.record({
      channelID: id,
      version,
      outcome: allocation(assets, parts),
      appData: hexBytes(0, 64),
      isFinal: fc.boolean(),
    }),
  );
}

const anyState = fc.integer({ min: 2, max: 4 }).chain((parts) => state(parts));

const params: fc.Arbitrary<Params> = fc.record({
  challengeDuration: fc.bigInt({ min: 1n, max: 1n << 64n }),
  nonce: amount,
  participants: fc.uniqueArray(fc.record({ ethAddress: address, ccAddress: hexBytes(0, 20) }), {
    minLength: 2,
    maxLength: 4,
    selector: (p) => p.ethAddress.toLowerCase(),
  }),
  app: address,
  ledgerChannel: fc.boolean(),
  virtualChannel: fc.constant(false),
});

/** A virtual channel's params (two participants, no app) with a path of 1-3 intermediaries. */
const virtualContext = fc
  .record({
    params: fc.record({
      challengeDuration: fc.bigInt({ min: 1n, max: 1n << 32n }),
      nonce: amount,
      participants: fc.uniqueArray(fc.record({ ethAddress: address, ccAddress: fc.constant("0x" as Hex) }), {
        minLength: 2,
        maxLength: 2,
        selector: (p) => p.ethAddress.toLowerCase(),
      }),
      app: fc.constant("0x0000000000000000000000000000000000000000" as Hex),
      ledgerChannel: fc.constant(false),
      virtualChannel: fc.constant(true),
    }),
    hops: fc.integer({ min: 1, max: 3 }),
  })
  .chain(({ params: p, hops }) =>
    fc.record({
      params: fc.constant(p),
      path: fc.array(address, { minLength: hops + 2, maxLength: hops + 2 }),
      ledgerIDs: fc.array(bytes32, { minLength: hops + 1, maxLength: hops + 1 }),
      initial: state(2, fc.constant(channelId(p))).map((st) => ({
        ...st,
        outcome: { ...st.outcome, locked: [] },
      })),
      fees: fc.array(fc.array(amount, { minLength: 1, maxLength: 3 }), { minLength: hops, maxLength: hops }),
      expiry: version,
    }),
  );

const arbitraries: Record<WireMsg["type"], fc.Arbitrary<WireMsg>> = {
  virtualProposal: fc
    .tuple(virtualContext, bytes32, sig)
    .map(([c, proposalID, sg]) => ({ type: "virtualProposal" as const, proposalID, sig: sg, ...c })),
  virtualAccept: fc.record({ type: fc.constant("virtualAccept" as const), proposalID: bytes32, sig }),
  virtualReject: fc.record({ type: fc.constant("virtualReject" as const), proposalID: bytes32, reason }),
  virtualFunding: fc
    .tuple(virtualContext, sig, sig)
    .map(([c, s1, s2]) => ({ type: "virtualFunding" as const, sigs: [s1, s2], ...c })),
  virtualFinal: virtualContext.chain((c) =>
    fc.tuple(sig, sig).map(([s1, s2]) => ({
      type: "virtualFinal" as const,
      params: c.params,
      state: c.initial,
      sigs: [s1, s2],
    })),
  ),
  channelProposal: params.chain((p) =>
    fc.record({
      type: fc.constant("channelProposal" as const),
      proposalID: bytes32,
      params: fc.constant(p),
      initial: state(p.participants.length, fc.constant(channelId(p))),
      sig,
      fundingTimeout: version,
    }),
  ),
  channelAccept: fc.record({
    type: fc.constant("channelAccept" as const),
    proposalID: bytes32,
    channelID: bytes32,
    sig,
  }),
  channelReject: fc.record({ type: fc.constant("channelReject" as const), proposalID: bytes32, reason }),
  update: fc.record({
    type: fc.constant("update" as const),
    channelID: bytes32,
    from: index,
    state: anyState,
    sig,
  }),
  updateAccept: fc.record({
    type: fc.constant("updateAccept" as const),
    channelID: bytes32,
    from: index,
    version,
    sig,
  }),
  updateReject: fc.record({
    type: fc.constant("updateReject" as const),
    channelID: bytes32,
    from: index,
    version,
    reason,
  }),
  sync: fc.record({
    type: fc.constant("sync" as const),
    channelID: bytes32,
    state: anyState,
    sigs: fc.array(sig, { minLength: 1, maxLength: 4 }),
  }),
  error: fc.oneof(
    fc.record({ type: fc.constant("error" as const), reason }),
    fc.record({ type: fc.constant("error" as const), reason, channelID: bytes32 }),
  ),
};

describe("codec round trip", () => {
  for (const [type, arb] of Object.entries(arbitraries)) {
    it(`decode(encode(m)) = m for ${type}`, () => {
      fc.assert(
        fc.property(arb, (m) => {
          const frame = encodeMsg(m);
          expect(frame[0]).toBe(CODEC_VERSION);
          expect(decodeMsg(frame)).toEqual(m);
        }),
        { numRuns: type === "channelProposal" ? 50 : 100 },
      );
    });
  }

  it("round-trips the fixed samples and builds fresh objects", () => {
    for (const m of sampleMessages()) {
      const back = decodeMsg(encodeMsg(m));
      expect(back).toEqual(m);
      expect(back).not.toBe(m);
    }
  });
});

/** A frame of version 1 carrying `json` as is. */
function raw(json: string, versionByte = CODEC_VERSION): Uint8Array {
  return Buffer.concat([Buffer.from([versionByte]), Buffer.from(json, "utf8")]);
}

/** The JSON of a valid sample of `type`, parsed, for editing. */
function sample(type: WireMsg["type"]): Record<string, unknown> {
  const m = sampleMessages().find((x) => x.type === type) as WireMsg;
  return JSON.parse(Buffer.from(encodeMsg(m)).toString("utf8", 1)) as Record<string, unknown>;
}

// biome-ignore lint/suspicious/noExplicitAny: the rows edit arbitrary JSON paths
function edit(type: WireMsg["type"], f: (m: Record<string, any>) => void): Uint8Array {
  const m = sample(type);
  f(m);
  return raw(JSON.stringify(m));
}

describe("decodeMsg rejects malformed frames with the field named", () => {
  const { params } = twoPartyChannel();
  const rows: [string, Uint8Array, string][] = [
    ["empty frame", new Uint8Array(0), "frame"],
    ["unknown codec version", raw("{}", 2), "frame.version"],
    ["invalid UTF-8", Uint8Array.from([1, 0xc3, 0x28]), "frame"],
    ["not JSON", raw("{type:"), "frame"],
    ["a JSON array", raw("[]"), "message"],
    ["JSON null", raw("null"), "message"],
    ["unknown type", raw('{"type":"hello"}'), "message.type"],
    ["prototype key as type", raw('{"type":"constructor"}'), "message.type"],
    [
      "extra field",
      edit("update", (m) => {
        m.extra = 1;
      }),
      "update",
    ],
    [
      "missing sig",
      edit("update", (m) => {
        delete m.sig;
      }),
      "update",
    ],
    [
      "sig of 64 bytes",
      edit("update", (m) => {
        m.sig = `0x${"11".repeat(64)}`;
      }),
      "update.sig",
    ],
    [
      "sig not hex",
      edit("update", (m) => {
        m.sig = `0x${"zz".repeat(65)}`;
      }),
      "update.sig",
    ],
    [
      "channelID of 31 bytes",
      edit("update", (m) => {
        m.channelID = `0x${"ab".repeat(31)}`;
      }),
      "update.channelID",
    ],
    [
      "from negative",
      edit("update", (m) => {
        m.from = -1;
      }),
      "update.from",
    ],
    [
      "from fractional",
      edit("update", (m) => {
        m.from = 1.5;
      }),
      "update.from",
    ],
    [
      "from too big",
      edit("update", (m) => {
        m.from = 65536;
      }),
      "update.from",
    ],
    [
      "from as string",
      edit("update", (m) => {
        m.from = "0";
      }),
      "update.from",
    ],
    [
      "version 2^64",
      edit("updateAccept", (m) => {
        m.version = "18446744073709551616";
      }),
      "updateAccept.version",
    ],
    [
      "version as JSON number",
      edit("updateAccept", (m) => {
        m.version = 5;
      }),
      "updateAccept.version",
    ],
    [
      "version with leading zero",
      edit("updateAccept", (m) => {
        m.version = "01";
      }),
      "updateAccept.version",
    ],
    [
      "version negative",
      edit("update", (m) => {
        m.state.version = "-1";
      }),
      "update.state.version",
    ],
    [
      "reason too long",
      edit("updateReject", (m) => {
        m.reason = "x".repeat(MAX_REASON_LENGTH + 1);
      }),
      "updateReject.reason",
    ],
    [
      "reason not a string",
      edit("channelReject", (m) => {
        m.reason = 7;
      }),
      "channelReject.reason",
    ],
    [
      "more balance rows than assets",
      edit("update", (m) => {
        m.state.outcome.balances.push(["1", "2"]);
      }),
      "update.state.outcome.balances",
    ],
    [
      "balance beyond uint256",
      edit("sync", (m) => {
        m.state.outcome.balances[0][0] = `2${"0".repeat(77)}`;
      }),
      "sync.state.outcome.balances[0][0]",
    ],
    [
      "balance as number",
      edit("sync", (m) => {
        m.state.outcome.balances[0][1] = 50;
      }),
      "sync.state.outcome.balances[0][1]",
    ],
    [
      "extra field in state",
      edit("sync", (m) => {
        m.state.x = 1;
      }),
      "sync.state",
    ],
    [
      "appData odd length",
      edit("sync", (m) => {
        m.state.appData = "0x1";
      }),
      "sync.state.appData",
    ],
    [
      "isFinal as string",
      edit("sync", (m) => {
        m.state.isFinal = "false";
      }),
      "sync.state.isFinal",
    ],
    [
      "no signatures",
      edit("sync", (m) => {
        m.sigs = [];
      }),
      "sync.sigs",
    ],
    [
      "short signature in list",
      edit("sync", (m) => {
        m.sigs[1] = "0x11";
      }),
      "sync.sigs[1]",
    ],
    [
      "participant address of 19 bytes",
      edit("channelProposal", (m) => {
        m.params.participants[1].ethAddress = `0x${"12".repeat(19)}`;
      }),
      "channelProposal.params.participants[1].ethAddress",
    ],
    [
      "one participant",
      edit("channelProposal", (m) => {
        m.params.participants.pop();
      }),
      "channelProposal.params.participants",
    ],
    [
      "zero challenge duration",
      edit("channelProposal", (m) => {
        m.params.challengeDuration = "0";
      }),
      "channelProposal.params.challengeDuration",
    ],
    [
      "initial state of another channel",
      edit("channelProposal", (m) => {
        m.initial.channelID = ID;
      }),
      "channelProposal.initial.channelID",
    ],
    [
      "fundingTimeout beyond uint64",
      edit("channelProposal", (m) => {
        m.fundingTimeout = "18446744073709551616";
      }),
      "channelProposal.fundingTimeout",
    ],
    [
      "error channelID null",
      edit("error", (m) => {
        m.channelID = null;
      }),
      "error.channelID",
    ],
  ];
  it.each(rows)("%s", (_name, frame, field) => {
    let error: unknown;
    try {
      decodeMsg(frame);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MalformedMessageError);
    const m = error as MalformedMessageError;
    expect(m).toBeInstanceOf(PerunError);
    expect(m.code).toBe("MALFORMED_MESSAGE");
    expect(m.field).toBe(field);
    expect(m.details.expected).toEqual(expect.any(String));
  });

  it("uses the params it was given (sanity of the fixture)", () => {
    expect(params.participants).toHaveLength(2);
  });
});

describe("frame size", () => {
  it("rejects an oversized frame before parsing it", () => {
    const big = new Uint8Array(MAX_FRAME_BYTES + 1); // not even the right version byte
    expect(() => decodeMsg(big)).toThrow(OversizedMessageError);
    expect(() => decodeMsg(raw("{}"), 2)).toThrow(OversizedMessageError);
  });

  it("refuses to encode a message beyond the limit", () => {
    const m: WireMsg = { type: "error", reason: "x".repeat(100) };
    expect(() => encodeMsg(m, 50)).toThrow(OversizedMessageError);
  });
});

describe("encodeMsg", () => {
  it("rejects wrong JS types with the field named", () => {
    const bad = { type: "updateAccept", channelID: ID, from: 0, version: 1, sig: SIG } as unknown as WireMsg;
    expect(() => encodeMsg(bad)).toThrow(/updateAccept|version/);
    try {
      encodeMsg(bad);
    } catch (e) {
      expect((e as MalformedMessageError).field).toBe("version");
    }
    expect(() => encodeMsg({ type: "nope" } as unknown as WireMsg)).toThrow(MalformedMessageError);
  });

  it("cannot be broken out of a string by quotes in a field", () => {
    const m: WireMsg = { type: "channelReject", proposalID: ID, reason: '","type":"error' };
    expect(decodeMsg(encodeMsg(m))).toEqual(m);
  });
});
