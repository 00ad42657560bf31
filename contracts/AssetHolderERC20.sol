// SPDX-License-Identifier: Apache-2.0
// AssetHolderERC20: the AssetHolder for one ERC20 token (perun-eth-contracts
// v1.0.0 AssetHolderERC20, same ABI). Token calls accept both standard tokens
// (return true) and tokens that return nothing (USDT style); returning false, a
// revert, or a token address without code all fail.
pragma solidity ^0.8.28;

import {AssetHolder} from "./AssetHolder.sol";

contract AssetHolderERC20 is AssetHolder {
    error NonZeroValue(uint256 value);
    error TokenTransferFailed(address token);

    /// @dev Gas given to a token transfer in setOutcomeAndPayout: a standard
    /// transfer to a new holder needs ~30k-60k (two balance slots, a proxy,
    /// hooks); a token or hook that needs more leaves the payment credited.
    uint256 private constant PAYOUT_GAS = 100_000;
    /// @dev Gas that must be left before a payment (see AssetHolderETH): CALL
    /// passes on at most 63/64 of what is left after its own cost (a cold token
    /// account), and preparing the call takes a few hundred.
    uint256 private constant PAYOUT_GAS_LEFT = PAYOUT_GAS + PAYOUT_GAS / 63 + 5_000;

    /// @notice The ERC20 token held by this contract.
    address public immutable token;

    constructor(address _adjudicator, address _token) AssetHolder(_adjudicator) {
        token = _token;
    }

    function _depositCheck(uint256) internal view override {
        // ETH sent along would be stuck forever.
        if (msg.value != 0) revert NonZeroValue(msg.value);
    }

    function _depositEnact(uint256 amount) internal override {
        // transferFrom(address,address,uint256)
        _callToken(abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount));
    }

    function _withdrawEnact(address payable receiver, uint256 amount) internal override {
        // transfer(address,uint256)
        _callToken(abi.encodeWithSelector(0xa9059cbb, receiver, amount));
    }

    function _tryPay(address payable receiver, uint256 amount) internal override returns (bool) {
        if (gasleft() < PAYOUT_GAS_LEFT) revert PayoutGasTooLow(PAYOUT_GAS_LEFT);
        // transfer(address,uint256)
        return _tryCallToken(abi.encodeWithSelector(0xa9059cbb, receiver, amount), PAYOUT_GAS);
    }

    /// @dev Calls the token and reverts unless it succeeded (_tryCallToken).
    function _callToken(bytes memory data) private {
        if (!_tryCallToken(data, gasleft())) revert TokenTransferFailed(token);
    }

    /// @dev Calls the token with `gasLimit` and tells whether it succeeded and
    /// returned either exactly true or nothing at all from an address that has
    /// code (a call to an address without code "succeeds" with empty return
    /// data). At most one word of return data is copied.
    function _tryCallToken(bytes memory data, uint256 gasLimit) private returns (bool ok) {
        address t = token;
        assembly ("memory-safe") {
            mstore(0x00, 0)
            let success := call(gasLimit, t, 0, add(data, 0x20), mload(data), 0x00, 0x20)
            switch returndatasize()
            case 0 { ok := and(success, gt(extcodesize(t), 0)) }
            default { ok := and(success, and(gt(returndatasize(), 0x1f), eq(mload(0x00), 1))) }
        }
    }
}
