/**
 * Errors of the node (daemon, config file, keystore, local API client): what went wrong, which field
 * or request, and what to do about it (house style rule 7).
 */
import { describe, PerunError } from "../errors.js";

/** The node's config file is missing, not JSON, or has a field of the wrong shape. */
export class ConfigError extends PerunError {
  readonly field: string;
  constructor(file: string, field: string, expected: string, got: unknown, hint?: string) {
    super("CONFIG_INVALID", `Invalid config ${file}: ${field} must be ${expected}, got ${describe(got)}.`, {
      details: { file, field },
      hint: hint ?? "Fix the field in the config file; README.md section 'Two nodes by hand' has an example.",
    });
    this.field = field;
  }
}

/** A keystore file could not be read or decrypted (wrong password, unsupported cipher or KDF). */
export class KeystoreError extends PerunError {
  constructor(code: "KEYSTORE_PASSWORD" | "KEYSTORE_INVALID", message: string, hint: string) {
    super(code, message, { hint });
  }
}

/** The node's private key could not be loaded from the source the config names. */
export class KeySourceError extends PerunError {
  constructor(message: string, hint: string) {
    super("KEY_SOURCE", message, { hint });
  }
}

/** The chain the config points at does not have the configured contracts. */
export class ContractsMissingError extends PerunError {
  constructor(what: string, address: string, rpcUrl: string) {
    super("CONTRACTS_MISSING", `No contract code at ${what} ${address} on ${rpcUrl}.`, {
      details: { what, address, rpcUrl },
      hint: "Deploy the contracts (`perun deploy --rpc <url>`) and put their addresses into the config.",
    });
  }
}

/** An answer of a node's local API that is not a success: the API's own error code and message. */
export class ApiError extends PerunError {
  readonly status: number;
  constructor(status: number, code: string, message: string, hint?: string) {
    super(code, `${message} (HTTP ${status})`, hint === undefined ? {} : { hint });
    this.status = status;
  }
}

/** The local API of a node did not answer at all. */
export class ApiUnreachableError extends PerunError {
  constructor(url: string, cause: unknown) {
    super("API_UNREACHABLE", `Cannot reach the node API at ${url}.`, {
      details: { url },
      hint: "Is `perun node` running, and is --api the api.host:api.port of its config?",
      cause,
    });
  }
}

/**
 * The local API's secret file (src/node/api-secret.ts): unsafe to use (others may read it, another
 * user owns it), not a secret, or not found / not readable by a client.
 */
export class ApiSecretError extends PerunError {
  readonly file: string | undefined;
  constructor(
    code: "API_SECRET_UNSAFE" | "API_SECRET_INVALID" | "API_SECRET_UNAVAILABLE",
    message: string,
    options: { file?: string; hint: string; cause?: unknown },
  ) {
    super(code, message, {
      ...(options.file === undefined ? {} : { details: { file: options.file } }),
      hint: options.hint,
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.file = options.file;
  }
}
