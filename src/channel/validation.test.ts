import { describe, expect, it } from "vitest";
import type { PerunError } from "../errors.js";
import { twoPartyChannel } from "./arbitraries.testutil.js";
import { type AllocationShapeError, BalanceOutOfRangeError, InvalidFieldError } from "./errors.js";
import { MAX_UINT64, MAX_UINT256 } from "./types.js";
import { validateParams, validateState } from "./validation.js";

const { params, init } = twoPartyChannel();
const [p0, p1] = params.participants as [(typeof params.participants)[0], (typeof params.participants)[0]];
const out = init.outcome;
const sub = { ID: `0x${"22".repeat(32)}`, balances: [1n], indexMap: [0, 1] };

function thrown(f: () => unknown): PerunError {
  try {
    f();
  } catch (e) {
    return e as PerunError;
  }
  throw new Error("did not throw");
}

describe("validateParams", () => {
  it("accepts valid params", () => {
    expect(validateParams(params)).toBe(params);
  });

  const rows: [string, unknown, string][] = [
    ["not an object", 42, "params"],
    ["zero challenge duration", { ...params, challengeDuration: 0n }, "params.challengeDuration"],
    ["negative nonce", { ...params, nonce: -1n }, "params.nonce"],
    ["number nonce", { ...params, nonce: 1 }, "params.nonce"],
    ["nonce > uint256", { ...params, nonce: MAX_UINT256 + 1n }, "params.nonce"],
    ["one participant", { ...params, participants: [p0] }, "params.participants"],
    [
      "duplicate participant",
      { ...params, participants: [p0, { ...p0, ethAddress: p0.ethAddress.toLowerCase() }] },
      "params.participants[1].ethAddress",
    ],
    [
      "short address",
      { ...params, participants: [p0, { ...p1, ethAddress: "0x1234" }] },
      "params.participants[1].ethAddress",
    ],
    [
      "odd ccAddress",
      { ...params, participants: [p0, { ...p1, ccAddress: "0x1" }] },
      "params.participants[1].ccAddress",
    ],
    ["short app", { ...params, app: "0x00" }, "params.app"],
    ["string ledger flag", { ...params, ledgerChannel: "yes" }, "params.ledgerChannel"],
    ["ledger and virtual", { ...params, virtualChannel: true }, "params.virtualChannel"],
  ];
  it.each(rows)("rejects %s", (_name, value, field) => {
    const e = thrown(() => validateParams(value));
    expect(e).toBeInstanceOf(InvalidFieldError);
    expect((e as InvalidFieldError).field).toBe(field);
    expect(e.message).toContain("expected");
    expect(e.message).toContain("got");
  });
});

describe("validateState", () => {
  it("accepts a valid state, with and without params", () => {
    expect(validateState(init, params)).toBe(init);
    expect(validateState(init)).toBe(init);
  });

  const rows: [string, unknown, string, string][] = [
    ["other channel id", { ...init, channelID: `0x${"00".repeat(32)}` }, "INVALID_FIELD", "state.channelID"],
    ["short channel id", { ...init, channelID: "0x00" }, "INVALID_FIELD", "state.channelID"],
    ["version > uint64", { ...init, version: MAX_UINT64 + 1n }, "INVALID_FIELD", "state.version"],
    ["odd appData", { ...init, appData: "0xabc" }, "INVALID_FIELD", "state.appData"],
    [
      "negative balance",
      { ...init, outcome: { ...out, balances: [[-1n, 50n]] } },
      "INVALID_FIELD",
      "state.outcome.balances[0][0]",
    ],
    [
      "balance > uint256",
      { ...init, outcome: { ...out, balances: [[MAX_UINT256 + 1n, 0n]] } },
      "INVALID_FIELD",
      "state.outcome.balances[0][0]",
    ],
    [
      "total > uint256",
      { ...init, outcome: { ...out, balances: [[MAX_UINT256, 1n]] } },
      "BALANCE_OUT_OF_RANGE",
      "",
    ],
    [
      "too few participants in balances",
      { ...init, outcome: { ...out, balances: [[1n]] } },
      "ALLOCATION_SHAPE",
      "outcome.balances[0]",
    ],
    [
      "balances rows != assets",
      { ...init, outcome: { ...out, balances: [] } },
      "ALLOCATION_SHAPE",
      "outcome.balances",
    ],
    [
      "backends length != assets",
      { ...init, outcome: { ...out, backends: [0n, 0n] } },
      "ALLOCATION_SHAPE",
      "outcome.backends",
    ],
    [
      "short asset holder",
      { ...init, outcome: { ...out, assets: [{ chainID: 1n, ethHolder: "0x12", ccHolder: "0x" }] } },
      "INVALID_FIELD",
      "state.outcome.assets[0].ethHolder",
    ],
    [
      "indexMap out of range",
      { ...init, outcome: { ...out, locked: [{ ...sub, indexMap: [0, 2] }] } },
      "INVALID_FIELD",
      "state.outcome.locked[0].indexMap[1]",
    ],
    [
      "indexMap > uint16",
      { ...init, outcome: { ...out, locked: [{ ...sub, indexMap: [70000] }] } },
      "INVALID_FIELD",
      "state.outcome.locked[0].indexMap[0]",
    ],
    [
      "sub-alloc balances != assets",
      { ...init, outcome: { ...out, locked: [{ ...sub, balances: [1n, 2n] }] } },
      "ALLOCATION_SHAPE",
      "outcome.locked[0].balances",
    ],
    [
      "duplicate sub-alloc id",
      { ...init, outcome: { ...out, locked: [sub, sub] } },
      "ALLOCATION_SHAPE",
      "outcome.locked[1].ID",
    ],
    [
      "empty indexMap",
      { ...init, outcome: { ...out, locked: [{ ...sub, indexMap: [] }] } },
      "ALLOCATION_SHAPE",
      "outcome.locked[0].indexMap",
    ],
  ];
  it.each(rows)("rejects %s", (_name, value, code, field) => {
    const e = thrown(() => validateState(value, params));
    expect(e.code).toBe(code);
    if (field !== "") expect((e as InvalidFieldError | AllocationShapeError).field).toBe(field);
    if (code === "BALANCE_OUT_OF_RANGE") expect(e).toBeInstanceOf(BalanceOutOfRangeError);
  });
});
