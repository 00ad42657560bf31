/**
 * Chain-side errors: an unreachable node, a reverted transaction, a contract
 * custom error decoded from the ABI into a readable PerunError.
 */
import { type Abi, ContractFunctionRevertedError, decodeErrorResult, BaseError as ViemBaseError } from "viem";
import { describe, PerunError } from "../errors.js";
import * as generated from "./generated/index.js";

export class ChainUnreachableError extends PerunError {
  constructor(url: string, cause: unknown) {
    super("CHAIN_UNREACHABLE", `Cannot reach the chain at ${url}.`, {
      details: { url },
      hint: "Check that the JSON-RPC node runs and the URL is right (e.g. start one with `perun chain`).",
      cause,
    });
  }
}

/** No Perun contract where the caller said one is (or not the contract it should be). */
export class ContractsMissingError extends PerunError {
  constructor(what: string, address: string, url: string, cause?: unknown) {
    super("CONTRACTS_MISSING", `No Perun contract at ${what} ${address} on ${url}.`, {
      details: { what, address, url },
      hint: "Deploy the contracts (deployContracts() or `perun deploy --rpc <url>`) and pass their addresses.",
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** A contract call reverted; `errorName`/`args` come from the contract's custom error when it had one. */
export class ContractRevertError extends PerunError {
  readonly errorName: string;
  readonly args: readonly unknown[];
  constructor(operation: string, errorName: string, args: readonly unknown[], cause?: unknown) {
    super(
      "CONTRACT_REVERT",
      `${operation} reverted with ${errorName}(${args.map((a) => describe(a)).join(", ")}).`,
      {
        details: { operation, errorName, args: args.map((a) => describe(a)).join(", ") },
        hint: "The contract refused the call; the error name says which rule was broken.",
        ...(cause === undefined ? {} : { cause }),
      },
    );
    this.errorName = errorName;
    this.args = args;
  }
}

/** Turns whatever viem threw for a failed call into a ContractRevertError when it is a revert. */
export function decodeRevert(operation: string, err: unknown, abi: Abi): unknown {
  if (!(err instanceof ViemBaseError)) return err;
  const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
  if (revert instanceof ContractFunctionRevertedError) {
    if (revert.data?.errorName) {
      return new ContractRevertError(operation, revert.data.errorName, revert.data.args ?? [], err);
    }
    if (revert.reason) return new ContractRevertError(operation, "Error", [revert.reason], err);
    if (revert.raw) {
      try {
        const d = decodeErrorResult({ abi, data: revert.raw });
        return new ContractRevertError(operation, d.errorName, d.args ?? [], err);
      } catch {
        return new ContractRevertError(operation, "UnknownError", [revert.raw], err);
      }
    }
  }
  const raw = findRevertData(err);
  if (raw) {
    try {
      const d = decodeErrorResult({ abi, data: raw });
      return new ContractRevertError(operation, d.errorName, d.args ?? [], err);
    } catch {
      return new ContractRevertError(operation, "UnknownError", [raw], err);
    }
  }
  return err;
}

function findRevertData(err: ViemBaseError): `0x${string}` | undefined {
  let found: `0x${string}` | undefined;
  err.walk((e) => {
    const data = (e as { data?: unknown }).data;
    if (typeof data === "string" && data.startsWith("0x") && data.length >= 10) {
      found = data as `0x${string}`;
      return true;
    }
    if (data && typeof data === "object" && typeof (data as { data?: unknown }).data === "string") {
      found = (data as { data: `0x${string}` }).data;
      return true;
    }
    return false;
  });
  return found;
}

/** Every custom error of our contracts (Adjudicator, asset holders, apps), for decoding reverts that bubble up. */
export const perunErrorsAbi: Abi = (() => {
  const seen = new Set<string>();
  const out: Abi[number][] = [];
  for (const [name, value] of Object.entries(generated)) {
    if (!name.endsWith("Abi")) continue;
    for (const item of value as Abi) {
      if (item.type !== "error") continue;
      const key = `${item.name}(${item.inputs.map((i) => i.type).join(",")})`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(item);
      }
    }
  }
  return out;
})();
