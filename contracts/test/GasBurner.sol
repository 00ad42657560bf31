// SPDX-License-Identifier: Apache-2.0
// Test helper: a receiver that burns all the gas it is given on every ETH
// transfer and then fails, as a hostile payee would to make the payer pay for
// it (setOutcomeAndPayout bounds the gas of each payment).
pragma solidity ^0.8.28;

contract GasBurner {
    receive() external payable {
        // Runs out of gas.
        while (true) {}
    }
}
