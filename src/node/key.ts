/**
 * Loads the node's private key from the source its config names: an environment variable, a V3
 * keystore (password from an environment variable) or a file holding the hex key. The key never
 * appears in the config itself, so config files can be shared and committed.
 */
import { readFileSync } from "node:fs";
import type { Hex } from "../channel/types.js";
import type { KeySpec } from "./config.js";
import { KeySourceError, KeystoreError } from "./errors.js";
import { decryptKeystore } from "./keystore.js";

const HEX_KEY = /^(0x)?[0-9a-fA-F]{64}$/;

export async function loadNodeKey(spec: KeySpec, env: NodeJS.ProcessEnv = process.env): Promise<Hex> {
  if ("env" in spec) {
    const v = env[spec.env];
    if (v === undefined || v === "") {
      throw new KeySourceError(
        `The environment variable ${spec.env} (config key.env) is not set.`,
        `Export the node's private key: export ${spec.env}=0x<64 hex digits>.`,
      );
    }
    return hexKey(v.trim(), `the environment variable ${spec.env}`);
  }
  if ("file" in spec) {
    return hexKey(read(spec.file).trim(), spec.file);
  }
  const password = env[spec.passwordEnv];
  if (password === undefined) {
    throw new KeySourceError(
      `The environment variable ${spec.passwordEnv} (the keystore password) is not set.`,
      `Export the password of ${spec.keystore}: export ${spec.passwordEnv}=...`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(read(spec.keystore));
  } catch (err) {
    if (err instanceof KeySourceError) throw err;
    throw new KeystoreError(
      "KEYSTORE_INVALID",
      `The keystore ${spec.keystore} is not JSON.`,
      "Point key.keystore at a V3 keystore file.",
    );
  }
  return (await decryptKeystore(json, password)).privateKey;
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new KeySourceError(
      `Cannot read ${path}: ${(err as Error).message}.`,
      "Check the path in the config.",
    );
  }
}

function hexKey(v: string, where: string): Hex {
  if (!HEX_KEY.test(v)) {
    // Never echo the value: it may be a key with a typo.
    throw new KeySourceError(
      `${where} does not hold a private key (expected 64 hex digits, optionally 0x-prefixed).`,
      "Put the 32-byte private key there as hex.",
    );
  }
  return (v.startsWith("0x") ? v : `0x${v}`).toLowerCase() as Hex;
}
