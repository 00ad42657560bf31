/**
 * Test-only fast-check generators and fixed fixtures for the channel core (not exported by index.ts).
 */

import { keccak_256 } from "@noble/hashes/sha3";
import fc from "fast-check";
import { channelId } from "./hash.js";
import { bytesToHex } from "./hex.js";
import type { Signer } from "./signer.js";
import { privateKeyToSigner } from "./signer.js";
import type { Address, Allocation, Asset, Hex, Params, State, SubAlloc, WithdrawalAuth } from "./types.js";
import { MAX_UINT64, MAX_UINT256, ZERO_ADDRESS } from "./types.js";

export const hexBytes = (min: number, max: number): fc.Arbitrary<Hex> =>
  fc.uint8Array({ minLength: min, maxLength: max }).map(bytesToHex);
export const address: fc.Arbitrary<Address> = hexBytes(20, 20);
export const bytes32: fc.Arbitrary<Hex> = hexBytes(32, 32);
/** uint256 biased towards edges: 0, small, 2^64 boundary, max. */
export const uint256: fc.Arbitrary<bigint> = fc.oneof(
  fc.constantFrom(0n, 1n, 0xffffffffn, 0x100000000n, MAX_UINT64, MAX_UINT64 + 1n, MAX_UINT256),
  fc.bigInt({ min: 0n, max: 1n << 70n }),
  fc.bigInt({ min: 0n, max: MAX_UINT256 }),
);

export const asset: fc.Arbitrary<Asset> = fc.record({
  chainID: uint256,
  ethHolder: address,
  ccHolder: hexBytes(0, 70),
});

export function allocationArb(assets: number, parts: number): fc.Arbitrary<Allocation> {
  const subAlloc: fc.Arbitrary<SubAlloc> = fc.record({
    ID: bytes32,
    balances: fc.array(uint256, { minLength: assets, maxLength: assets }),
    indexMap: fc.uniqueArray(fc.nat({ max: parts - 1 }), { minLength: 1, maxLength: parts }),
  });
  return fc.record({
    assets: fc.array(asset, { minLength: assets, maxLength: assets }),
    backends: fc.array(fc.constantFrom(0n, 1n, 2n), { minLength: assets, maxLength: assets }),
    balances: fc.array(fc.array(uint256, { minLength: parts, maxLength: parts }), {
      minLength: assets,
      maxLength: assets,
    }),
    locked: fc.uniqueArray(subAlloc, { maxLength: 3, selector: (s) => s.ID }),
  });
}

/** Arbitrary structurally valid state (amounts anywhere in uint256, so sums may overflow). */
export const stateArb: fc.Arbitrary<State> = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 4 }))
  .chain(([assets, parts]) =>
    fc.record({
      channelID: bytes32,
      version: fc.oneof(fc.constantFrom(0n, MAX_UINT64), fc.bigInt({ min: 0n, max: MAX_UINT64 })),
      outcome: allocationArb(assets, parts),
      appData: hexBytes(0, 100),
      isFinal: fc.boolean(),
    }),
  );

export const paramsArb: fc.Arbitrary<Params> = fc.record({
  challengeDuration: uint256,
  nonce: uint256,
  participants: fc.array(fc.record({ ethAddress: address, ccAddress: hexBytes(0, 40) }), { maxLength: 5 }),
  app: address,
  ledgerChannel: fc.boolean(),
  virtualChannel: fc.boolean(),
});

export const withdrawalAuthArb: fc.Arbitrary<WithdrawalAuth> = fc.record({
  channelID: bytes32,
  participant: fc.record({ ethAddress: address, ccAddress: hexBytes(0, 40) }),
  receiver: address,
  amount: uint256,
});

/** Well-known test key: keccak256 of a name. */
export function testKey(name: string): Hex {
  return bytesToHex(keccak_256(new TextEncoder().encode(name)));
}

/** Alice (index 0) and Bob (index 1) in a one-asset ledger payment channel, 100 / 50 each. */
export function twoPartyChannel(): { params: Params; init: State; alice: Signer; bob: Signer } {
  const alice = privateKeyToSigner(testKey("perun-ts alice"));
  const bob = privateKeyToSigner(testKey("perun-ts bob"));
  const params: Params = {
    challengeDuration: 60n,
    nonce: 1n,
    participants: [
      { ethAddress: alice.address, ccAddress: "0x" },
      { ethAddress: bob.address, ccAddress: "0x" },
    ],
    app: ZERO_ADDRESS,
    ledgerChannel: true,
    virtualChannel: false,
  };
  const init: State = {
    channelID: channelId(params),
    version: 0n,
    outcome: {
      assets: [{ chainID: 1337n, ethHolder: `0x${"e7".repeat(20)}`, ccHolder: "0x" }],
      backends: [0n],
      balances: [[100n, 50n]],
      locked: [],
    },
    appData: "0x",
    isFinal: false,
  };
  return { params, init, alice, bob };
}
