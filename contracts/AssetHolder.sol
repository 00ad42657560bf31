// SPDX-License-Identifier: Apache-2.0
// AssetHolder: holds the funds of Perun channels for one asset and pays out the
// outcome decided by the Adjudicator (the "funding" and "payout" parts of the
// Perun protocols). ABI-identical to AssetHolder.sol of perun-eth-contracts
// v1.0.0; the storage layout differs to save gas:
//
// * There is no `settled` mapping. Each holdings slot stores the amount in its low
//   255 bits and a SETTLED flag in bit 255. setOutcome writes FLAG | newBalance
//   into every participant's slot (except slots that are and stay 0), so a
//   withdrawal normally learns "settled" from the slot it has to read anyway.
//   Otherwise (a deposit made after settlement into an emptied slot, a participant
//   with a zero outcome, or a channel whose outcome this holder never receives)
//   withdraw asks the Adjudicator whether the channel is CONCLUDED.
// * Deposits to the raw channelID are not counted into the channel's funds (the
//   reference adds holdings[channelID] to the participants' deposits in
//   setOutcome). Only fundingID = keccak256(abi.encode(channelID, ethAddress))
//   slots count; anything sent to another id is irrecoverable, as go-perun never
//   does that.
pragma solidity ^0.8.28;

import {CalldataHash} from "./CalldataHash.sol";
import {Channel} from "./Channel.sol";
import {Sig} from "./Sig.sol";

abstract contract AssetHolder {
    // Authorises moving `amount` of `participant`'s funds in channel `channelID`
    // to `receiver`; signed by participant.ethAddress.
    struct WithdrawalAuth {
        bytes32 channelID;
        Channel.Participant participant;
        address payable receiver;
        uint256 amount;
    }

    event OutcomeSet(bytes32 indexed channelID);
    event Deposited(bytes32 indexed fundingID, uint256 amount);
    event Withdrawn(bytes32 indexed fundingID, uint256 amount, address receiver);

    error NotAdjudicator(address caller);
    error LengthMismatch(uint256 numParts, uint256 numBalances);
    error AlreadySettled(bytes32 channelID);
    error NotSettled(bytes32 channelID);
    error InvalidAuthorization(bytes32 fundingID);
    error InsufficientFunds(bytes32 fundingID, uint256 available, uint256 requested);
    error DepositOverflow(bytes32 fundingID);
    error PayoutGasTooLow(uint256 needed);

    uint256 private constant FLAG = 1 << 255;
    uint256 private constant AMOUNT = FLAG - 1;
    // Adjudicator.disputes(bytes32) returns 6 words; phase is word 3 and
    // CONCLUDED == 2 (Adjudicator.DisputePhase).
    bytes4 private constant DISPUTES_SELECTOR = bytes4(keccak256("disputes(bytes32)"));
    uint256 private constant PHASE_CONCLUDED = 2;

    /// @notice The only address allowed to call setOutcome.
    address public immutable adjudicator;

    // fundingID => (SETTLED flag << 255) | amount
    mapping(bytes32 => uint256) private _holdings;

    constructor(address _adjudicator) {
        adjudicator = _adjudicator;
    }

    /// @notice Funds held for `fundingID` (the settled flag is not part of it).
    function holdings(bytes32 fundingID) external view returns (uint256) {
        return _holdings[fundingID] & AMOUNT;
    }

    /// @notice Whether the channel is concluded at the Adjudicator, i.e. its
    /// outcome has been (or, for assets not held here, never will be) set.
    /// Reads the Adjudicator; false if the adjudicator is not a contract.
    function settled(bytes32 channelID) external view returns (bool) {
        return _concluded(channelID);
    }

    /// @notice Deposits `amount` for `fundingID`.
    function deposit(bytes32 fundingID, uint256 amount) external payable {
        _depositCheck(amount);
        uint256 slot = _holdings[fundingID];
        // Adding to the whole slot keeps the flag (a deposit after settlement is
        // immediately withdrawable, as in the reference) as long as the balance
        // stays below 2^255. With amount < 2^255 the balance outgrows its 255 bits
        // exactly when the carry flips bit 255 (and then the sum may wrap around
        // 2^256, which flips it back to 0 only from a set flag); so one test of
        // bit 255 of (next ^ slot) | amount covers both.
        uint256 next;
        unchecked {
            next = slot + amount;
        }
        if (((next ^ slot) | amount) >= FLAG) revert DepositOverflow(fundingID);
        _holdings[fundingID] = next;
        _depositEnact(amount);
        emit Deposited(fundingID, amount);
    }

    /// @notice Sets the outcome of a concluded channel; only the Adjudicator,
    /// once per channel. If the participants' deposits cover the outcome, the
    /// outcome becomes the new holdings (an excess is lost, as in the reference);
    /// otherwise every participant gets their own deposit back.
    function setOutcome(bytes32 channelID, Channel.Participant[] calldata parts, uint256[] calldata newBals)
        external
    {
        _setOutcome(channelID, parts, newBals);
    }

    /// @notice setOutcome, then pays every participant its new holdings at its
    /// ethAddress (not in the ABI of perun-eth-contracts v1.0.0; called by
    /// Adjudicator.concludeFinalAndPayout). Each payment gets bounded gas
    /// (_tryPay); one that fails stays credited as after setOutcome, for the
    /// normal withdraw. A channel with two equal participant addresses is only
    /// refunded into the holdings, as setOutcome does, and pays nothing out.
    function setOutcomeAndPayout(
        bytes32 channelID,
        Channel.Participant[] calldata parts,
        uint256[] calldata newBals
    ) external {
        _setOutcome(channelID, parts, newBals);
    }

    /// @dev setOutcome, or setOutcomeAndPayout when called as that. One body for
    /// both, told apart by msg.sig: passing a constant flag instead makes the
    /// compiler inline a copy per entry point (~500 bytes of code).
    function _setOutcome(bytes32 channelID, Channel.Participant[] calldata parts, uint256[] calldata newBals)
        private
    {
        if (msg.sender != adjudicator) revert NotAdjudicator(msg.sender);
        uint256 n = parts.length;
        if (n != newBals.length) revert LengthMismatch(n, newBals.length);

        // ids[i]: participant i's funding id; held[i]: what its slot holds. Filled
        // in assembly, which costs a third of the checked Solidity loop: parts is
        // read as _ethAddress reads it, newBals[i] for i < n = newBals.length.
        bytes32[] memory ids;
        uint256[] memory held;
        uint256 sumHeld;
        uint256 sumOut;
        bool duplicate;
        bool flagged;
        assembly ("memory-safe") {
            ids := mload(0x40)
            held := add(ids, shl(5, add(n, 1)))
            mstore(ids, n)
            mstore(held, n)
            mstore(0x40, add(held, shl(5, add(n, 1))))
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let elem := add(parts.offset, calldataload(add(parts.offset, shl(5, i))))
                mstore(0x00, channelID)
                mstore(0x20, and(calldataload(elem), 0xffffffffffffffffffffffffffffffffffffffff))
                let id := keccak256(0x00, 0x40)
                // Two equal addresses share one fundingID slot: counting it twice
                // would let the channel pay out funds of other channels. Such a
                // channel is refunded instead (O(n^2), n is tiny). Equal ids <=>
                // equal addresses.
                for { let j := 0 } lt(j, i) { j := add(j, 1) } {
                    duplicate := or(duplicate, eq(mload(add(ids, shl(5, add(j, 1)))), id))
                }
                mstore(0x00, id)
                mstore(0x20, _holdings.slot)
                let slot := sload(keccak256(0x00, 0x40))
                // Only setOutcome (and withdrawals after it) set the flag, and the
                // slot is specific to this channel: a flag means "already settled".
                flagged := or(flagged, shr(255, slot))
                mstore(add(ids, shl(5, add(i, 1))), id)
                mstore(add(held, shl(5, add(i, 1))), slot)
                // Saturating sums, so that absurd values can never make conclusion
                // revert: a saturated sumHeld still understates the real deposits
                // (no over-payment), a saturated sumOut exceeds AMOUNT and refunds.
                let h := add(sumHeld, slot)
                sumHeld := or(h, sub(0, lt(h, sumHeld)))
                let o := add(sumOut, calldataload(add(newBals.offset, shl(5, i))))
                sumOut := or(o, sub(0, lt(o, sumOut)))
            }
        }
        if (flagged) revert AlreadySettled(channelID);

        // sumOut <= AMOUNT guarantees every new balance fits below the flag.
        bool outcome = !duplicate && sumHeld >= sumOut && sumOut <= AMOUNT;
        // With equal participant addresses nothing is paid out: the refund stays
        // in the holdings, as setOutcome leaves it.
        bool payout = !duplicate && msg.sig == this.setOutcomeAndPayout.selector;
        // setOutcome: FLAG | new balance; a slot that is 0 and stays 0 is not
        // written (a fresh slot costs 22.1k gas and a later withdraw of 0 falls
        // back to the Adjudicator). Payout: emptied before the first payment
        // (checks-effects-interactions), which also earns the storage refund.
        assembly ("memory-safe") {
            mstore(0x20, _holdings.slot)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let at := shl(5, add(i, 1))
                let h := mload(add(held, at))
                let b := h
                if outcome { b := calldataload(add(newBals.offset, shl(5, i))) }
                mstore(0x00, mload(add(ids, at)))
                switch payout
                case 0 { if or(h, b) { sstore(keccak256(0x00, 0x40), or(FLAG, b)) } }
                default { if h { sstore(keccak256(0x00, 0x40), 0) } }
            }
        }
        emit OutcomeSet(channelID);
        if (payout) _payout(parts, newBals, ids, held, outcome);
    }

    /// @dev Pays participant i newBals[i] (`outcome`) or its deposit held[i]
    /// back, its slot being empty by now. A payee that re-enters finds nothing to
    /// withdraw: its slot is 0 and the Adjudicator's disputes() reverts while it
    /// pushes, so withdraw says NotSettled. A failed payment is credited back on
    /// top of whatever the slot holds by then (a deposit an earlier payee made into
    /// it), with the flag, as setOutcome would have left it.
    function _payout(
        Channel.Participant[] calldata parts,
        uint256[] calldata newBals,
        bytes32[] memory ids,
        uint256[] memory held,
        bool outcome
    ) private {
        for (uint256 i; i < ids.length; ++i) {
            uint256 amount = outcome ? newBals[i] : held[i];
            if (amount == 0) continue;
            address payable to = payable(_ethAddress(parts, i));
            bytes32 id = ids[i];
            if (_tryPay(to, amount)) {
                emit Withdrawn(id, amount, to);
            } else {
                // Both terms are at most AMOUNT (outcome: sumOut <= AMOUNT; held:
                // unflagged slots), so the sum cannot overflow; capped at AMOUNT
                // so that it never reaches the flag bit.
                uint256 sum = (_holdings[id] & AMOUNT) + amount;
                _holdings[id] = FLAG | (sum > AMOUNT ? AMOUNT : sum);
            }
        }
    }

    /// @notice Pays `authorization.amount` of the participant's funds in a
    /// settled channel to `authorization.receiver`.
    function withdraw(WithdrawalAuth calldata authorization, bytes calldata signature) external {
        bytes32 channelID = authorization.channelID;
        address participant = authorization.participant.ethAddress;
        bytes32 id = _fundingID(channelID, participant);
        // The storage slot of _holdings[id], computed once for the read and the write.
        uint256 at;
        uint256 slot;
        assembly ("memory-safe") {
            mstore(0x00, id)
            mstore(0x20, _holdings.slot)
            at := keccak256(0x00, 0x40)
            slot := sload(at)
        }
        if (slot & FLAG == 0 && !_concluded(channelID)) revert NotSettled(channelID);

        // Straight from calldata: checked against the participant's signature, so a
        // wrong region can only fail (CalldataHash).
        uint256 start;
        uint256 end;
        assembly ("memory-safe") {
            start := authorization
            end := sub(signature.offset, 0x20)
        }
        bytes32 digest = Sig.ethSignedDigest(CalldataHash.hash(start, end));
        if (!Sig.verify(digest, signature, participant)) revert InvalidAuthorization(id);

        uint256 amount = authorization.amount;
        uint256 bal = slot & AMOUNT;
        if (amount > bal) revert InsufficientFunds(id, bal, amount);
        // Debit before paying out (re-entrancy). A replayed authorization can
        // only take what is still left, which is the signer's to give.
        // Cannot underflow: amount <= bal.
        unchecked {
            uint256 rest = bal - amount;
            // An emptied slot is zeroed for the gas refund; it loses the flag, so a
            // later deposit there goes through the Adjudicator check above.
            uint256 next = rest == 0 ? 0 : FLAG | rest;
            assembly ("memory-safe") {
                sstore(at, next)
            }
        }
        _withdrawEnact(authorization.receiver, amount);
        emit Withdrawn(id, amount, authorization.receiver);
    }

    /// @dev Reverts unless the deposit's payment is well-formed.
    function _depositCheck(uint256 amount) internal view virtual;

    /// @dev Collects `amount` from msg.sender (no-op for ETH, checked before).
    function _depositEnact(uint256 amount) internal virtual;

    /// @dev Sends `amount` to `receiver` or reverts.
    function _withdrawEnact(address payable receiver, uint256 amount) internal virtual;

    /// @dev Sends `amount` to `receiver` with bounded gas (a payee must not be
    /// able to burn the payer's gas or make it revert); false if it failed, in
    /// which case nothing was sent. Reverts PayoutGasTooLow unless enough gas is
    /// left to give the payee all of that bound.
    function _tryPay(address payable receiver, uint256 amount) internal virtual returns (bool);

    /// @dev parts[i].ethAddress for i < parts.length, read without the
    /// decoder's offset and address checks: only the Adjudicator calls the
    /// functions that use it, with the encoding of a channel's participants
    /// (well-formed, or else belonging to a channel id that no honest party uses:
    /// see CalldataHash). Reads beyond calldata give 0; nothing else is touched.
    function _ethAddress(Channel.Participant[] calldata parts, uint256 i) private pure returns (address a) {
        assembly ("memory-safe") {
            let elem := add(parts.offset, calldataload(add(parts.offset, shl(5, i))))
            a := and(calldataload(elem), 0xffffffffffffffffffffffffffffffffffffffff)
        }
    }

    /// @dev keccak256(abi.encode(channelID, participant)), in scratch space.
    function _fundingID(bytes32 channelID, address participant) internal pure returns (bytes32 id) {
        assembly ("memory-safe") {
            mstore(0x00, channelID)
            mstore(0x20, and(participant, 0xffffffffffffffffffffffffffffffffffffffff))
            id := keccak256(0x00, 0x40)
        }
    }

    /// @dev Asks the Adjudicator whether `channelID` is CONCLUDED. Any failure
    /// (no code, revert, short return data) counts as "not concluded". The
    /// Adjudicator makes disputes() revert while it is pushing outcomes: it marks a
    /// channel CONCLUDED before calling the asset holders, and a malicious asset
    /// holder listed first could otherwise re-enter withdraw() here before our
    /// setOutcome ran and take out a deposit the outcome assigns to someone else.
    function _concluded(bytes32 channelID) internal view returns (bool yes) {
        address adj = adjudicator;
        bytes4 sel = DISPUTES_SELECTOR;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, sel)
            mstore(add(m, 0x04), channelID)
            if staticcall(gas(), adj, m, 0x24, m, 0xc0) {
                yes := and(iszero(lt(returndatasize(), 0xc0)), eq(mload(add(m, 0x60)), PHASE_CONCLUDED))
            }
        }
    }
}
