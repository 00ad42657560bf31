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
        uint256 bal = slot & AMOUNT;
        // Bit 255 is the settled flag, so balances must stay below 2^255.
        if (amount > AMOUNT - bal) revert DepositOverflow(fundingID);
        // Cannot overflow: bal + amount <= AMOUNT by the check above. Keeping the
        // flag makes a deposit after settlement immediately withdrawable, as in
        // the reference.
        unchecked {
            _holdings[fundingID] = (slot & FLAG) | (bal + amount);
        }
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
        if (msg.sender != adjudicator) revert NotAdjudicator(msg.sender);
        uint256 n = parts.length;
        if (n != newBals.length) revert LengthMismatch(n, newBals.length);

        bytes32[] memory ids = new bytes32[](n);
        uint256[] memory held = new uint256[](n);
        uint256 sumHeld;
        uint256 sumOut;
        bool duplicate;
        for (uint256 i; i < n; ++i) {
            address p = parts[i].ethAddress;
            // Two equal addresses share one fundingID slot: counting it twice
            // would let the channel pay out funds of other channels. Such a
            // channel is refunded instead (O(n^2), n is tiny).
            for (uint256 j; j < i; ++j) {
                if (parts[j].ethAddress == p) duplicate = true;
            }
            bytes32 id = _fundingID(channelID, p);
            uint256 slot = _holdings[id];
            // Only setOutcome (and withdrawals after it) set the flag, and the
            // slot is specific to this channel: a flag means "already settled".
            if (slot & FLAG != 0) revert AlreadySettled(channelID);
            ids[i] = id;
            held[i] = slot;
            // Saturating sums, so that absurd values can never make conclusion
            // revert: a saturated sumHeld still understates the real deposits
            // (no over-payment), a saturated sumOut exceeds AMOUNT and refunds.
            unchecked {
                uint256 h = sumHeld + slot;
                sumHeld = h < sumHeld ? type(uint256).max : h;
                uint256 o = sumOut + newBals[i];
                sumOut = o < sumOut ? type(uint256).max : o;
            }
        }

        // sumOut <= AMOUNT guarantees every new balance fits below the flag.
        if (!duplicate && sumHeld >= sumOut && sumOut <= AMOUNT) {
            for (uint256 i; i < n; ++i) {
                uint256 b = newBals[i];
                // A slot that is 0 and stays 0 is not written: a fresh slot costs
                // 22.1k gas and a later withdraw of 0 falls back to the Adjudicator.
                if (b != 0 || held[i] != 0) _holdings[ids[i]] = FLAG | b;
            }
        } else {
            for (uint256 i; i < n; ++i) {
                if (held[i] != 0) _holdings[ids[i]] = FLAG | held[i];
            }
        }
        emit OutcomeSet(channelID);
    }

    /// @notice Pays `authorization.amount` of the participant's funds in a
    /// settled channel to `authorization.receiver`.
    function withdraw(WithdrawalAuth calldata authorization, bytes calldata signature) external {
        bytes32 channelID = authorization.channelID;
        address participant = authorization.participant.ethAddress;
        bytes32 id = _fundingID(channelID, participant);
        uint256 slot = _holdings[id];
        if (slot & FLAG == 0 && !_concluded(channelID)) revert NotSettled(channelID);

        bytes32 digest = Sig.ethSignedDigest(keccak256(abi.encode(authorization)));
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
            _holdings[id] = rest == 0 ? 0 : FLAG | rest;
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

    function _fundingID(bytes32 channelID, address participant) internal pure returns (bytes32) {
        return keccak256(abi.encode(channelID, participant));
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
