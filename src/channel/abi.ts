/**
 * ABI parameter definitions of the channel structs, for use with viem (`encodeAbiParameters`,
 * `decodeAbiParameters`, contract calls).
 *
 * Field for field the structs `Channel.Params`, `Channel.State` (with `Allocation`, `Asset`,
 * `SubAlloc`, `Participant`) of perun-eth-contracts v1.0.0 `Channel.sol`, and
 * `AssetHolder.WithdrawalAuth`. Each `*_ABI` constant is the parameter list of `abi.encode(x)` for one
 * struct value `x`, which is what the contracts hash.
 */

export const participantAbi = {
  type: "tuple",
  name: "participant",
  components: [
    { name: "ethAddress", type: "address" },
    { name: "ccAddress", type: "bytes" },
  ],
} as const;

export const paramsAbi = {
  type: "tuple",
  name: "params",
  components: [
    { name: "challengeDuration", type: "uint256" },
    { name: "nonce", type: "uint256" },
    {
      name: "participants",
      type: "tuple[]",
      components: [
        { name: "ethAddress", type: "address" },
        { name: "ccAddress", type: "bytes" },
      ],
    },
    { name: "app", type: "address" },
    { name: "ledgerChannel", type: "bool" },
    { name: "virtualChannel", type: "bool" },
  ],
} as const;

export const allocationAbi = {
  type: "tuple",
  name: "outcome",
  components: [
    {
      name: "assets",
      type: "tuple[]",
      components: [
        { name: "chainID", type: "uint256" },
        { name: "ethHolder", type: "address" },
        { name: "ccHolder", type: "bytes" },
      ],
    },
    { name: "backends", type: "uint256[]" },
    { name: "balances", type: "uint256[][]" },
    {
      name: "locked",
      type: "tuple[]",
      components: [
        { name: "ID", type: "bytes32" },
        { name: "balances", type: "uint256[]" },
        { name: "indexMap", type: "uint16[]" },
      ],
    },
  ],
} as const;

export const stateAbi = {
  type: "tuple",
  name: "state",
  components: [
    { name: "channelID", type: "bytes32" },
    { name: "version", type: "uint64" },
    allocationAbi,
    { name: "appData", type: "bytes" },
    { name: "isFinal", type: "bool" },
  ],
} as const;

export const withdrawalAuthAbi = {
  type: "tuple",
  name: "authorization",
  components: [
    { name: "channelID", type: "bytes32" },
    participantAbi,
    { name: "receiver", type: "address" },
    { name: "amount", type: "uint256" },
  ],
} as const;

/** `abi.encode(params)`. */
export const PARAMS_ABI = [paramsAbi] as const;
/** `abi.encode(state)`. */
export const STATE_ABI = [stateAbi] as const;
/** `abi.encode(authorization)`. */
export const WITHDRAWAL_AUTH_ABI = [withdrawalAuthAbi] as const;
/** `abi.encode(channelID, participant)` of `AssetHolder.calcFundingID`. */
export const FUNDING_ID_ABI = [
  { name: "channelID", type: "bytes32" },
  { name: "participant", type: "address" },
] as const;
