// SPDX-License-Identifier: Apache-2.0
// Multicall (tests only): several calls to one contract in one transaction, as
// an attacker's contract would make them (e.g. register and conclude in the same
// block, leaving nobody time to refute). The first failing call's revert data is
// bubbled up unchanged, so the callee's custom error reaches the test.
pragma solidity ^0.8.28;

contract Multicall {
    function run(address target, bytes[] calldata calls) external {
        for (uint256 i; i < calls.length; ++i) {
            (bool ok, bytes memory ret) = target.call(calls[i]);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
    }
}
