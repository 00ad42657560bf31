// SPDX-License-Identifier: Apache-2.0
// PaymentApp: a unidirectional-per-move payment app for channels with two or
// more participants: the actor may only pay out of its own balance. This is the
// "payment channel" special case of the Perun state-channel model, written as an
// App (perun-eth-contracts ships no such app; the interface is App.sol there).
pragma solidity ^0.8.28;

import {App} from "./App.sol";
import {Channel} from "./Channel.sol";

contract PaymentApp is App {
    error TooFewParticipants(uint256 numParts);
    // Participant `participantIdx` (not the actor) lost funds of asset `assetIdx`.
    error BalanceDecreased(uint256 assetIdx, uint256 participantIdx);

    function validTransition(
        Channel.Params calldata params,
        Channel.State calldata from,
        Channel.State calldata to,
        uint256 actorIdx
    ) external pure override {
        uint256 n = params.participants.length;
        if (n < 2) revert TooFewParticipants(n);
        uint256[][] calldata oldBals = from.outcome.balances;
        uint256[][] calldata newBals = to.outcome.balances;
        // Dimensions (assets x participants) and equal sums per asset are
        // enforced by the Adjudicator, so the actor can only have lost what the
        // others gained: nobody can be made to pay without signing.
        for (uint256 a; a < oldBals.length; ++a) {
            uint256[] calldata o = oldBals[a];
            uint256[] calldata b = newBals[a];
            for (uint256 p; p < n; ++p) {
                if (p != actorIdx && b[p] < o[p]) revert BalanceDecreased(a, p);
            }
        }
    }
}
