// SPDX-License-Identifier: Apache-2.0
// Test helper: a payee that re-enters the paying AssetHolderETH at once and
// deposits what it received into the funding id in storage slot 0 (set with a
// dev-chain storage write when this code is installed at a participant's
// address). setOutcomeAndPayout must account for such a deposit into a slot it
// has emptied and not yet paid out.
pragma solidity ^0.8.28;

interface Depositable {
    function deposit(bytes32 fundingID, uint256 amount) external payable;
}

contract Redepositor {
    bytes32 public target;

    receive() external payable {
        Depositable(msg.sender).deposit{value: msg.value}(target, msg.value);
    }
}
