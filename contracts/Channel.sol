// SPDX-License-Identifier: Apache-2.0
// Channel: the data model shared by the Adjudicator, the asset holders and the
// apps. Follows the channel/state/allocation model of the Perun papers (ledger,
// sub- and virtual channels; "Perun: Virtual Payment Hubs", "Multi-Party Virtual
// State Channels") and is ABI-identical to Channel.sol of
// hyperledger-labs/perun-eth-contracts v1.0.0: go-perun encodes these structs
// with abi.encode, so field names, order and types must not change.
pragma solidity ^0.8.28;

library Channel {
    // channelID = keccak256(abi.encode(Params)).
    struct Params {
        uint256 challengeDuration;
        uint256 nonce;
        Participant[] participants;
        address app;
        bool ledgerChannel;
        bool virtualChannel;
    }

    // ccAddress is the participant's address on a non-EVM ledger (multi-ledger
    // channels); it is signed over but never interpreted on this chain.
    struct Participant {
        address ethAddress;
        bytes ccAddress;
    }

    // The hash signed by the participants is keccak256(abi.encode(State)),
    // EIP-191 prefixed (see Sig.sol).
    struct State {
        bytes32 channelID;
        uint64 version;
        Allocation outcome;
        bytes appData;
        bool isFinal;
    }

    // An asset lives on the chain `chainID`; only assets whose chainID equals
    // block.chainid are paid out by this chain's Adjudicator.
    struct Asset {
        uint256 chainID;
        address ethHolder;
        bytes ccHolder;
    }

    struct Allocation {
        Asset[] assets;
        uint256[] backends;
        // balances[asset][participant]
        uint256[][] balances;
        SubAlloc[] locked;
    }

    // Funds of the parent channel locked in the sub-channel `ID`.
    struct SubAlloc {
        bytes32 ID; // solhint-disable-line var-name-mixedcase
        // Total locked per asset; must equal the sub-channel's total per asset.
        uint256[] balances;
        // Sub-channel participant i's share is paid to parent participant indexMap[i].
        uint16[] indexMap;
    }
}
