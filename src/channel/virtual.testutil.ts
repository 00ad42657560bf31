/**
 * Test-only fixtures for virtual channels and paths (not exported by index.ts): addresses, ledger
 * channel params and states, V states, and fast-check generators for them.
 */
import fc from "fast-check";
import { channelId } from "./hash.js";
import type { Address, Asset, Params, State, SubAlloc } from "./types.js";
import { ZERO_ADDRESS } from "./types.js";
import { virtualInitialState, virtualParams } from "./virtual.js";

/** Deterministic distinct address number `i` (1..255). */
export const addr = (i: number): Address => `0x${i.toString(16).padStart(2, "0").repeat(20)}` as Address;
export const ALICE = addr(0xaa);
export const INGRID = addr(0x11);
export const BOB = addr(0xbb);

export const ETH: Asset = { chainID: 1337n, ethHolder: addr(0xe7), ccHolder: "0x" };
export const TOKEN: Asset = { chainID: 1337n, ethHolder: addr(0x70), ccHolder: "0x" };
export const ASSETS2: readonly Asset[] = [ETH, TOKEN];

export function ledgerParams(parts: readonly Address[], nonce = 1n): Params {
  return {
    challengeDuration: 60n,
    nonce,
    participants: parts.map((ethAddress) => ({ ethAddress, ccAddress: "0x" })),
    app: ZERO_ADDRESS,
    ledgerChannel: true,
    virtualChannel: false,
  };
}

export function ledgerState(
  params: Params,
  assets: readonly Asset[],
  balances: readonly (readonly bigint[])[],
  version = 3n,
  locked: readonly SubAlloc[] = [],
): State {
  return {
    channelID: channelId(params),
    version,
    outcome: { assets, backends: assets.map(() => 0n), balances, locked },
    appData: "0x",
    isFinal: false,
  };
}

/** V between `alice` and `bob` with initial shares `[a, b]` per asset. */
export function virtualFixture(
  assets: readonly Asset[],
  shares: readonly (readonly [bigint, bigint])[],
  alice: Address = ALICE,
  bob: Address = BOB,
  nonce = 7n,
): { params: Params; initial: State; id: State["channelID"] } {
  const params = virtualParams({ alice, bob, nonce, challengeDuration: 30n });
  const initial = virtualInitialState(params, assets, shares);
  return { params, initial, id: initial.channelID };
}

/** V's final state with the given shares (its total must match the initial one). */
export function finalOf(initial: State, shares: readonly (readonly bigint[])[], version = 9n): State {
  return { ...initial, version, isFinal: true, outcome: { ...initial.outcome, balances: shares } };
}

/** Random V shares for `nAssets` assets, and a random final split of each asset's total. */
export function vOutcomeArb(
  nAssets: number,
): fc.Arbitrary<{ initial: [bigint, bigint][]; final: [bigint, bigint][] }> {
  const amount = fc.oneof(fc.constantFrom(0n, 1n), fc.bigInt({ min: 0n, max: 10n ** 20n }));
  const row = fc
    .tuple(amount, amount)
    .chain(([a, b]) =>
      fc
        .oneof(fc.constantFrom(0n, a + b, a), fc.bigInt({ min: 0n, max: a + b }))
        .map((x) => ({ init: [a, b] as [bigint, bigint], fin: [x, a + b - x] as [bigint, bigint] })),
    );
  return fc.array(row, { minLength: nAssets, maxLength: nAssets }).map((rows) => ({
    initial: rows.map((r) => r.init),
    final: rows.map((r) => r.fin),
  }));
}
