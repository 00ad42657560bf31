// SPDX-License-Identifier: Apache-2.0
// App: the interface of an app (state machine) run in a Perun channel; called by
// the Adjudicator during on-chain force execution (Perun papers: "state channel
// with a contract", phase FORCEEXEC). Same signature and selector as App.sol of
// perun-eth-contracts v1.0.0.
pragma solidity ^0.8.28;

import {Channel} from "./Channel.sol";

interface App {
    /// @notice Reverts unless `to` is a valid successor of `from` when made by
    /// participant `actorIdx`. The Adjudicator has already checked: params match
    /// the channel, the actor signed `to`, version + 1, `from` not final, equal
    /// assets and locked funds, balance dimensions and per-asset sums. Declared
    /// pure, so it is invoked with STATICCALL and cannot re-enter or change state.
    function validTransition(
        Channel.Params calldata params,
        Channel.State calldata from,
        Channel.State calldata to,
        uint256 actorIdx
    ) external pure;
}
