// SPDX-License-Identifier: Apache-2.0
// CalldataHash: keccak256(abi.encode(x)) of a dynamic struct argument x read
// straight from calldata, without decoding and re-encoding it in memory (what
// `keccak256(abi.encode(x))` on a calldata struct does, at a few thousand gas
// per state). Used by the Adjudicator and the asset holders for channel ids,
// state hashes and withdrawal authorizations.
//
// Why the bytes in calldata are abi.encode(x) minus its first word: the ABI
// specification defines one encoding, in which a function's (or a tuple's)
// dynamic arguments are laid out as tails one after another in argument order,
// each tail being exactly the encoding of that argument with offsets relative to
// its own start. So the encoding of argument k runs from its tail start to the
// tail start of the next dynamic argument, and abi.encode(x) is the word 0x20
// followed by it. Every ABI encoder (solc, go-ethereum, viem, ethers) produces
// this layout.
//
// Why a caller may trust the result only where the hash is checked against a
// commitment of the honest parties: a non-canonical calldata layout (gaps,
// reordered tails, offsets pointing outside the region) decodes to a value
// other than the one the region's hash commits to. If the hash equals a hash
// that honest parties computed with abi.encode (a channel id, a state hash they
// signed, a state hash on record), the region IS abi.encode of some value (hash
// collision resistance), its offsets stay within it, and decoding it gives that
// very value. A hash that only a single, possibly malicious, signer committed to
// (a state in Adjudicator.progress, signed by one actor) must be computed with
// abi.encode instead. Non-canonical calldata only ever makes a call revert.
pragma solidity ^0.8.28;

library CalldataHash {
    /// @dev The region does not end after it starts: not the standard ABI layout.
    error NonCanonicalCalldata();

    /// @dev keccak256(0x20 ++ calldata[start:end]).
    function hash(uint256 start, uint256 end) internal pure returns (bytes32 h) {
        if (end <= start) revert NonCanonicalCalldata();
        assembly ("memory-safe") {
            let m := mload(0x40)
            let len := sub(end, start)
            mstore(m, 0x20)
            calldatacopy(add(m, 0x20), start, len)
            h := keccak256(m, add(len, 0x20))
        }
    }
}
