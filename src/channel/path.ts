/**
 * Virtual channels over a path of intermediaries (design.md section 5): Alice - I1 - ... - In - Bob.
 * Hop k is the ledger channel between path[k] and path[k+1]; in every hop V is locked by the same rule
 * (`virtual.ts`): the left party path[k] fronts V.alice's share, the right party path[k+1] V.bob's.
 *
 * Fees: `fees[j]` (per asset) is what intermediary path[j+1] charges. In hop k the left party pays the
 * right party the fees of all intermediaries after it, fees[k] + ... + fees[n-1] (Alice pays I1 all of
 * them, I1 passes on all but its own to I2, ...; no fee in the last hop, towards Bob). So intermediary
 * j receives fees[j..] and pays fees[j+1..]: it nets exactly fees[j].
 */
import { assetTotals } from "./allocation.js";
import { InvalidFieldError } from "./errors.js";
import type { Address, Params, State } from "./types.js";
import type { LockFee, LockRoles } from "./virtual.js";
import { assertVirtualState } from "./virtual.js";
import { InvalidVirtualChannelError, VirtualTotalsMismatchError } from "./virtualErrors.js";

/** What hop k of the path locks, and the fee flowing in it. */
export interface PathHop {
  /** Ledger channel between path[index] and path[index + 1]. */
  readonly index: number;
  /** Fronts V.alice's share; receives it back on unlock (indexMap[0]). */
  readonly left: Address;
  /** Fronts V.bob's share; receives it back on unlock (indexMap[1]). */
  readonly right: Address;
  readonly leftFronts: readonly bigint[];
  readonly rightFronts: readonly bigint[];
  /** V's total per asset: the SubAlloc's balances. */
  readonly locked: readonly bigint[];
  /** Fee per asset paid by `left` to `right` in the lock update; null if none (always so in the last hop). */
  readonly fee: {
    readonly payer: Address;
    readonly payee: Address;
    readonly amounts: readonly bigint[];
  } | null;
}

/** Net change of one path member's holdings across all its ledger channels, per asset. */
export interface PathNet {
  readonly address: Address;
  readonly net: readonly bigint[];
}

/** The lock of every hop for V with initial state `vInitial`; `fees[j]` is intermediary path[j+1]'s. */
export function pathLocks(
  path: readonly Address[],
  vInitial: State,
  fees: readonly (readonly bigint[])[],
): PathHop[] {
  assertVirtualState(vInitial, "vInitial");
  const nAssets = vInitial.outcome.assets.length;
  assertPath(path, fees, nAssets);
  const alice = vInitial.outcome.balances.map((r) => r[0] as bigint);
  const bob = vInitial.outcome.balances.map((r) => r[1] as bigint);
  const locked = assetTotals(vInitial.outcome);
  const hops: PathHop[] = [];
  for (let k = 0; k + 1 < path.length; k++) {
    const amounts = Array.from({ length: nAssets }, (_, a) =>
      fees.slice(k).reduce((s, f) => s + (f[a] as bigint), 0n),
    );
    const left = path[k] as Address;
    const right = path[k + 1] as Address;
    hops.push({
      index: k,
      left,
      right,
      leftFronts: alice,
      rightFronts: bob,
      locked,
      fee: amounts.some((f) => f !== 0n) ? { payer: left, payee: right, amounts } : null,
    });
  }
  return hops;
}

/** The `roles` and `fee` arguments of `lockInLedger` for `hop`, by the participant order of its ledger. */
export function hopLockArgs(hop: PathHop, ledgerParams: Params): { roles: LockRoles; fee?: LockFee } {
  const idx = (a: Address, field: string): number => {
    const i = ledgerParams.participants.findIndex((p) => p.ethAddress.toLowerCase() === a.toLowerCase());
    if (i < 0) throw new InvalidFieldError(field, "a participant of the ledger channel", a);
    return i;
  };
  const roles = { left: idx(hop.left, "hop.left"), right: idx(hop.right, "hop.right") };
  if (hop.fee === null) return { roles };
  return {
    roles,
    fee: {
      payer: idx(hop.fee.payer, "hop.fee.payer"),
      payee: idx(hop.fee.payee, "hop.fee.payee"),
      amounts: hop.fee.amounts,
    },
  };
}

/**
 * Net change per path member (in path order) over all its ledger channels once V is locked with
 * `vInitial` and unlocked with the outcome `vFinal`, by running the bookkeeping of every hop: Alice
 * nets a' - a - (all fees), Bob b' - b, intermediary j exactly fees[j].
 */
export function netPositions(
  path: readonly Address[],
  vInitial: State,
  vFinal: State,
  fees: readonly (readonly bigint[])[],
): PathNet[] {
  const hops = pathLocks(path, vInitial, fees);
  assertVirtualState(vFinal, "vFinal");
  if (vFinal.channelID.toLowerCase() !== vInitial.channelID.toLowerCase()) {
    throw new InvalidVirtualChannelError("vFinal.channelID", vInitial.channelID, vFinal.channelID);
  }
  const totals = assetTotals(vFinal.outcome);
  if (totals.length !== hops[0]?.locked.length) {
    throw new InvalidVirtualChannelError("vFinal.outcome.assets", "V's assets", totals.length);
  }
  totals.forEach((t, a) => {
    const locked = hops[0]?.locked[a] as bigint;
    if (t !== locked) throw new VirtualTotalsMismatchError(vFinal.channelID, a, locked, t);
  });
  const net = path.map(() => totals.map(() => 0n));
  const add = (member: number, a: number, x: bigint): void => {
    const row = net[member] as bigint[];
    row[a] = (row[a] as bigint) + x;
  };
  for (const h of hops) {
    totals.forEach((_, a) => {
      const [fa, fb] = vFinal.outcome.balances[a] as readonly bigint[];
      add(h.index, a, (fa as bigint) - (h.leftFronts[a] as bigint));
      add(h.index + 1, a, (fb as bigint) - (h.rightFronts[a] as bigint));
      if (h.fee !== null) {
        add(h.index, a, -(h.fee.amounts[a] as bigint));
        add(h.index + 1, a, h.fee.amounts[a] as bigint);
      }
    });
  }
  return path.map((address, i) => ({ address, net: net[i] as bigint[] }));
}

function assertPath(path: readonly Address[], fees: readonly (readonly bigint[])[], nAssets: number): void {
  if (path.length < 3) {
    throw new InvalidFieldError("path", "at least 3 members (Alice, >= 1 intermediary, Bob)", path.length);
  }
  const seen = new Set<string>();
  path.forEach((a, i) => {
    const k = a.toLowerCase();
    if (seen.has(k)) throw new InvalidFieldError(`path[${i}]`, "an address not already on the path", a);
    seen.add(k);
  });
  if (fees.length !== path.length - 2) {
    throw new InvalidFieldError("fees", `${path.length - 2} entries (one per intermediary)`, fees.length);
  }
  fees.forEach((row, j) => {
    if (row.length !== nAssets) {
      throw new InvalidFieldError(`fees[${j}]`, `${nAssets} entries (one per asset)`, row.length);
    }
    row.forEach((f, a) => {
      if (typeof f !== "bigint" || f < 0n)
        throw new InvalidFieldError(`fees[${j}][${a}]`, "a non-negative bigint", f);
    });
  });
}

/** Where a lock of V in ledger channel `ledgerID` (with `peer`) stands for intermediary `self`. */
export type LockPosition =
  | {
      readonly ok: true;
      /** `self`'s index on the path (1..n). */
      readonly me: number;
      /** The hop of `ledgerID`: me - 1 (towards Alice) or me (towards Bob). */
      readonly hop: number;
      /** Whether `self` is the path's last intermediary (she holds both of her lock proposals). */
      readonly last: boolean;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks that `self` is an intermediary of `path` and that `ledgerID`, with `peer`, is one of her two
 * hops (`ledgerIDs[k]` is hop k): a lock anywhere else is none of hers to sign.
 */
export function lockPosition(
  path: readonly Address[],
  ledgerIDs: readonly string[],
  self: Address,
  ledgerID: string,
  peer: Address,
): LockPosition {
  const same = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();
  const me = path.findIndex((a) => same(a, self));
  const last = path.length - 2;
  if (me < 1 || me > last) return { ok: false, reason: "we are not an intermediary of this path" };
  const hop = ledgerIDs.findIndex((l) => same(l, ledgerID));
  if (hop !== me - 1 && hop !== me) {
    return { ok: false, reason: "this ledger channel is not on the virtual channel's path next to us" };
  }
  if (!same(path[hop === me ? me + 1 : me - 1], peer)) {
    return { ok: false, reason: "this ledger channel is not with our neighbour on the path" };
  }
  return { ok: true, me, hop, last: me === last };
}
