/**
 * Signatures on channel states and withdrawal authorizations, as the contracts verify them
 * (perun-eth-contracts `Channel.validateSignatures` / `AssetHolder.withdraw` via `Sig.verify`):
 * secp256k1 over the EIP-191 digest keccak256("\x19Ethereum Signed Message:\n32" || keccak256(abi.encode(x))).
 */

import { InvalidSignatureError } from "./errors.js";
import { ethSignedDigest, hashStateBytes, hashWithdrawalAuthBytes } from "./hash.js";
import { bytesToHex } from "./hex.js";
import type { Secp256k1Backend, Signer } from "./signer.js";
import { recoverDigest, recoverDigestLower, secp256k1Backend } from "./signer.js";
import type { Address, Hex, State, WithdrawalAuth } from "./types.js";

/** The 32-byte digest a participant signs for `state`. */
export function stateDigest(state: State): Uint8Array {
  return ethSignedDigest(hashStateBytes(state));
}

/** The 32-byte digest a participant signs for `auth`. */
export function withdrawalAuthDigest(auth: WithdrawalAuth): Uint8Array {
  return ethSignedDigest(hashWithdrawalAuthBytes(auth));
}

/**
 * Signs `state` as the Adjudicator expects it.
 *
 * @example
 * const sig = signState(state, alice); // 0x... 65 bytes
 */
export function signState(state: State, signer: Signer): Hex {
  return bytesToHex(signer.signDigest(stateDigest(state)));
}

/** Checksummed address that signed `state`; throws `InvalidSignatureError` on a malformed signature. */
export function recoverStateSigner(state: State, sig: Hex | Uint8Array, backend?: Secp256k1Backend): Address {
  return recoverDigest(stateDigest(state), sig, backend ?? secp256k1Backend());
}

/** True iff `sig` is a valid, canonical signature of `address` on `state` (case-insensitive). */
export function verifyStateSig(
  state: State,
  sig: Hex | Uint8Array,
  address: Address,
  backend?: Secp256k1Backend,
): boolean {
  return verifyDigest(stateDigest(state), sig, address, backend);
}

/** Signs a withdrawal authorization (by `auth.participant.ethAddress`). */
export function signWithdrawalAuth(auth: WithdrawalAuth, signer: Signer): Hex {
  return bytesToHex(signer.signDigest(withdrawalAuthDigest(auth)));
}

/** Checksummed address that signed `auth`. */
export function recoverWithdrawalAuthSigner(
  auth: WithdrawalAuth,
  sig: Hex | Uint8Array,
  backend?: Secp256k1Backend,
): Address {
  return recoverDigest(withdrawalAuthDigest(auth), sig, backend ?? secp256k1Backend());
}

/** True iff `sig` is `address`'s valid signature on `auth`. */
export function verifyWithdrawalAuthSig(
  auth: WithdrawalAuth,
  sig: Hex | Uint8Array,
  address: Address,
  backend?: Secp256k1Backend,
): boolean {
  return verifyDigest(withdrawalAuthDigest(auth), sig, address, backend);
}

function verifyDigest(
  digest: Uint8Array,
  sig: Hex | Uint8Array,
  address: Address,
  backend: Secp256k1Backend | undefined,
): boolean {
  try {
    return recoverDigestLower(digest, sig, backend ?? secp256k1Backend()) === address.toLowerCase();
  } catch (e) {
    if (e instanceof InvalidSignatureError) return false;
    throw e;
  }
}
