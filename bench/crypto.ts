/**
 * Signer speed: signs/s and recovers/s of Ethereum-style state signatures
 * (EIP-191 over keccak256 of the state digest) for the backend in use and for
 * the pure-JS fallback, measured in the same run. The digest is fixed so that
 * only secp256k1 is timed; hashing is measured on its own.
 */

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
  return {
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
