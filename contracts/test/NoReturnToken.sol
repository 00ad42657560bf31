// SPDX-License-Identifier: Apache-2.0
// Test helper: a working ERC20 whose transfer and transferFrom return no value
// (USDT style) and revert on failure. AssetHolderERC20 must accept it.
pragma solidity ^0.8.28;

import {TestERC20Core} from "./TestToken.sol";

contract NoReturnToken is TestERC20Core {
    constructor(address[] memory initAccounts, uint256 initBalance)
        TestERC20Core("NoReturnToken", "NRT", initAccounts, initBalance)
    {}

    function transfer(address to, uint256 value) external {
        _move(msg.sender, to, value);
    }

    function transferFrom(address from, address to, uint256 value) external {
        _spend(from, value);
        _move(from, to, value);
    }
}
