// SPDX-License-Identifier: Apache-2.0
// Test helper: a working ERC20 (deposits go through transferFrom) whose
// transfer to a blocked recipient fails in the way set for it: return false
// (old-style tokens), revert (a USDC-style blocklist) or burn all the gas
// given. setOutcomeAndPayout must pay the other participants and leave the
// blocked one's funds credited for a later withdraw.
pragma solidity ^0.8.28;

import {TestERC20Core} from "./TestToken.sol";

contract BlockingToken is TestERC20Core {
    enum Mode {
        None,
        ReturnFalse,
        Revert,
        BurnGas
    }

    error Blocked(address to);

    mapping(address => Mode) public blocked;

    constructor(address[] memory initAccounts, uint256 initBalance)
        TestERC20Core("BlockingToken", "BT", initAccounts, initBalance)
    {}

    function setBlocked(address to, Mode mode) external {
        blocked[to] = mode;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        Mode m = blocked[to];
        if (m == Mode.ReturnFalse) return false;
        if (m == Mode.Revert) revert Blocked(to);
        if (m == Mode.BurnGas) {
            while (true) {}
        }
        _move(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        _spend(from, value);
        _move(from, to, value);
        return true;
    }
}
