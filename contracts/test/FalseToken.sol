// SPDX-License-Identifier: Apache-2.0
// Test helper: an ERC20 whose transfer and transferFrom return false without
// moving funds (old-style failure signalling). AssetHolderERC20 must revert on it
// instead of crediting a deposit or debiting a withdrawal that did not happen.
pragma solidity ^0.8.28;

import {TestERC20Core} from "./TestToken.sol";

contract FalseToken is TestERC20Core {
    constructor(address[] memory initAccounts, uint256 initBalance)
        TestERC20Core("FalseToken", "FT", initAccounts, initBalance)
    {}

    function transfer(address, uint256) external pure returns (bool) {
        return false;
    }

    function transferFrom(address, address, uint256) external pure returns (bool) {
        return false;
    }
}
