// SPDX-License-Identifier: Apache-2.0
// Test helper: a contract wallet whose receive() needs 15,000 gas (and fails
// with less), to check that nobody can starve a payee of setOutcomeAndPayout
// by sending the transaction with a tight gas limit: its payment would fail and
// only be credited.
pragma solidity ^0.8.28;

contract GasHungryReceiver {
    error NotEnoughGas(uint256 left);

    receive() external payable {
        if (gasleft() < 15_000) revert NotEnoughGas(gasleft());
    }
}
