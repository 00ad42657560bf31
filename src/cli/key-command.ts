/**
 * `perun key new --out file.json`: creates a private key, writes it as an Ethereum V3 keystore
 * (scrypt, aes-128-ctr) encrypted with the password in PERUN_KEY_PASSWORD, and prints its address.
 * The file is created with mode 0600 and never overwritten.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { privateKeyToSigner } from "../channel/signer.js";
import type { Hex } from "../channel/types.js";
import { encryptKeystore } from "../node/keystore.js";
import { UsageError } from "./usage-error.js";

export const PASSWORD_ENV = "PERUN_KEY_PASSWORD";

export async function keyCommand(sub: string | undefined, opts: { out?: string }): Promise<void> {
  if (sub !== "new")
    throw new UsageError(
      `Unknown key command ${sub === undefined ? "(none)" : `"${sub}"`}; use \`perun key new --out <file>\`.`,
    );
  if (opts.out === undefined) throw new UsageError("perun key new needs --out <file>.");
  const password = process.env[PASSWORD_ENV];
  if (password === undefined || password === "") {
    throw new UsageError(
      `Set the keystore password in ${PASSWORD_ENV} (it is never taken from the command line).`,
    );
  }
  const key = `0x${randomBytes(32).toString("hex")}` as Hex;
  const ks = await encryptKeystore(key, password);
  try {
    writeFileSync(opts.out, `${JSON.stringify(ks, null, 2)}\n`, { flag: "wx", mode: 0o600 });
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new UsageError(
      code === "EEXIST"
        ? `${opts.out} exists; refusing to overwrite a key.`
        : `Cannot write ${opts.out}: ${(err as Error).message}`,
    );
  }
  process.stdout.write(`${privateKeyToSigner(key).address}\n`);
}
