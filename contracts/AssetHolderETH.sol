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

    /// @dev Gas given to a payee in setOutcomeAndPayout: enough for contract
    /// wallets that log a receipt through a proxy (a Safe needs ~5k); little
    /// enough that a payee burning it costs the payer only that.
    uint256 private constant PAYOUT_GAS = 20_000;
    /// @dev Gas that must be left before a payment, or setOutcomeAndPayout
    /// reverts: CALL passes on at most 63/64 of what is left after its own cost
    /// (up to 36,600: a cold account, a value transfer, a new account), and
    /// whoever sends the transaction must not be able to starve a payee with a
    /// low gas limit (its payment would fail and only be credited; gas
    /// estimation would find such a limit by itself).
    uint256 private constant PAYOUT_GAS_LEFT = PAYOUT_GAS + PAYOUT_GAS / 63 + 37_000;

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

    function _tryPay(address payable receiver, uint256 amount) internal override returns (bool ok) {
        if (gasleft() < PAYOUT_GAS_LEFT) revert PayoutGasTooLow(PAYOUT_GAS_LEFT);
        // As in _withdrawEnact, no return data is copied.
        assembly ("memory-safe") {
            ok := call(PAYOUT_GAS, receiver, amount, 0, 0, 0, 0)
        }
    }
}
