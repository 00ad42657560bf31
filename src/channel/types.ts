/**
 * Channel data types, mirroring the Solidity structs of `contracts/Channel.sol`
 * field for field (perun-eth-contracts v1.0.0 layout; design.md section 3), so
 * that a value here ABI-encodes to exactly what the contracts hash and sign.
 */

export type Hex = `0x${string}`;
export type Address = `0x${string}`;

/** A channel participant: its Ethereum address and an address on another chain (empty if none). */
export interface Participant {
  readonly ethAddress: Address;
  readonly ccAddress: Hex;
}

/** Fixed parameters of a channel; channel id = keccak256(abi.encode(params)). */
export interface Params {
  /** Seconds a registered state may be refuted before it can be concluded. */
  readonly challengeDuration: bigint;
  readonly nonce: bigint;
  readonly participants: readonly Participant[];
  /** App contract, or the zero address for a plain payment channel. */
  readonly app: Address;
  readonly ledgerChannel: boolean;
  readonly virtualChannel: boolean;
}

/** An asset: the AssetHolder contract holding it on chain `chainID`. */
export interface Asset {
  readonly chainID: bigint;
  readonly ethHolder: Address;
  readonly ccHolder: Hex;
}

/** Funds of a sub-channel or virtual channel locked in its parent. */
export interface SubAlloc {
  /** Channel id of the sub-channel. */
  readonly ID: Hex;
  /** Total locked per asset. */
  readonly balances: readonly bigint[];
  /** indexMap[i] is the parent participant who receives sub-participant i's share. */
  readonly indexMap: readonly number[];
}

export interface Allocation {
  readonly assets: readonly Asset[];
  /** Backend id per asset (go-perun multi-backend); 0 = Ethereum. */
  readonly backends: readonly bigint[];
  /** balances[asset][participant]. */
  readonly balances: readonly (readonly bigint[])[];
  readonly locked: readonly SubAlloc[];
}

export interface State {
  readonly channelID: Hex;
  /** uint64 on chain. */
  readonly version: bigint;
  readonly outcome: Allocation;
  readonly appData: Hex;
  readonly isFinal: boolean;
}

/** Authorises `receiver` to withdraw `amount` of `participant`'s holdings in a concluded channel. */
export interface WithdrawalAuth {
  readonly channelID: Hex;
  readonly participant: Participant;
  readonly receiver: Address;
  readonly amount: bigint;
}

export const ZERO_ADDRESS: Address = "0x0000000000000000000000000000000000000000";
export const MAX_UINT64 = (1n << 64n) - 1n;
export const MAX_UINT256 = (1n << 256n) - 1n;
export const MAX_UINT16 = 0xffff;
