/**
 * Ethereum-style secp256k1 signing and recovery of 32-byte digests (the wallet port of design.md
 * section 2; signature format of perun-eth-contracts `Sig.verify` / OpenZeppelin `ECDSA.recover`).
 *
 * Signatures are 65 bytes r||s||v, v in {27, 28}, s in the lower half of the group order. Recovery
 * rejects anything else: the contracts reject it, so a peer must not be able to hand us a signature
 * that verifies here but fails on chain when we need it in a dispute.
 *
 * Two interchangeable backends: native libsecp256k1 (`secp256k1/bindings`, the hot path) and pure-JS
 * `@noble/curves` as the fallback when the native addon cannot load. Both use RFC 6979 nonces, so they
 * produce identical signatures. The native addon is loaded lazily on first use, never on import.
 */

import { createRequire } from "node:module";
import { secp256k1 as nobleSecp } from "@noble/curves/secp256k1";
import { checksumAddress } from "viem";
import { InvalidFieldError, InvalidPrivateKeyError, InvalidSignatureError } from "./errors.js";
import { bytesToHex, hexToBytes, isHex } from "./hex.js";
import { keccak256 } from "./keccak.js";
import type { Address, Hex } from "./types.js";

/** Signs 32-byte digests for one Ethereum address. */
export interface Signer {
  readonly address: Address;
  /** 65-byte r||s||v signature (v = 27/28, low s) of `digest` (32 bytes), signed as is. */
  signDigest(digest: Uint8Array): Uint8Array;
}

/** A secp256k1 implementation. */
export interface Secp256k1Backend {
  readonly name: "native" | "noble";
  /** 64-byte compact low-s signature plus recovery id (0/1). */
  sign(digest: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number };
  /** 65-byte uncompressed public key; throws if no key recovers. */
  recover(digest: Uint8Array, signature64: Uint8Array, recid: number): Uint8Array;
  /** 65-byte uncompressed public key of a valid private key. */
  publicKey(privateKey: Uint8Array): Uint8Array;
}

interface NativeSecp256k1 {
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
  publicKeyCreate(seckey: Uint8Array, compressed?: boolean): Uint8Array;
}

/** Pure-JS backend (@noble/curves). */
export const nobleBackend: Secp256k1Backend = {
  name: "noble",
  sign(digest, privateKey) {
    const sig = nobleSecp.sign(digest, privateKey, { lowS: true });
    return { signature: sig.toCompactRawBytes(), recid: sig.recovery };
  },
  recover(digest, signature64, recid) {
    return nobleSecp.Signature.fromCompact(signature64)
      .addRecoveryBit(recid)
      .recoverPublicKey(digest)
      .toRawBytes(false);
  },
  publicKey(privateKey) {
    return nobleSecp.getPublicKey(privateKey, false);
  },
};

let native: Secp256k1Backend | null | undefined;
let nativeError: unknown;

/** The native libsecp256k1 backend, or undefined if the addon cannot be loaded here. */
export function nativeBackend(): Secp256k1Backend | undefined {
  if (native === undefined) {
    try {
      const lib = createRequire(import.meta.url)("secp256k1/bindings") as NativeSecp256k1;
      native = {
        name: "native",
        sign: (digest, privateKey) => lib.ecdsaSign(digest, privateKey),
        recover: (digest, signature64, recid) => lib.ecdsaRecover(signature64, recid, digest, false),
        publicKey: (privateKey) => lib.publicKeyCreate(privateKey, false),
      };
    } catch (e) {
      native = null;
      nativeError = e;
    }
  }
  return native ?? undefined;
}

/** Why the native backend failed to load, if it did. */
export function nativeBackendError(): unknown {
  nativeBackend();
  return nativeError;
}

let preferred: "auto" | "native" | "noble" = "auto";

/**
 * Chooses the default backend: "auto" (native if it loads, else noble), or force one. Forcing
 * "native" where it cannot load throws. Used by the benchmark to report both.
 */
export function setSecp256k1Backend(choice: "auto" | "native" | "noble"): void {
  if (choice === "native" && nativeBackend() === undefined) {
    throw new InvalidFieldError("secp256k1 backend", "a loadable native addon", String(nativeBackendError()));
  }
  preferred = choice;
}

/** The backend used when none is passed explicitly. */
export function secp256k1Backend(): Secp256k1Backend {
  if (preferred === "noble") return nobleBackend;
  return nativeBackend() ?? nobleBackend;
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** n/2 as 32 big-endian bytes: the largest s the contracts accept. */
const HALF_N = hexToBytes(`0x${(SECP256K1_N >> 1n).toString(16).padStart(64, "0")}`);

/**
 * Signer for a 0x-prefixed 32-byte private key, checked to be in 1..n-1.
 *
 * @example
 * const alice = privateKeyToSigner("0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f");
 * const sig = alice.signDigest(digest); // 65 bytes
 */
export function privateKeyToSigner(privateKey: Hex, backend: Secp256k1Backend = secp256k1Backend()): Signer {
  if (!isHex(privateKey, 32)) throw new InvalidPrivateKeyError("not a 0x-prefixed hex string of 32 bytes");
  const key = BigInt(privateKey);
  if (key === 0n || key >= SECP256K1_N) throw new InvalidPrivateKeyError("not in the range 1..n-1");
  const keyBytes = hexToBytes(privateKey);
  const address = publicKeyToAddress(backend.publicKey(keyBytes));
  return {
    address,
    signDigest(digest: Uint8Array): Uint8Array {
      if (!(digest instanceof Uint8Array) || digest.length !== 32) {
        throw new InvalidFieldError("digest", "32 bytes", digest);
      }
      const { signature, recid } = backend.sign(digest, keyBytes);
      const out = new Uint8Array(65);
      out.set(signature, 0);
      out[64] = 27 + recid;
      return out;
    },
  };
}

/** Address of an uncompressed public key: the last 20 bytes of keccak256(x || y). */
export function publicKeyToAddress(publicKey65: Uint8Array): Address {
  return checksumAddress(addressOfKeyLower(publicKey65));
}

function addressOfKeyLower(publicKey65: Uint8Array): Address {
  return bytesToHex(keccak256(publicKey65.subarray(1)).subarray(12)) as Address;
}

/** Signature as bytes: accepts 65 raw bytes or 0x hex. */
export function signatureBytes(sig: Uint8Array | Hex): Uint8Array {
  if (typeof sig === "string") {
    if (!isHex(sig, 65)) throw new InvalidSignatureError("not 65 bytes of 0x-prefixed hex", { got: sig });
    return hexToBytes(sig);
  }
  if (!(sig instanceof Uint8Array) || sig.length !== 65) {
    throw new InvalidSignatureError("not 65 bytes", { length: (sig as Uint8Array | undefined)?.length });
  }
  return sig;
}

/**
 * Lower-case address that signed `digest`; throws `InvalidSignatureError` for malformed or
 * non-canonical signatures. Internal hot path of verification (no checksum).
 */
export function recoverDigestLower(
  digest: Uint8Array,
  sig: Uint8Array | Hex,
  backend: Secp256k1Backend = secp256k1Backend(),
): Address {
  const bytes = signatureBytes(sig);
  const v = bytes[64] as number;
  if (v !== 27 && v !== 28) throw new InvalidSignatureError("v must be 27 or 28", { v });
  if (!isLowS(bytes))
    throw new InvalidSignatureError("s is in the upper half of the group order (malleable)");
  let publicKey: Uint8Array;
  try {
    publicKey = backend.recover(digest, bytes.subarray(0, 64), v - 27);
  } catch (e) {
    throw new InvalidSignatureError("no public key recovers from it (r or s out of range)", {
      cause: String(e),
    });
  }
  return addressOfKeyLower(publicKey);
}

/**
 * Checksummed address that signed `digest` (32 bytes) with `sig` (65 bytes r||s||v).
 *
 * @example
 * recoverDigest(digest, alice.signDigest(digest)) === alice.address // true
 */
export function recoverDigest(
  digest: Uint8Array,
  sig: Uint8Array | Hex,
  backend: Secp256k1Backend = secp256k1Backend(),
): Address {
  return checksumAddress(recoverDigestLower(digest, sig, backend));
}

function isLowS(sig65: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) {
    const a = sig65[32 + i] as number;
    const b = HALF_N[i] as number;
    if (a !== b) return a < b;
  }
  return true;
}
