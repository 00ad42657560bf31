import { keccak_256 } from "@noble/hashes/sha3";
import fc from "fast-check";
import { encodeAbiParameters, keccak256 } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { STATE_ABI } from "./abi.js";
import { stateArb, testKey, withdrawalAuthArb } from "./arbitraries.testutil.js";
import { encodeState } from "./encoding.js";
import { ethSignedDigest, hashState } from "./hash.js";
import { bytesToHex, hexToBytes } from "./hex.js";
import {
  recoverStateSigner,
  recoverWithdrawalAuthSigner,
  signState,
  signWithdrawalAuth,
  verifyStateSig,
  verifyWithdrawalAuthSig,
} from "./sig.js";
import { privateKeyToSigner, recoverDigest } from "./signer.js";
import type { Address, Hex } from "./types.js";

const alice = privateKeyToSigner(testKey("perun-ts alice"));
const bob = privateKeyToSigner(testKey("perun-ts bob"));
const aliceAccount = privateKeyToAccount(testKey("perun-ts alice"));

describe("state signatures", () => {
  it("equal viem's EIP-191 signMessage over the state hash and verify (case-insensitively)", async () => {
    const [state] = fc.sample(stateArb, { numRuns: 1, seed: 42 });
    if (state === undefined) throw new Error("no sample");
    const sig = signState(state, alice);
    const viemHash = keccak256(encodeAbiParameters(STATE_ABI, [state as never]));
    expect(hashState(state)).toBe(viemHash);
    expect(sig).toBe(await aliceAccount.signMessage({ message: { raw: viemHash } }));
    expect(recoverStateSigner(state, sig)).toBe(alice.address);
    expect(verifyStateSig(state, sig, alice.address.toLowerCase() as Address)).toBe(true);
    expect(verifyStateSig(state, sig, bob.address)).toBe(false);
  });

  it("any altered byte of the encoded state invalidates the signature", () => {
    fc.assert(
      fc.property(stateArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (state, pos, delta) => {
        const sig = signState(state, alice);
        const enc = encodeState(state);
        const i = pos % enc.length;
        enc[i] = ((enc[i] as number) + delta) & 0xff;
        const digest = ethSignedDigest(keccak_256(enc));
        let recovered: string | undefined;
        try {
          recovered = recoverDigest(digest, sig);
        } catch {
          recovered = undefined;
        }
        expect(recovered).not.toBe(alice.address);
      }),
      { numRuns: 150 },
    );
  });

  it("any altered byte of the signature invalidates it", () => {
    const [state] = fc.sample(stateArb, { numRuns: 1, seed: 7 });
    if (state === undefined) throw new Error("no sample");
    const sig = hexToBytes(signState(state, alice));
    fc.assert(
      fc.property(fc.nat({ max: 64 }), fc.integer({ min: 1, max: 255 }), (i, delta) => {
        const bad = sig.slice();
        bad[i] = ((bad[i] as number) + delta) & 0xff;
        expect(verifyStateSig(state, bytesToHex(bad), alice.address)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("verify returns false (not throws) for malformed signatures", () => {
    const [state] = fc.sample(stateArb, { numRuns: 1, seed: 3 });
    if (state === undefined) throw new Error("no sample");
    expect(verifyStateSig(state, "0x1234" as Hex, alice.address)).toBe(false);
  });
});

describe("withdrawal authorization signatures", () => {
  it("sign, recover and verify", () => {
    fc.assert(
      fc.property(withdrawalAuthArb, (auth) => {
        const sig = signWithdrawalAuth(auth, bob);
        expect(recoverWithdrawalAuthSigner(auth, sig)).toBe(bob.address);
        expect(verifyWithdrawalAuthSig(auth, sig, bob.address)).toBe(true);
        expect(verifyWithdrawalAuthSig({ ...auth, amount: auth.amount ^ 1n }, sig, bob.address)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });
});
