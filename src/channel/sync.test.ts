import { describe, expect, it } from "vitest";
import { testKey, twoPartyChannel } from "./arbitraries.testutil.js";
import { InvalidTransitionError, SignerMismatchError } from "./errors.js";
import type { Effect, Machine, Phase } from "./machine.js";
import {
  acceptUpdate,
  concluded,
  createMachine,
  funded,
  progressed,
  proposeInit,
  proposeUpdate,
  receiveAcceptance,
  receiveSync,
  receiveUpdate,
  register,
  registered,
  withdrawn,
} from "./machine.js";
import { payment } from "./payment.js";
import { signState } from "./sig.js";
import { privateKeyToSigner } from "./signer.js";
import type { Hex, State } from "./types.js";

const { params, init, alice, bob } = twoPartyChannel();
const mallory = privateKeyToSigner(testKey("perun-ts mallory"));

function opened(): [Machine, Machine] {
  const p = proposeInit(createMachine(params, 0), init, alice);
  const sigA = p.machine.pending?.sigs[0] as Hex;
  const b = acceptUpdate(receiveUpdate(createMachine(params, 1), init, sigA, 0).machine, bob);
  const sigB = b.machine.current?.sigs[1] as Hex;
  const a = receiveAcceptance(p.machine, sigB, 1, 0n);
  return [funded(a.machine).machine, funded(b.machine).machine];
}

describe("receiveSync (re-sync after reconnect or restart)", () => {
  it("adopts a newer fully signed state: the peer accepted our proposal but the acceptance was lost", () => {
    const [a0, b0] = opened();
    const next = payment(a0.current?.state ?? init, 0, 0, 1, 1n);
    const a1 = proposeUpdate(a0, next, alice).machine; // Alice: Signing, pending v1
    const b1 = acceptUpdate(receiveUpdate(b0, next, a1.pending?.sigs[0] as Hex, 0).machine, bob).machine;
    expect(b1.current?.state.version).toBe(1n);
    const t = receiveSync(a1, next, b1.current?.sigs as Hex[], 1);
    expect(t.machine.phase).toBe("Acting");
    expect(t.machine.current?.state).toEqual(next);
    expect(t.machine.pending).toBeNull();
    expect(t.effects.map((e) => e.type)).toEqual(["persist", "publish"]);
  });

  it("voids our pending proposal when the peer's latest is our current version (it never signed it)", () => {
    const [a0, b0] = opened();
    const a1 = proposeUpdate(a0, payment(a0.current?.state ?? init, 0, 0, 1, 1n), alice).machine;
    const t = receiveSync(a1, b0.current?.state ?? init, b0.current?.sigs as Hex[], 1);
    expect(t.machine.phase).toBe("Acting");
    expect(t.machine.pending).toBeNull();
    expect(t.machine.current?.state.version).toBe(0n);
    expect(t.effects.map((e) => e.type)).toEqual(["persist", "dropped"]);
  });

  it("ignores an older state and changes nothing when already in sync", () => {
    const [a0, b0] = opened();
    expect(receiveSync(a0, b0.current?.state ?? init, b0.current?.sigs as Hex[], 1)).toEqual({
      machine: a0,
      effects: [],
    });
  });

  it("rejects a synced state with a forged or missing signature, machine unchanged", () => {
    const [a0] = opened();
    const next = payment(a0.current?.state ?? init, 0, 0, 1, 5n);
    const forged = [signState(next, alice), signState(next, mallory)];
    expect(() => receiveSync(a0, next, forged, 1)).toThrow(SignerMismatchError);
    expect(() => receiveSync(a0, next, [signState(next, alice)], 1)).toThrow(InvalidTransitionError);
  });
});

describe("receiveSync, case by case", () => {
  const [a0, b0] = opened();
  const both = (s: State): Hex[] => [signState(s, alice), signState(s, bob)];
  const s1 = payment(init, 0, 0, 1, 1n); // Alice's version 1
  const s1b = payment(init, 0, 1, 0, 4n); // another version 1 (Bob's)
  const s2 = payment(s1, 0, 0, 1, 2n);
  const fin: State = { ...s1, isFinal: true };
  const aInitSigning = proposeInit(createMachine(params, 0), init, alice).machine;
  const bInitSigning = receiveUpdate(createMachine(params, 1), init, signState(init, alice), 0).machine;
  const aFunding = receiveAcceptance(aInitSigning, signState(init, bob), 1).machine;
  const aSigning = proposeUpdate(a0, s1, alice).machine; // own proposal s1
  const bSigning = receiveUpdate(b0, s1, signState(s1, alice), 0).machine; // Alice's proposal s1
  const aAt1 = receiveAcceptance(aSigning, signState(s1, bob), 1).machine;
  const aSigning2 = proposeUpdate(aAt1, s2, alice).machine; // own proposal s2, current s1

  type Row = [string, Machine, State, Phase, State | null, Effect["type"][], State | null];
  // name, machine, synced state, phase after, current state after, effect types, dropped state
  const rows: Row[] = [
    [
      "InitSigning, our initial proposal signed by all",
      aInitSigning,
      init,
      "Funding",
      init,
      ["persist", "publish"],
      null,
    ],
    [
      "InitSigning, the peer's initial proposal",
      bInitSigning,
      init,
      "Funding",
      init,
      ["persist", "publish"],
      null,
    ],
    ["Funding, a newer state", aFunding, s1, "Funding", s1, ["persist", "publish"], null],
    ["Acting, a newer state", a0, s1, "Acting", s1, ["persist", "publish"], null],
    ["Acting, a newer final state", a0, fin, "Final", fin, ["persist", "publish"], null],
    ["Signing, exactly our proposal", aSigning, s1, "Acting", s1, ["persist", "publish"], null],
    [
      "Signing, another state of our proposal's version",
      aSigning,
      s1b,
      "Acting",
      s1b,
      ["persist", "publish", "dropped"],
      s1,
    ],
    [
      "Signing, a state beyond our proposal",
      aSigning,
      s2,
      "Acting",
      s2,
      ["persist", "publish", "dropped"],
      s1,
    ],
    [
      "Signing, our current version: our proposal is void",
      aSigning,
      init,
      "Acting",
      init,
      ["persist", "dropped"],
      s1,
    ],
    ["Signing, the peer's proposal signed by all", bSigning, s1, "Acting", s1, ["persist", "publish"], null],
    [
      "Signing, our current version: the peer's proposal is void",
      bSigning,
      init,
      "Acting",
      init,
      ["persist"],
      null,
    ],
  ];
  it.each(rows)("%s", (_n, m, state, phase, current, effects, dropped) => {
    const sigs = both(state);
    const t = receiveSync(m, state, sigs, 1 - m.idx);
    expect(t.machine).toEqual({
      ...m,
      phase,
      current: current === state ? { state, sigs } : m.current,
      pending: null,
    });
    expect(t.machine.current?.state).toEqual(current);
    expect(t.effects.map((e) => e.type)).toEqual(effects);
    expect(t.effects[0]).toEqual({ type: "persist", machine: t.machine });
    if (effects.includes("publish"))
      expect(t.effects[1]).toEqual({ type: "publish", signed: { state, sigs } });
    if (dropped !== null) {
      expect(t.effects.at(-1)).toEqual({
        type: "dropped",
        state: dropped,
        reason: "the peer never signed it (re-sync)",
      });
    }
  });

  const reg = registered(register(aAt1).machine, 1n, 1000n).machine;
  const unchanged: [string, Machine, State][] = [
    ["InitActing (nothing to sync with yet)", createMachine(params, 0), init],
    ["Acting, an older state", aAt1, init],
    ["Signing, an older state: our proposal stands", aSigning2, init],
    ["Acting, the same state", aAt1, s1],
    ["Final, an older state", receiveSync(a0, fin, both(fin), 1).machine, init],
    ["Registering, a newer state", register(a0).machine, s1],
    ["Registered, a newer state", reg, s2],
    ["Progressed, a newer state", progressed(reg, s2, 2000n).machine, s2],
    ["Withdrawing, a newer state", concluded(reg, 1n).machine, s2],
    ["Withdrawn, a newer state", withdrawn(concluded(reg, 1n).machine).machine, s2],
  ];
  it.each(unchanged)("%s: nothing changes, no effects", (_n, m, state) => {
    expect(receiveSync(m, state, both(state), 1 - m.idx)).toEqual({ machine: m, effects: [] });
  });

  it("signatures are checked in every phase, the dispute branch included", () => {
    const forged = [signState(s2, alice), signState(s2, mallory)];
    for (const m of [createMachine(params, 0), reg]) {
      expect(() => receiveSync(m, s2, forged, 1)).toThrow(SignerMismatchError);
    }
    try {
      receiveSync(reg, s2, [signState(s2, alice)], 1);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ rule: "signatures", details: { rule: "signatures" } });
    }
  });
});
