/**
 * Checks of the options objects the public functions take (house style rule 8: validate at every
 * boundary). JavaScript callers get no type checking, so every field is checked at run time too, and
 * the error names the function, the field, what was expected and what arrived (`InvalidArgumentError`,
 * code `INVALID_ARGUMENT`).
 */
import { getAddress, isAddress } from "viem";
import { isHex } from "./channel/hex.js";
import type { Address, Hex } from "./channel/types.js";
import { InvalidArgumentError } from "./errors.js";

/** `value` as a plain object, or an error saying `what` must be one. */
export function optionsObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(what, "an object", value);
  }
  return value as Record<string, unknown>;
}

/** Refuses a field not in `allowed`: a misspelt option must not be silently ignored. */
export function onlyFields(o: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw new InvalidArgumentError(
        what,
        `only the fields ${allowed.join(", ")}`,
        k,
        `"${k}" is not one of them: a misspelt option would otherwise be ignored.`,
      );
    }
  }
}

/** A 0x-prefixed 20-byte address (any case), checksummed: the form the client compares and logs. */
export function addressOption(value: unknown, what: string): Address {
  if (typeof value !== "string" || !isAddress(value, { strict: false })) {
    throw new InvalidArgumentError(what, "a 0x-prefixed 20-byte address", value);
  }
  return getAddress(value);
}

/** A channel id: 32 bytes of 0x hex. */
export function channelIdOption(value: unknown, what: string): Hex {
  if (!isHex(value, 32)) throw new InvalidArgumentError(what, "a channel id (0x and 64 hex digits)", value);
  return value;
}

/** An amount of wei: a bigint, at least 0 (at least 1 with `positive`). */
export function amountOption(value: unknown, what: string, positive = false): bigint {
  if (typeof value !== "bigint" || value < (positive ? 1n : 0n) || value >= 1n << 256n) {
    throw new InvalidArgumentError(
      what,
      `a ${positive ? "positive" : "non-negative"} bigint of wei below 2^256 (e.g. parseEther("0.1"))`,
      value,
    );
  }
  return value;
}

/** An integer (seconds, milliseconds, a port) given as a number or bigint, in `min..max`; as a bigint. */
export function integerOption(value: unknown, what: string, min: bigint, max: bigint): bigint {
  const v =
    typeof value === "bigint"
      ? value
      : typeof value === "number" && Number.isSafeInteger(value)
        ? value
        : null;
  if (v === null || BigInt(v) < min || BigInt(v) > max) {
    throw new InvalidArgumentError(what, `an integer from ${min} to ${max}`, value);
  }
  return BigInt(v);
}

/** A ws:// or wss:// URL. */
export function wsUrlOption(value: unknown, what: string): string {
  if (typeof value !== "string" || !/^wss?:\/\/[^\s/]+/.test(value)) {
    throw new InvalidArgumentError(what, "a ws:// or wss:// URL", value);
  }
  return value;
}
