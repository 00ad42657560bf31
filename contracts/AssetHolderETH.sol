// SPDX-License-Identifier: Apache-2.0
// AssetHolderETH: the AssetHolder for native ETH (perun-eth-contracts v1.0.0
// AssetHolderETH, same ABI). Unlike the reference, which uses transfer() and its
// 2300-gas stipend, payouts use call so contract wallets can receive; the
// holder's bookkeeping is already final when the call is made.
pragma solidity ^0.8.28;

import {AssetHolder} from "./AssetHolder.sol";

contract AssetHolderETH is AssetHolder {
    error WrongDepositValue(uint256 amount, uint256 value);
    error TransferFailed(address receiver, uint256 amount);

    constructor(address _adjudicator) AssetHolder(_adjudicator) {}

    function _depositCheck(uint256 amount) internal view override {
        if (msg.value != amount) revert WrongDepositValue(amount, msg.value);
    }

    function _depositEnact(uint256) internal pure override {}

    function _withdrawEnact(address payable receiver, uint256 amount) internal override {
        bool ok;
        // No return data is copied: a receiver cannot make us pay for a huge
        // return buffer.
        assembly ("memory-safe") {
            ok := call(gas(), receiver, amount, 0, 0, 0, 0)
        }
        if (!ok) revert TransferFailed(receiver, amount);
    }
}
