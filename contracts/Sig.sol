// SPDX-License-Identifier: Apache-2.0
// Sig: secp256k1 signature verification over EIP-191 ("\x19Ethereum Signed
// Message:\n32") prefixed hashes, as used for state and withdrawal signatures by
// perun-eth-contracts (Sig.sol there wraps OpenZeppelin's ECDSA; this version
// calls the ecrecover precompile directly and works on calldata).
pragma solidity ^0.8.28;

library Sig {
    // secp256k1 group order / 2. Signatures with s above it are the malleable
    // twin (r, n - s) of a valid one; accepting both would give every signed
    // message two encodings (EIP-2).
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @dev keccak256("\x19Ethereum Signed Message:\n32" ++ hash): what eth_sign /
    /// personal_sign produce, so a signature can never double as a transaction.
    function ethSignedDigest(bytes32 hash) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            mstore(0x00, "\x19Ethereum Signed Message:\n32")
            mstore(0x1c, hash)
            digest := keccak256(0x00, 0x3c)
        }
    }

    /// @dev True iff `sig` (65 bytes r ++ s ++ v, v in {27, 28}, low s) recovers
    /// to `signer`. The zero address is never accepted: ecrecover yields 0 for
    /// garbage input, which must not authorise a participant whose address is 0.
    function verify(bytes32 digest, bytes calldata sig, address signer) internal view returns (bool ok) {
        if (sig.length != 65) return false;
        assembly ("memory-safe") {
            let r := calldataload(sig.offset)
            let s := calldataload(add(sig.offset, 0x20))
            let v := byte(0, calldataload(add(sig.offset, 0x40)))
            if and(iszero(gt(s, HALF_ORDER)), or(eq(v, 27), eq(v, 28))) {
                let m := mload(0x40)
                mstore(m, digest)
                mstore(add(m, 0x20), v)
                mstore(add(m, 0x40), r)
                mstore(add(m, 0x60), s)
                // The precompile returns no data on failure; pre-zero the output.
                mstore(0x00, 0)
                if staticcall(gas(), 0x01, m, 0x80, 0x00, 0x20) {
                    let rec := mload(0x00)
                    ok := and(iszero(iszero(rec)), eq(rec, shr(96, shl(96, signer))))
                }
            }
        }
    }
}
