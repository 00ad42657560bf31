/**
 * Keystores for the library's `signer` option: the Ethereum V3 format of src/node/keystore.ts (geth,
 * clef, MetaMask export), so a key kept by a wallet or by `perun key new` works here as is.
 */
import type { Hex } from "../channel/types.js";
import { InvalidArgumentError } from "../errors.js";
import { encryptKeystore as encrypt, type KeystoreV3, type ScryptParams } from "../node/keystore.js";

/**
 * Encrypts a private key under a password into a V3 keystore (scrypt; by default geth's standard cost,
 * about a second and 256 MiB, which is the point). Store it as JSON; `createPerunClient` takes it
 * back with `signer: { keystore, password }` or `{ keystoreFile, password }`.
 *
 * @example
 * const keystore = await encryptKeystore(privateKey, "a long passphrase");
 * writeFileSync("alice-key.json", JSON.stringify(keystore));
 * const alice = await createPerunClient({
 *   signer: { keystoreFile: "alice-key.json", password: "a long passphrase" }, chain, store,
 * });
 */
export function encryptKeystore(
  privateKey: Hex,
  password: string,
  scrypt?: ScryptParams,
): Promise<KeystoreV3> {
  if (typeof password !== "string" || password.length === 0) {
    throw new InvalidArgumentError(
      "encryptKeystore password",
      "a non-empty string",
      password === "" ? "" : typeof password,
    );
  }
  return encrypt(privateKey, password, scrypt);
}
