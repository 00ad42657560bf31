/**
 * Test-only channel records for the store tests, the crash child and throwaway benchmarks: a
 * realistic 2-party, 1-asset payment channel with a fully signed current state and a half-signed
 * pending proposal (about 1.5 KB as stored JSON). Not exported by index.ts.
 */
import { channelId } from "../channel/hash.js";
import type { Machine } from "../channel/machine.js";
import type { Address, Hex, Params, State } from "../channel/types.js";
import { MAX_UINT256, ZERO_ADDRESS } from "../channel/types.js";
import type { ChannelRecord } from "./store.js";

const ALICE: Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const BOB: Address = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const HOLDER: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

/** A deterministic 65-byte "signature" (the store checks the form, not the signer). */
function fakeSig(seed: number): Hex {
  return `0x${seed.toString(16).padStart(8, "0").repeat(16)}1b`;
}

function state(id: Hex, version: bigint, a: bigint, b: bigint, isFinal = false): State {
  return {
    channelID: id,
    version,
    outcome: {
      assets: [{ chainID: 31337n, ethHolder: HOLDER, ccHolder: "0x" }],
      backends: [0n],
      balances: [[a, b]],
      locked: [],
    },
    appData: "0x",
    isFinal,
  };
}

/**
 * Record of channel number `nonce` at `version`: current = version, pending = version + 1.
 *
 * @example
 * store.putChannel(sampleRecord(1n, 7n));
 */
export function sampleRecord(
  nonce: bigint,
  version: bigint,
  meta: Record<string, unknown> = {},
): ChannelRecord {
  const params: Params = {
    challengeDuration: 3600n,
    nonce,
    participants: [
      { ethAddress: ALICE, ccAddress: "0x" },
      { ethAddress: BOB, ccAddress: "0x" },
    ],
    app: ZERO_ADDRESS,
    ledgerChannel: true,
    virtualChannel: false,
  };
  const id = channelId(params);
  // Balances near 2^255: anything that went through a double would come back changed.
  const total = MAX_UINT256 / 2n;
  const paid = 10n ** 15n * version;
  const machine: Machine = {
    params,
    channelID: id,
    idx: 0,
    phase: "Signing",
    current: { state: state(id, version, total - paid, paid), sigs: [fakeSig(1), fakeSig(2)] },
    pending: {
      state: state(id, version + 1n, total - paid - 10n ** 15n, paid + 10n ** 15n),
      sigs: [fakeSig(3), null],
      proposer: 0,
    },
    dispute: null,
  };
  return {
    channelID: id,
    machine,
    peers: [ALICE, BOB],
    fundingDeadline: null,
    meta: { deposited: [total], withdrawn: false, note: "sample", ...meta },
  };
}
