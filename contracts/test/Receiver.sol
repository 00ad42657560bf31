// SPDX-License-Identifier: Apache-2.0
// Test helper: a contract that rejects every ETH transfer, to check that a failed
// ETH payout reverts the withdrawal (and leaves the holdings untouched).
pragma solidity ^0.8.28;

contract Receiver {
    error Rejected();

    receive() external payable {
        revert Rejected();
    }
}
