/**
 * Signer speed: signs/s and recovers/s of Ethereum-style state signatures
 * (EIP-191 over keccak256 of the state digest) for the backend in use and for
 * the pure-JS fallback, measured in the same run. The digest is fixed so that
 * only secp256k1 is timed; hashing is measured on its own.
 */

import { createRequire } from "node:module";
import { keccak_256 } from "@noble/hashes/sha3";
import { devKey } from "../src/chain/embedded.js";
import {
  hashStateBytes,
  nativeBackend,
  nobleBackend,
  privateKeyToSigner,
  recoverDigest,
  type Secp256k1Backend,
  secp256k1Backend,
} from "../src/channel/index.js";
import type { State } from "../src/channel/types.js";

export interface RateFigures {
  readonly signsPerSec: number;
  readonly recoversPerSec: number;
}

export interface CryptoRecord extends RateFigures {
  readonly signer: string;
  readonly pureJs: RateFigures;
  readonly ratioVsPureJs: { readonly sign: number; readonly recover: number };
  /** ABI-encode + keccak256 of one 2-party 1-asset state (the specialised encoder). */
  readonly hashStatePerSec: number;
  /**
   * keccak256 candidates, hashes/s at the sizes the protocol hashes (a 64-byte EIP-191 digest or
   * funding id, an ~800-byte encoded state): pure JS (@noble/hashes) and the native binding of the
   * `keccak` package (Node's OpenSSL has SHA-3 but not Ethereum's keccak padding). src/channel/keccak.ts
   * picks per size.
   */
  readonly keccak: Record<"noble" | "native", { readonly b64: number; readonly b800: number }> | null;
}

/** Runs `fn` repeatedly for about `ms` milliseconds and returns calls per second. */
export function rate(fn: (i: number) => void, ms = 1_000): number {
  for (let i = 0; i < 50; i++) fn(i); // warm up (JIT, lazy native load)
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 50; k++) fn(n++);
    now = performance.now();
  }
  return Math.round((n / (now - start)) * 1000);
}

function measureKeccak(ms: number): CryptoRecord["keccak"] {
  let native: ((a: "keccak256") => { update(d: Buffer): { digest(): Buffer } }) | undefined;
  try {
    native = createRequire(import.meta.url)("keccak/bindings");
  } catch {
    return null;
  }
  const n = native as NonNullable<typeof native>;
  const data = (len: number) => Buffer.alloc(len, 7);
  const d64 = data(64);
  const d800 = data(800);
  return {
    noble: { b64: rate(() => keccak_256(d64), ms), b800: rate(() => keccak_256(d800), ms) },
    native: {
      b64: rate(() => n("keccak256").update(d64).digest(), ms),
      b800: rate(() => n("keccak256").update(d800).digest(), ms),
    },
  };
}

function measureBackend(backend: Secp256k1Backend, ms: number): RateFigures {
  const signer = privateKeyToSigner(devKey(1), backend);
  const digests = Array.from({ length: 64 }, (_, i) => {
    const d = new Uint8Array(32);
    d[0] = i + 1;
    d[31] = 7;
    return d;
  });
  const sigs = digests.map((d) => signer.signDigest(d));
  const signsPerSec = rate((i) => signer.signDigest(digests[i & 63] as Uint8Array), ms);
  const recoversPerSec = rate(
    (i) => recoverDigest(digests[i & 63] as Uint8Array, sigs[i & 63] as Uint8Array, backend),
    ms,
  );
  return { signsPerSec, recoversPerSec };
}

export function measureCrypto(sampleState: State, ms = 1_000): CryptoRecord {
  const inUse = secp256k1Backend();
  const main = measureBackend(inUse, ms);
  const pure = measureBackend(nobleBackend, ms);
  let v = 0n;
  const hashStatePerSec = rate(() => {
    // a new version each time: the hash cache must not answer
    hashStateBytes({ ...sampleState, version: v++ });
  }, ms);
  const keccak = measureKeccak(ms / 2);
  return {
    keccak,
    signer:
      inUse.name === "native" && nativeBackend() ? "native libsecp256k1 (secp256k1 package)" : inUse.name,
    ...main,
    pureJs: pure,
    ratioVsPureJs: {
      sign: round2(main.signsPerSec / pure.signsPerSec),
      recover: round2(main.recoversPerSec / pure.recoversPerSec),
    },
    hashStatePerSec,
  };
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
