import fc from "fast-check";
import { privateKeyToAccount } from "viem/accounts";
import { afterEach, describe, expect, it } from "vitest";
import { testKey } from "./arbitraries.testutil.js";
import { InvalidPrivateKeyError, InvalidSignatureError } from "./errors.js";
import { bytesToHex } from "./hex.js";
import {
  nativeBackend,
  nobleBackend,
  privateKeyToSigner,
  recoverDigest,
  secp256k1Backend,
  setSecp256k1Backend,
} from "./signer.js";
import type { Hex } from "./types.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const aliceKey = testKey("perun-ts alice");
const digest = new Uint8Array(32).fill(9);

afterEach(() => setSecp256k1Backend("auto"));

describe("backends", () => {
  it("loads the native backend here and uses it by default", () => {
    expect(nativeBackend()?.name).toBe("native");
    expect(secp256k1Backend().name).toBe("native");
  });

  it("can be forced to the pure-JS backend", () => {
    setSecp256k1Backend("noble");
    expect(secp256k1Backend().name).toBe("noble");
    setSecp256k1Backend("auto");
    expect(secp256k1Backend().name).toBe("native");
  });

  it("native and noble produce identical signatures (RFC 6979) and recover each other's", () => {
    const native = nativeBackend();
    if (native === undefined) return;
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: N - 1n }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (k, d) => {
          const key = `0x${k.toString(16).padStart(64, "0")}` as Hex;
          const a = privateKeyToSigner(key, native);
          const b = privateKeyToSigner(key, nobleBackend);
          expect(a.address).toBe(b.address);
          const sig = a.signDigest(d);
          expect(bytesToHex(sig)).toBe(bytesToHex(b.signDigest(d)));
          expect(recoverDigest(d, sig, nobleBackend)).toBe(a.address);
          expect(recoverDigest(d, sig, native)).toBe(a.address);
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe("privateKeyToSigner", () => {
  it("derives the same checksummed address as viem", () => {
    expect(privateKeyToSigner(aliceKey).address).toBe(privateKeyToAccount(aliceKey).address);
  });

  const bad: [string, string][] = [
    ["too short", "0x1234"],
    ["no prefix", "11".repeat(32)],
    ["non-hex", `0x${"zz".repeat(32)}`],
    ["zero", `0x${"00".repeat(32)}`],
    ["equal to n", `0x${N.toString(16)}`],
    ["above n", `0x${"ff".repeat(32)}`],
  ];
  it.each(bad)("rejects a key that is %s, without echoing it", (_name, key) => {
    let err: unknown;
    try {
      privateKeyToSigner(key as Hex);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidPrivateKeyError);
    expect((err as InvalidPrivateKeyError).code).toBe("INVALID_PRIVATE_KEY");
    if (key.length > 10) expect((err as Error).message).not.toContain(key.slice(2, 20));
  });
});

describe("recoverDigest", () => {
  const signer = privateKeyToSigner(aliceKey);
  const sig = signer.signDigest(digest);

  it("returns the signer's checksummed address; v is 27/28", () => {
    expect(recoverDigest(digest, sig)).toBe(signer.address);
    expect(recoverDigest(digest, bytesToHex(sig))).toBe(signer.address);
    expect([27, 28]).toContain(sig[64]);
  });

  const highS = (): Uint8Array => {
    const s = BigInt(bytesToHex(sig.subarray(32, 64)));
    const out = sig.slice();
    out.set(Uint8Array.from(Buffer.from((N - s).toString(16).padStart(64, "0"), "hex")), 32);
    out[64] = (sig[64] as number) === 27 ? 28 : 27;
    return out;
  };
  const withV = (v: number): Uint8Array => {
    const out = sig.slice();
    out[64] = v;
    return out;
  };
  const zeroR = (): Uint8Array => {
    const out = sig.slice();
    out.fill(0, 0, 32);
    return out;
  };
  const bad: [string, () => Uint8Array | Hex][] = [
    ["high s (the malleable twin)", highS],
    ["v = 0", () => withV(0)],
    ["v = 1", () => withV(1)],
    ["v = 29", () => withV(29)],
    ["r = 0", zeroR],
    ["64 bytes", () => sig.subarray(0, 64)],
    ["bad hex", () => `0x${"zz".repeat(65)}` as Hex],
  ];
  it.each(bad)("rejects %s", (_name, make) => {
    expect(() => recoverDigest(digest, make())).toThrow(InvalidSignatureError);
    expect(() => recoverDigest(digest, make(), nobleBackend)).toThrow(InvalidSignatureError);
  });
});
