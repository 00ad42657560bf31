/** Small helpers the client's roles share: address comparison, error text, bigint bounds, sleeping. */
import { randomBytes } from "node:crypto";
import type { Verdict } from "../channel/policy.js";
import { recoverStateSigner } from "../channel/sig.js";
import type { Hex, Params, State } from "../channel/types.js";
import { PerunError } from "../errors.js";
import type { Decision } from "./types.js";

export function sameAddress(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

/** The first line of an error's message: what a log line or a peer's error reply carries. */
export function errorText(err: unknown): string {
  return err instanceof Error ? (err.message.split("\n")[0] ?? String(err)) : String(err);
}

export function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** `v` moved into `b`. */
export function clamp(v: bigint, b: { readonly min: bigint; readonly max: bigint }): bigint {
  return v < b.min ? b.min : v > b.max ? b.max : v;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** 32 random bytes as hex: nonces and proposal ids. */
export function random32(): Hex {
  return `0x${randomBytes(32).toString("hex")}` as Hex;
}

/** A policy verdict as a handler's decision. */
export function asDecision(v: Verdict): Decision {
  return v.ok ? { accept: true } : { accept: false, reason: `${v.reason} (policy: ${v.rule})` };
}

/** Every participant of `params` signed `state`. */
export function requireAllSigned(params: Params, state: State, sigs: readonly Hex[]): void {
  params.participants.forEach((p, i) => {
    const sig = sigs[i];
    if (!sig || !sameAddress(recoverStateSigner(state, sig), p.ethAddress)) {
      throw new PerunError(
        "INVALID_SIGNATURE",
        `Signature ${i} on the virtual channel's state is not by ${p.ethAddress}.`,
      );
    }
  });
}
