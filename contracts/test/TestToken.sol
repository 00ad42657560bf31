// SPDX-License-Identifier: Apache-2.0
// Test helpers only (never deployed in production): a minimal ERC20 core and
// TestToken, a standard ERC20 like PerunToken of perun-eth-contracts, minting
// `initBalance` to every account in `initAccounts`.
pragma solidity ^0.8.28;

abstract contract TestERC20Core {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);

    string public name;
    string public symbol;
    uint8 public constant decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    constructor(string memory _name, string memory _symbol, address[] memory initAccounts, uint256 initBalance) {
        name = _name;
        symbol = _symbol;
        for (uint256 i; i < initAccounts.length; ++i) {
            balanceOf[initAccounts[i]] += initBalance;
            totalSupply += initBalance;
            emit Transfer(address(0), initAccounts[i], initBalance);
        }
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function _move(address from, address to, uint256 value) internal {
        uint256 bal = balanceOf[from];
        if (bal < value) revert InsufficientBalance(from, bal, value);
        unchecked {
            balanceOf[from] = bal - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }

    function _spend(address owner, uint256 value) internal {
        uint256 a = allowance[owner][msg.sender];
        if (a == type(uint256).max) return;
        if (a < value) revert InsufficientAllowance(owner, msg.sender, a, value);
        unchecked {
            allowance[owner][msg.sender] = a - value;
        }
    }
}

contract TestToken is TestERC20Core {
    constructor(address[] memory initAccounts, uint256 initBalance)
        TestERC20Core("TestToken", "TT", initAccounts, initBalance)
    {}

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        _spend(from, value);
        _move(from, to, value);
        return true;
    }
}
