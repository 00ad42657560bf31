import fc from "fast-check";
import { encodeAbiParameters, toHex, hexToBytes as viemHexToBytes } from "viem";
import { describe, expect, it } from "vitest";
import { FUNDING_ID_ABI, PARAMS_ABI, STATE_ABI, WITHDRAWAL_AUTH_ABI } from "./abi.js";
import { address, bytes32, paramsArb, stateArb, withdrawalAuthArb } from "./arbitraries.testutil.js";
import {
  decodeParams,
  decodeState,
  encodeFundingId,
  encodeParams,
  encodeState,
  encodeWithdrawalAuth,
} from "./encoding.js";
import { AbiDecodingError, InvalidFieldError } from "./errors.js";
import type { Params, State } from "./types.js";
import { MAX_UINT64, MAX_UINT256, ZERO_ADDRESS } from "./types.js";

const viemState = (s: State) => encodeAbiParameters(STATE_ABI, [s as never]);
const viemParams = (p: Params) => encodeAbiParameters(PARAMS_ABI, [p as never]);

/** Lower-cases every hex string, to compare values modulo address checksums. */
const norm = (v: unknown): unknown =>
  JSON.parse(
    JSON.stringify(v, (_k, x) =>
      typeof x === "bigint" ? `${x}n` : typeof x === "string" ? x.toLowerCase() : x,
    ),
  );

const baseState: State = {
  channelID: `0x${"11".repeat(32)}`,
  version: 7n,
  outcome: {
    assets: [{ chainID: 1337n, ethHolder: `0x${"aa".repeat(20)}`, ccHolder: "0x" }],
    backends: [0n],
    balances: [[10n, 20n]],
    locked: [],
  },
  appData: "0x",
  isFinal: false,
};

const fixedStates: [string, State][] = [
  ["one asset, empty bytes", baseState],
  ["final, app data of 33 bytes", { ...baseState, isFinal: true, appData: `0x${"ab".repeat(33)}` }],
  [
    "max uint values",
    { ...baseState, version: MAX_UINT64, outcome: { ...baseState.outcome, balances: [[MAX_UINT256, 0n]] } },
  ],
  [
    "two assets, locked sub-allocation, three participants",
    {
      ...baseState,
      outcome: {
        assets: [
          { chainID: 1n, ethHolder: `0x${"01".repeat(20)}`, ccHolder: `0x${"cc".repeat(20)}` },
          { chainID: 2n, ethHolder: `0x${"02".repeat(20)}`, ccHolder: "0x" },
        ],
        backends: [0n, 1n],
        balances: [
          [1n, 2n, 3n],
          [4n, 5n, 6n],
        ],
        locked: [{ ID: `0x${"22".repeat(32)}`, balances: [7n, 8n], indexMap: [0, 2] }],
      },
    },
  ],
  ["no assets", { ...baseState, outcome: { assets: [], backends: [], balances: [], locked: [] } }],
];

describe("encodeState", () => {
  it.each(fixedStates)("matches viem: %s", (_name, s) => {
    expect(toHex(encodeState(s))).toBe(viemState(s));
  });

  it("matches viem on generated states", () => {
    fc.assert(
      fc.property(stateArb, (s) => toHex(encodeState(s)) === viemState(s)),
      { numRuns: 300 },
    );
  });

  it("round-trips through decodeState", () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        const enc = encodeState(s);
        const dec = decodeState(enc);
        expect(norm(dec)).toEqual(norm(s));
        expect(encodeState(dec)).toEqual(enc);
      }),
      { numRuns: 200 },
    );
  });

  const bad: [string, unknown, string][] = [
    ["short channelID", { ...baseState, channelID: "0x1234" }, "state.channelID"],
    ["non-hex channelID", { ...baseState, channelID: `0x${"zz".repeat(32)}` }, "state.channelID"],
    ["version > uint64", { ...baseState, version: MAX_UINT64 + 1n }, "state.version"],
    ["negative version", { ...baseState, version: -1n }, "state.version"],
    ["number version", { ...baseState, version: 1 }, "state.version"],
    ["odd appData", { ...baseState, appData: "0x123" }, "state.appData"],
    [
      "negative balance",
      { ...baseState, outcome: { ...baseState.outcome, balances: [[-1n, 0n]] } },
      "state.outcome.balances[0][0]",
    ],
    [
      "balance > uint256",
      { ...baseState, outcome: { ...baseState.outcome, balances: [[0n, MAX_UINT256 + 1n]] } },
      "state.outcome.balances[0][1]",
    ],
    [
      "short holder",
      {
        ...baseState,
        outcome: { ...baseState.outcome, assets: [{ chainID: 1n, ethHolder: "0x12", ccHolder: "0x" }] },
      },
      "state.outcome.assets[0].ethHolder",
    ],
    [
      "indexMap > uint16",
      {
        ...baseState,
        outcome: {
          ...baseState.outcome,
          locked: [{ ID: `0x${"22".repeat(32)}`, balances: [1n], indexMap: [70000] }],
        },
      },
      "state.outcome.locked[0].indexMap[0]",
    ],
    ["isFinal not bool", { ...baseState, isFinal: 1 }, "state.isFinal"],
  ];
  it.each(bad)("rejects %s naming the field", (_name, s, field) => {
    expect(() => encodeState(s as State)).toThrow(InvalidFieldError);
    try {
      encodeState(s as State);
    } catch (e) {
      expect((e as InvalidFieldError).field).toBe(field);
      expect((e as InvalidFieldError).code).toBe("INVALID_FIELD");
    }
  });
});

describe("decodeState", () => {
  it("rejects garbage and non-canonical encodings", () => {
    expect(() => decodeState("0x1234")).toThrow(AbiDecodingError);
    const enc = encodeState(baseState);
    // Dirty the high bytes of the version word (uint64 in a 32-byte word): viem would mask or accept.
    const dirty = enc.slice();
    dirty[32 + 32 + 10] = 1;
    expect(() => decodeState(dirty)).toThrow(AbiDecodingError);
    // Trailing bytes.
    const longer = new Uint8Array(enc.length + 32);
    longer.set(enc);
    expect(() => decodeState(longer)).toThrow(AbiDecodingError);
  });
});

describe("encodeParams / encodeWithdrawalAuth / encodeFundingId", () => {
  it("params match viem and round-trip", () => {
    fc.assert(
      fc.property(paramsArb, (p) => {
        const enc = encodeParams(p);
        expect(toHex(enc)).toBe(viemParams(p));
        expect(norm(decodeParams(enc))).toEqual(norm(p));
      }),
      { numRuns: 200 },
    );
  });

  it("withdrawal auth matches viem", () => {
    fc.assert(
      fc.property(
        withdrawalAuthArb,
        (a) => toHex(encodeWithdrawalAuth(a)) === encodeAbiParameters(WITHDRAWAL_AUTH_ABI, [a as never]),
      ),
      { numRuns: 200 },
    );
  });

  it("funding id encoding matches viem", () => {
    fc.assert(
      fc.property(bytes32, address, (id, a) => {
        expect(encodeFundingId(id, a)).toEqual(viemHexToBytes(encodeAbiParameters(FUNDING_ID_ABI, [id, a])));
      }),
    );
  });

  it("rejects a params object with a bad participant address", () => {
    const p: Params = {
      challengeDuration: 60n,
      nonce: 1n,
      participants: [{ ethAddress: "0x12", ccAddress: "0x" }],
      app: ZERO_ADDRESS,
      ledgerChannel: true,
      virtualChannel: false,
    };
    expect(() => encodeParams(p)).toThrow(/params\.participants\[0\]\.ethAddress/);
  });
});
