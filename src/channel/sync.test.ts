import { describe, expect, it } from "vitest";
import { testKey, twoPartyChannel } from "./arbitraries.testutil.js";
import { InvalidTransitionError, SignerMismatchError } from "./errors.js";
import type { Machine } from "./machine.js";
import {
  acceptUpdate,
  createMachine,
  funded,
  proposeInit,
  proposeUpdate,
  receiveAcceptance,
  receiveSync,
  receiveUpdate,
} from "./machine.js";
import { payment } from "./payment.js";
import { signState } from "./sig.js";
import { privateKeyToSigner } from "./signer.js";
import type { Hex } from "./types.js";

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
