/**
 * Ethereum V3 keystore files (the Web3 Secret Storage format geth, clef and MetaMask export): the
 * private key encrypted with AES-128-CTR under a key derived from a password by scrypt or PBKDF2
 * (HMAC-SHA256), with mac = keccak256(derivedKey[16..32] ++ ciphertext) to tell a wrong password
 * from a corrupt file before decrypting.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { pbkdf2Async } from "@noble/hashes/pbkdf2";
import { scryptAsync } from "@noble/hashes/scrypt";
import { sha256 } from "@noble/hashes/sha2";
import { keccak_256 } from "@noble/hashes/sha3";
import { privateKeyToSigner } from "../channel/signer.js";
import type { Address, Hex } from "../channel/types.js";
import { KeystoreError } from "./errors.js";

export interface ScryptParams {
  readonly n: number;
  readonly r: number;
  readonly p: number;
}

/** geth's "standard" scrypt cost: about a second and 256 MiB per unlock, which is the point. */
export const STANDARD_SCRYPT: ScryptParams = { n: 1 << 18, r: 8, p: 1 };

export interface KeystoreV3 {
  readonly version: 3;
  readonly id: string;
  readonly address: string;
  readonly crypto: {
    readonly cipher: "aes-128-ctr";
    readonly ciphertext: string;
    readonly cipherparams: { readonly iv: string };
    readonly kdf: "scrypt" | "pbkdf2";
    readonly kdfparams: Record<string, unknown>;
    readonly mac: string;
  };
}

/** Encrypts `privateKey` under `password` (scrypt, `STANDARD_SCRYPT` unless told otherwise). */
export async function encryptKeystore(
  privateKey: Hex,
  password: string,
  scrypt: ScryptParams = STANDARD_SCRYPT,
): Promise<KeystoreV3> {
  const address = privateKeyToSigner(privateKey).address;
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const dk = await scryptAsync(utf8(password), salt, { N: scrypt.n, r: scrypt.r, p: scrypt.p, dkLen: 32 });
  const cipher = createCipheriv("aes-128-ctr", dk.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(privateKey.slice(2), "hex")), cipher.final()]);
  return {
    version: 3,
    id: randomUUID(),
    address: address.slice(2).toLowerCase(),
    crypto: {
      cipher: "aes-128-ctr",
      ciphertext: ciphertext.toString("hex"),
      cipherparams: { iv: iv.toString("hex") },
      kdf: "scrypt",
      kdfparams: { dklen: 32, n: scrypt.n, r: scrypt.r, p: scrypt.p, salt: salt.toString("hex") },
      mac: hex(mac(dk, ciphertext)),
    },
  };
}

/** Decrypts a V3 keystore (parsed JSON); KeystoreError on a wrong password or a malformed file. */
export async function decryptKeystore(
  keystore: unknown,
  password: string,
): Promise<{ privateKey: Hex; address: Address }> {
  const ks = obj(keystore, "the keystore");
  if (ks.version !== 3) invalid(`unsupported keystore version ${String(ks.version)} (expected 3)`);
  // geth writes "crypto", some older tools "Crypto".
  const c = obj(ks.crypto ?? ks.Crypto, "crypto");
  if (c.cipher !== "aes-128-ctr") invalid(`unsupported cipher ${String(c.cipher)} (expected aes-128-ctr)`);
  const ciphertext = bytes(c.ciphertext, "crypto.ciphertext");
  const iv = bytes(obj(c.cipherparams, "crypto.cipherparams").iv, "crypto.cipherparams.iv", 16);
  const expectedMac = bytes(c.mac, "crypto.mac", 32);
  const kp = obj(c.kdfparams, "crypto.kdfparams");
  const salt = bytes(kp.salt, "crypto.kdfparams.salt");
  const dkLen = int(kp.dklen, "crypto.kdfparams.dklen");
  if (dkLen < 32) invalid(`crypto.kdfparams.dklen must be at least 32, got ${dkLen}`);
  let dk: Uint8Array;
  if (c.kdf === "scrypt") {
    const N = int(kp.n, "crypto.kdfparams.n");
    const r = int(kp.r, "crypto.kdfparams.r");
    const p = int(kp.p, "crypto.kdfparams.p");
    dk = await scryptAsync(utf8(password), salt, { N, r, p, dkLen, maxmem: 2 ** 31 });
  } else if (c.kdf === "pbkdf2") {
    if (kp.prf !== "hmac-sha256") invalid(`unsupported pbkdf2 prf ${String(kp.prf)} (expected hmac-sha256)`);
    dk = await pbkdf2Async(sha256, utf8(password), salt, { c: int(kp.c, "crypto.kdfparams.c"), dkLen });
  } else {
    invalid(`unsupported kdf ${String(c.kdf)} (expected scrypt or pbkdf2)`);
  }
  const actual = mac(dk, ciphertext);
  if (!timingSafeEqual(Buffer.from(actual), Buffer.from(expectedMac))) {
    throw new KeystoreError(
      "KEYSTORE_PASSWORD",
      "Cannot decrypt the keystore: wrong password (the MAC does not match).",
      "Check the password in the environment variable the config names (passwordEnv).",
    );
  }
  const decipher = createDecipheriv("aes-128-ctr", dk.subarray(0, 16), iv);
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (key.length !== 32) invalid(`the decrypted key has ${key.length} bytes, expected 32`);
  const privateKey = `0x${key.toString("hex")}` as Hex;
  const address = privateKeyToSigner(privateKey).address;
  if (
    typeof ks.address === "string" &&
    ks.address.replace(/^0x/, "").toLowerCase() !== address.slice(2).toLowerCase()
  ) {
    invalid(`the key decrypts to ${address}, but the file says ${ks.address}`);
  }
  return { privateKey, address };
}

function mac(dk: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const buf = new Uint8Array(16 + ciphertext.length);
  buf.set(dk.subarray(16, 32), 0);
  buf.set(ciphertext, 16);
  return keccak_256(buf);
}

function invalid(reason: string): never {
  throw new KeystoreError(
    "KEYSTORE_INVALID",
    `Invalid keystore: ${reason}.`,
    "Use an Ethereum V3 keystore (scrypt or pbkdf2, aes-128-ctr), e.g. one written by `perun key new`.",
  );
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) invalid(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function bytes(v: unknown, what: string, len?: number): Buffer {
  if (typeof v !== "string" || !/^(0x)?([0-9a-fA-F]{2})+$/.test(v)) invalid(`${what} is not hex`);
  const b = Buffer.from(v.replace(/^0x/, ""), "hex");
  if (len !== undefined && b.length !== len) invalid(`${what} has ${b.length} bytes, expected ${len}`);
  return b;
}

function int(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0)
    invalid(`${what} is not a positive integer`);
  return v;
}

/** The password's UTF-8 bytes as given (geth does not normalise; neither do we). */
function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
