/**
 * Rules on allocations (outcomes) of a channel, as go-perun `channel.Allocation.Valid` /
 * `AssertAssetsEqual` / `Sum` and the perun-eth-contracts Adjudicator's checks (`requireEqualAssetArray`,
 * conservation of funds across `progress`):
 * - shape: balances is [asset][participant], one backend per asset, every SubAlloc has one balance per
 *   asset, unique sub-channel IDs, indexMap entries name parent participants;
 * - amounts are uint256 (never negative);
 * - an update keeps assets and backends and conserves, per asset, participant balances plus locked.
 */
import {
  AllocationShapeError,
  AssetsChangedError,
  BalanceOutOfRangeError,
  FundsNotConservedError,
} from "./errors.js";
import type { Allocation, Asset } from "./types.js";
import { MAX_UINT16, MAX_UINT256 } from "./types.js";

/** Throws unless `alloc` is a consistent allocation among `numParts` participants. */
export function assertAllocationConsistent(alloc: Allocation, numParts: number): void {
  const nAssets = alloc.assets.length;
  if (alloc.backends.length !== nAssets) {
    throw new AllocationShapeError(
      "outcome.backends",
      `${nAssets} entries (one per asset)`,
      alloc.backends.length,
    );
  }
  if (alloc.balances.length !== nAssets) {
    throw new AllocationShapeError(
      "outcome.balances",
      `${nAssets} rows (one per asset)`,
      alloc.balances.length,
    );
  }
  alloc.balances.forEach((row, a) => {
    if (row.length !== numParts) {
      throw new AllocationShapeError(
        `outcome.balances[${a}]`,
        `${numParts} entries (one per participant)`,
        row.length,
      );
    }
    row.forEach((b, p) => {
      assertAmount(b, `outcome.balances[${a}][${p}]`);
    });
  });
  const ids = new Set<string>();
  alloc.locked.forEach((sub, s) => {
    const field = `outcome.locked[${s}]`;
    const id = sub.ID.toLowerCase();
    if (ids.has(id))
      throw new AllocationShapeError(`${field}.ID`, "a sub-channel ID not locked twice", sub.ID);
    ids.add(id);
    if (sub.balances.length !== nAssets) {
      throw new AllocationShapeError(
        `${field}.balances`,
        `${nAssets} entries (one per asset)`,
        sub.balances.length,
      );
    }
    sub.balances.forEach((b, a) => {
      assertAmount(b, `${field}.balances[${a}]`);
    });
    if (sub.indexMap.length === 0) {
      throw new AllocationShapeError(`${field}.indexMap`, "at least one entry", sub.indexMap);
    }
    sub.indexMap.forEach((ix, i) => {
      if (!Number.isInteger(ix) || ix < 0 || ix > MAX_UINT16 || ix >= numParts) {
        throw new AllocationShapeError(
          `${field}.indexMap[${i}]`,
          `a participant index in 0..${numParts - 1}`,
          ix,
        );
      }
    });
  });
  // The contracts add these up with checked arithmetic: a total beyond uint256 could never be enforced.
  assetTotals(alloc).forEach((t, a) => {
    if (t > MAX_UINT256) throw new BalanceOutOfRangeError(`total of asset ${a}`, t);
  });
}

function assertAmount(b: bigint, field: string): void {
  if (typeof b !== "bigint" || b < 0n || b > MAX_UINT256) throw new BalanceOutOfRangeError(field, b);
}

/** Total of each asset: participant balances plus everything locked in sub-allocations. */
export function assetTotals(alloc: Allocation): bigint[] {
  return alloc.assets.map((_, a) => {
    let sum = 0n;
    for (const b of alloc.balances[a] ?? []) sum += b;
    for (const sub of alloc.locked) sum += sub.balances[a] ?? 0n;
    return sum;
  });
}

/** Throws unless `to` has the same assets and backends as `from` and conserves each asset's total. */
export function assertConserved(from: Allocation, to: Allocation): void {
  assertSameAssets(from, to);
  const before = assetTotals(from);
  const after = assetTotals(to);
  before.forEach((b, a) => {
    const t = after[a] as bigint;
    if (b !== t) throw new FundsNotConservedError(a, b, t);
  });
}

/** Throws unless both allocations hold the same assets with the same backends, in the same order. */
export function assertSameAssets(from: Allocation, to: Allocation): void {
  if (from.assets.length !== to.assets.length) throw new AssetsChangedError("outcome.assets.length");
  from.assets.forEach((a, i) => {
    if (!assetEqual(a, to.assets[i] as Asset)) throw new AssetsChangedError(`outcome.assets[${i}]`);
  });
  if (from.backends.length !== to.backends.length) throw new AssetsChangedError("outcome.backends.length");
  from.backends.forEach((b, i) => {
    if (b !== to.backends[i]) throw new AssetsChangedError(`outcome.backends[${i}]`);
  });
}

/** Asset equality as `Channel.requireEqualAsset` (hex compared case-insensitively). */
export function assetEqual(a: Asset, b: Asset): boolean {
  return (
    a.chainID === b.chainID &&
    a.ethHolder.toLowerCase() === b.ethHolder.toLowerCase() &&
    a.ccHolder.toLowerCase() === b.ccHolder.toLowerCase()
  );
}
