// SPDX-License-Identifier: Apache-2.0
// Adjudicator: the on-chain judge of Perun channels. Implements the dispute
// procedure of the Perun papers (register / refute within the challenge
// duration, force execution of app channels, conclusion) for ledger channels and
// their sub- and virtual channels ("Perun: Virtual Payment Hubs over
// Cryptocurrencies", "Multi-Party Virtual State Channels", "Generalized State
// Channel Networks"), with the same ABI as Adjudicator.sol of
// hyperledger-labs/perun-eth-contracts v1.0.0, so go-perun's Ethereum backend
// can use it unchanged. The semantics are the reference's except where they let
// funds be stolen or locked; docs/contracts.md lists every difference.
pragma solidity ^0.8.28;

import {App} from "./App.sol";
import {AssetHolder} from "./AssetHolder.sol";
import {CalldataHash} from "./CalldataHash.sol";
import {Channel} from "./Channel.sol";
import {Sig} from "./Sig.sol";

contract Adjudicator {
    // DISPUTE: a state is registered and may be refuted by a newer one until the
    // timeout. FORCEEXEC: app channels progress on-chain, one signed move at a
    // time, each move restarting the timeout. CONCLUDED: the outcome is final.
    enum DisputePhase {
        DISPUTE,
        FORCEEXEC,
        CONCLUDED
    }

    struct SignedState {
        Channel.Params params;
        Channel.State state;
        bytes[] sigs;
    }

    /// @notice Emitted on every change of a channel's dispute record.
    event ChannelUpdate(bytes32 indexed channelID, uint64 version, uint8 phase, uint64 timeout);

    /// @notice The state `progress` moved an app channel to. The record keeps only its hash, and
    /// whoever concludes a parent of the channel (an intermediary of a virtual app channel, who signs
    /// none of its states) must pass it: calldata does not show it when the call came through another
    /// contract, or several moves came in one transaction (found by a hostile review).
    event Progressed(bytes32 indexed channelID, Channel.State state);

    /// @notice The state a virtual channel was registered with (as a sub-channel). An intermediary
    /// signs none of its states, yet must conclude her parents with this very state: calldata does not
    /// show it when the call came through a contract.
    event VirtualRegistered(bytes32 indexed channelID, Channel.State state);

    error NotLedgerChannel();
    error InvalidParams(bytes32 channelID, bytes32 stateChannelID);
    error InvalidSignature(bytes32 channelID, uint256 participantIdx);
    error SignatureCountMismatch(bytes32 channelID, uint256 numParts, uint256 numSigs);
    error ChallengeDurationTooLarge(bytes32 channelID);
    error NotRegistered(bytes32 channelID);
    error TimeoutNotPassed(bytes32 channelID, uint256 timeout);
    error TimeoutPassed(bytes32 channelID, uint64 timeout);
    error RefutationTimeoutPassed(bytes32 channelID, uint64 timeout);
    error StaleVersion(bytes32 channelID, uint64 registered, uint64 given);
    error InvalidPhase(bytes32 channelID, uint8 phase);
    error ChannelConcluded(bytes32 channelID);
    error NotFinal(bytes32 channelID);
    error HasLockedFunds(bytes32 channelID);
    error InvalidVirtualChannel(bytes32 channelID);
    error NoApp(bytes32 channelID);
    error ActorIdxOutOfRange(uint256 actorIdx, uint256 numParts);
    error InvalidOldState(bytes32 channelID);
    error InvalidState(bytes32 channelID);
    error InvalidVersion(bytes32 channelID, uint64 oldVersion, uint64 newVersion);
    error ProgressFromFinal(bytes32 channelID);
    error AllocationMismatch(bytes32 channelID);
    error InvalidAllocationShape(bytes32 channelID);
    error BalanceSumMismatch(bytes32 channelID, uint256 assetIdx);
    error SubChannelCountMismatch(uint256 used, uint256 given);
    error InvalidSubChannel(bytes32 parentID, bytes32 subChannelID);
    error InvalidIndexMap(bytes32 subChannelID);
    error SubAllocMismatch(bytes32 subChannelID, uint256 assetIdx);
    error OutcomePushInProgress();

    // Dispute record: two slots instead of the reference's struct (same content).
    // `meta` packs timeout (bits 0-63), challengeDuration (64-127), version
    // (128-191), hasApp (192) and phase (200-207). A registered or concluded
    // channel always has timeout = block.timestamp (+ duration) > 0, so
    // meta != 0 <=> the channel has a record.
    struct Record {
        uint256 meta;
        bytes32 stateHash;
    }

    uint256 private constant CD_SHIFT = 64;
    uint256 private constant VERSION_SHIFT = 128;
    uint256 private constant HAS_APP_SHIFT = 192;
    uint256 private constant PHASE_SHIFT = 200;
    uint8 private constant DISPUTE = uint8(DisputePhase.DISPUTE);
    uint8 private constant FORCEEXEC = uint8(DisputePhase.FORCEEXEC);
    uint8 private constant CONCLUDED = uint8(DisputePhase.CONCLUDED);

    mapping(bytes32 => Record) private _records;

    // Non-zero while outcomes are being pushed to asset holders (see disputes()).
    uint256 private transient _pushDepth;

    // ---------------------------------------------------------------- views

    /// @notice The dispute record of `channelID`; same outputs (names, types,
    /// order) as the public `disputes` getter of perun-eth-contracts v1.0.0.
    /// Reverts while this contract is calling asset holders: channels are marked
    /// CONCLUDED before their outcome is pushed, and asset holders trust
    /// "CONCLUDED" to mean "outcome set" (see AssetHolder._concluded). Only code
    /// re-entered from an asset holder can observe the revert.
    /// A channel concluded with concludeFinal without a prior registration has
    /// stateHash 0 (the reference stores the hash): nothing reads it after
    /// conclusion, and it saves a fresh storage slot.
    function disputes(bytes32 chID)
        external
        view
        returns (
            uint64 timeout,
            uint64 challengeDuration,
            uint64 version,
            uint8 phase,
            bytes32 stateHash,
            bool hasApp
        )
    {
        if (_pushDepth != 0) revert OutcomePushInProgress();
        Record storage r = _records[chID];
        uint256 m = r.meta;
        return (_timeout(m), _cd(m), _version(m), _phase(m), r.stateHash, _hasApp(m));
    }

    /// @notice keccak256(abi.encode(params)).
    function channelID(Channel.Params calldata params) external pure returns (bytes32) {
        return keccak256(abi.encode(params));
    }

    /// @notice keccak256(abi.encode(state)); participants sign its EIP-191 digest.
    function hashState(Channel.State calldata state) external pure returns (bytes32) {
        return keccak256(abi.encode(state));
    }

    // ------------------------------------------------------------- register

    /// @notice Registers (or refutes with) a fully signed state of the ledger
    /// channel `channel` and of its sub-channels, given depth-first in
    /// `subChannels`. Already registered identical states are skipped, so a
    /// virtual channel can be registered through both of its parents.
    function register(SignedState calldata channel, SignedState[] calldata subChannels) external {
        if (!channel.params.ledgerChannel) revert NotLedgerChannel();
        uint256 used = _registerRecursive(channel, subChannels, 0);
        if (used != subChannels.length) revert SubChannelCountMismatch(used, subChannels.length);
    }

    /// @dev Registers `c` and, depth-first, its sub-channels starting at
    /// subs[next]; returns the index after the last sub-channel used.
    function _registerRecursive(SignedState calldata c, SignedState[] calldata subs, uint256 next)
        private
        returns (uint256)
    {
        Channel.Params calldata params = c.params;
        Channel.State calldata state = c.state;
        bytes32 id = _requireChannelID(params, _at(state), state);
        Channel.Allocation calldata alloc = state.outcome;
        uint256 nParts = params.participants.length;
        uint256 nLocked = _requireShape(id, alloc, nParts);
        // Virtual channels are funded by two parents and settled through either;
        // nested funds could make their outcome diverge between them. An app cannot:
        // V has one record, which both parents conclude with (after its own timeout,
        // so never while it can still be progressed).
        if (params.virtualChannel && nLocked != 0) revert InvalidVirtualChannel(id);
        _registerSingle(id, params, state, c.sigs, nLocked != 0);
        if (nLocked == 0) return next;

        Channel.SubAlloc[] calldata locked = alloc.locked;
        for (uint256 i; i < nLocked; ++i) {
            Channel.SubAlloc calldata s = locked[i];
            if (next >= subs.length) revert SubChannelCountMismatch(next + 1, subs.length);
            SignedState calldata sub = subs[next];
            // Cannot overflow: next < subs.length.
            unchecked {
                ++next;
            }
            Channel.State calldata ss = sub.state;
            // Sub-channels must not be ledger channels: a ledger channel can be
            // concluded by concludeFinal on its own, after which its state could no
            // longer be matched when the parent concludes.
            if (ss.channelID != s.ID || sub.params.ledgerChannel) revert InvalidSubChannel(id, s.ID);
            if (!_eqAssets(alloc.assets, ss.outcome.assets)) revert AllocationMismatch(s.ID);
            uint16[] calldata im = s.indexMap;
            if (im.length != sub.params.participants.length) revert InvalidIndexMap(s.ID);
            for (uint256 j; j < im.length; ++j) {
                if (im[j] >= nParts) revert InvalidIndexMap(s.ID);
            }
            next = _registerRecursive(sub, subs, next);
            // The parent locked exactly what the sub-channel distributes, per asset
            // (its balances plus what it locks itself, which was checked the same
            // way one level down). Shapes were checked in _requireShape.
            uint256[] calldata want = s.balances;
            for (uint256 a; a < want.length; ++a) {
                if (_total(ss.outcome, a) != want[a]) revert SubAllocMismatch(s.ID, a);
            }
        }
        return next;
    }

    function _registerSingle(
        bytes32 id,
        Channel.Params calldata params,
        Channel.State calldata state,
        bytes[] calldata sigs,
        bool locks
    ) private {
        // Checked against the signatures of all participants (see CalldataHash).
        bytes32 h = CalldataHash.hash(_at(state), _tail(sigs));
        Record storage r = _records[id];
        uint256 m = r.meta;
        uint64 cd = _challengeDuration(id, params);
        uint64 timeout;
        if (m != 0) {
            // The very state already on record was verified when it got there
            // (it is bound to id and thus to params): nothing to do.
            if (r.stateHash == h) return;
            uint64 v = _version(m);
            uint8 phase = _phase(m);
            if (params.virtualChannel && state.version <= v) {
                // A virtual channel already on record with a newer state (registered or moved on
                // chain through its other parent): this parent registers with a fully signed older
                // state of it, which only has to add up to what this parent locks (checked by the
                // caller); the record stays. An intermediary signs none of V's updates: she may
                // only know V's first state.
                _requireAllSigs(id, params, h, sigs);
                return;
            }
            if (state.version <= v) revert StaleVersion(id, v, state.version);
            if (phase != DISPUTE) revert InvalidPhase(id, phase);
            timeout = _timeout(m);
            if (block.timestamp >= timeout) revert RefutationTimeoutPassed(id, timeout);
            // A refutation keeps the timeout: otherwise refuting could prolong the
            // dispute indefinitely.
        } else {
            timeout = _later(id, cd);
        }
        _requireAllSigs(id, params, h, sigs);
        // A final state ends the dispute at once only if it locks nothing. A
        // final state that still locks sub-channels does not say how they end:
        // with timeout = now, whoever holds it could register it together with
        // an old state of a locked (virtual) channel and conclude in the same
        // transaction, before anyone can refute the sub-channel.
        if (state.isFinal && !locks) timeout = uint64(block.timestamp);
        r.meta = _pack(timeout, cd, state.version, params.app != address(0), DISPUTE);
        r.stateHash = h;
        emit ChannelUpdate(id, state.version, DISPUTE, timeout);
        if (params.virtualChannel) emit VirtualRegistered(id, state);
    }

    // ------------------------------------------------------------- progress

    /// @notice Advances an app channel on-chain by one move signed by
    /// participant `actorIdx`, after the refutation phase is over and while the
    /// force-execution phase lasts.
    function progress(
        Channel.Params calldata params,
        Channel.State calldata stateOld,
        Channel.State calldata state,
        uint256 actorIdx,
        bytes calldata sig
    ) external {
        bytes32 id = _requireChannelID(params, _at(stateOld), state);
        if (params.app == address(0)) revert NoApp(id);
        Record storage r = _records[id];
        uint256 m = r.meta;
        if (m == 0) revert NotRegistered(id);
        uint8 phase = _phase(m);
        uint64 timeout = _timeout(m);
        if (phase == DISPUTE) {
            if (block.timestamp < timeout) revert TimeoutNotPassed(id, timeout);
        } else if (phase == FORCEEXEC) {
            if (block.timestamp >= timeout) revert TimeoutPassed(id, timeout);
        } else {
            revert ChannelConcluded(id);
        }
        uint256 n = params.participants.length;
        if (actorIdx >= n) revert ActorIdxOutOfRange(actorIdx, n);
        // The stored hash binds stateOld, including its channelID (== id).
        if (CalldataHash.hash(_at(stateOld), _at(state)) != r.stateHash) revert InvalidOldState(id);
        // Signed by one participant only, who must not be able to make the app
        // check one state and the record hold another: re-encoded (CalldataHash).
        bytes32 h = keccak256(abi.encode(state));
        if (!Sig.verify(Sig.ethSignedDigest(h), sig, params.participants[actorIdx].ethAddress)) {
            revert InvalidSignature(id, actorIdx);
        }
        // In uint256 so that version 2^64-1 cannot wrap around.
        if (uint256(state.version) != uint256(stateOld.version) + 1) {
            revert InvalidVersion(id, stateOld.version, state.version);
        }
        if (stateOld.isFinal) revert ProgressFromFinal(id);
        _requireAssetPreservation(id, stateOld.outcome, state.outcome, n);
        // STATICCALL (pure interface function): the app cannot re-enter.
        App(params.app).validTransition(params, stateOld, state, actorIdx);

        uint64 cd = _cd(m); // == params.challengeDuration: id binds params
        // As in _registerSingle: final shortens the timeout only if nothing is
        // locked (locked equals stateOld's, checked above).
        uint64 t =
            state.isFinal && state.outcome.locked.length == 0 ? uint64(block.timestamp) : _later(id, cd);
        r.meta = _pack(t, cd, state.version, true, FORCEEXEC);
        r.stateHash = h;
        emit ChannelUpdate(id, state.version, FORCEEXEC, t);
        emit Progressed(id, state);
    }

    // ------------------------------------------------------------- conclude

    /// @notice Concludes the registered ledger channel after its timeout (plus one
    /// challenge duration for app channels still in DISPUTE, leaving room for
    /// progress), force-concludes its sub-channels (given depth-first in
    /// `subStates`, each the registered state, each past its own timeout unless
    /// already concluded) and pays out the accumulated outcome.
    function conclude(
        Channel.Params calldata params,
        Channel.State calldata state,
        Channel.State[] calldata subStates
    ) external {
        if (!params.ledgerChannel) revert NotLedgerChannel();
        bytes32 id = _requireChannelID(params, _at(state), state);
        Record storage r = _records[id];
        uint256 m = r.meta;
        if (m == 0) revert NotRegistered(id);
        if (_phase(m) == CONCLUDED) revert ChannelConcluded(id);
        if (CalldataHash.hash(_at(state), _tail(subStates)) != r.stateHash) revert InvalidState(id);
        _markConcluded(r, id, m);

        Channel.Allocation calldata alloc = state.outcome;
        if (alloc.locked.length == 0) {
            if (subStates.length != 0) revert SubChannelCountMismatch(0, subStates.length);
            _pushCalldata(id, params, _at(state), alloc, AssetHolder.setOutcome.selector);
        } else {
            // Accumulate into a copy of the parent's balances; sub-channel
            // participants are mapped to parent participants via indexMap.
            uint256[][] memory out = alloc.balances;
            uint256 n = params.participants.length;
            uint256[] memory identity = new uint256[](n);
            for (uint256 i; i < n; ++i) {
                identity[i] = i;
            }
            uint256 used = _concludeSubs(state, subStates, 0, identity, out);
            if (used != subStates.length) revert SubChannelCountMismatch(used, subStates.length);
            _pushMemory(id, alloc.assets, params.participants, out);
        }
    }

    /// @dev Force-concludes the sub-channels of `st` (depth-first from
    /// subs[next]) and adds their balances to `out`, where `map[i]` is the root
    /// participant that participant i of `st` is paid to.
    function _concludeSubs(
        Channel.State calldata st,
        Channel.State[] calldata subs,
        uint256 next,
        uint256[] memory map,
        uint256[][] memory out
    ) private returns (uint256) {
        Channel.SubAlloc[] calldata locked = st.outcome.locked;
        for (uint256 i; i < locked.length; ++i) {
            Channel.SubAlloc calldata s = locked[i];
            if (next >= subs.length) revert SubChannelCountMismatch(next + 1, subs.length);
            Channel.State calldata sub = subs[next];
            // Cannot overflow: next < subs.length.
            unchecked {
                ++next;
            }
            _forceConclude(st.channelID, s.ID, sub);
            uint256[] memory subMap = _addMapped(sub, s.indexMap, map, out);
            next = _concludeSubs(sub, subs, next, subMap, out);
        }
        return next;
    }

    /// @dev Checks that `sub` is the registered state of sub-channel `subID` and
    /// marks it CONCLUDED once its own timeout has passed. A virtual channel may
    /// already be concluded through its other parent; that is fine.
    /// The reference force-concludes a sub-channel whenever its parent concludes,
    /// so a parent with a shorter challenge duration cut the sub-channel's
    /// refutation window short: registered at an old state through one parent, a
    /// virtual channel was settled there before its other parent could refute.
    /// Here the parent waits for the sub-channel's own timeout.
    function _forceConclude(bytes32 parentID, bytes32 subID, Channel.State calldata sub) private {
        bytes32 sid = sub.channelID;
        if (sid != subID) revert InvalidSubChannel(parentID, subID);
        Record storage sr = _records[sid];
        uint256 sm = sr.meta;
        if (sm == 0) revert NotRegistered(sid);
        if (keccak256(abi.encode(sub)) != sr.stateHash) revert InvalidState(sid);
        if (_phase(sm) != CONCLUDED) _markConcluded(sr, sid, sm);
    }

    /// @dev Marks the registered, not yet concluded channel `id` (record `r`,
    /// meta `m`) CONCLUDED, or reverts TimeoutNotPassed if its timeout (plus one
    /// challenge duration for app channels still in DISPUTE, leaving room for
    /// progress) is still ahead.
    function _markConcluded(Record storage r, bytes32 id, uint256 m) private {
        // Both terms < 2^64, so the sum cannot overflow uint256.
        uint256 timeout = _timeout(m);
        if (_phase(m) == DISPUTE && _hasApp(m)) timeout += _cd(m);
        if (block.timestamp < timeout) revert TimeoutNotPassed(id, timeout);
        // timeout <= block.timestamp < 2^64 here, so the cast is exact. The
        // extended timeout is stored, as in the reference.
        uint64 t = uint64(timeout);
        r.meta = _withTimeoutAndPhase(m, t, CONCLUDED);
        emit ChannelUpdate(id, _version(m), CONCLUDED, t);
    }

    /// @dev Adds the balances of sub-channel state `sub` to `out`, paying its
    /// participant p to root participant map[im[p]]; returns that composed map.
    /// indexMap entries were checked < parent participants when the (registered)
    /// parent state was registered; memory accesses are bounds-checked regardless.
    function _addMapped(
        Channel.State calldata sub,
        uint16[] calldata im,
        uint256[] memory map,
        uint256[][] memory out
    ) private pure returns (uint256[] memory subMap) {
        uint256 k = im.length;
        subMap = new uint256[](k);
        for (uint256 j; j < k; ++j) {
            subMap[j] = map[im[j]];
        }
        uint256[][] calldata bals = sub.outcome.balances;
        if (bals.length != out.length) revert InvalidAllocationShape(sub.channelID);
        for (uint256 a; a < bals.length; ++a) {
            uint256[] calldata row = bals[a];
            if (row.length != k) revert InvalidAllocationShape(sub.channelID);
            uint256[] memory o = out[a];
            for (uint256 p; p < k; ++p) {
                o[subMap[p]] += row[p];
            }
        }
    }

    /// @notice Concludes a ledger channel immediately with a final state signed
    /// by all participants. Supersedes any running dispute (also in FORCEEXEC);
    /// fails only once the channel is concluded. A final state that locks funds
    /// in sub-channels is refused (HasLockedFunds): it says nothing about how
    /// they end, so it goes through register and conclude, which give every
    /// sub-channel its full challenge duration.
    function concludeFinal(Channel.Params calldata params, Channel.State calldata state, bytes[] calldata sigs)
        external
    {
        _concludeFinal(params, state, sigs);
    }

    /// @notice concludeFinal, and every participant is paid its outcome in the
    /// same transaction (not in the ABI of perun-eth-contracts v1.0.0; an
    /// addition). Same checks as concludeFinal: a final state signed by all
    /// participants, nothing locked in sub-channels. Each asset holder pays each
    /// participant's ethAddress with bounded gas; a payment that fails (a
    /// contract that rejects it or runs out of that gas, a token that reverts or
    /// returns false) stays credited to the participant's holdings, to be taken
    /// out with the normal withdraw. So no participant can block the conclusion
    /// or another participant's payment.
    /// Example: `concludeFinalAndPayout(params, finalState, [sigAlice, sigBob])`
    /// instead of concludeFinal followed by one withdraw per participant and asset.
    function concludeFinalAndPayout(
        Channel.Params calldata params,
        Channel.State calldata state,
        bytes[] calldata sigs
    ) external {
        _concludeFinal(params, state, sigs);
    }

    /// @dev concludeFinal, or concludeFinalAndPayout when called as that: the
    /// outcome goes to the asset holders' setOutcome or setOutcomeAndPayout. One
    /// body for both, told apart by msg.sig: passing a constant instead makes the
    /// compiler inline a copy per entry point (~700 bytes of code).
    function _concludeFinal(Channel.Params calldata params, Channel.State calldata state, bytes[] calldata sigs)
        private
    {
        bytes4 push = msg.sig == this.concludeFinalAndPayout.selector
            ? AssetHolder.setOutcomeAndPayout.selector
            : AssetHolder.setOutcome.selector;
        if (!params.ledgerChannel) revert NotLedgerChannel();
        bytes32 id = _requireChannelID(params, _at(state), state);
        if (!state.isFinal) revert NotFinal(id);
        Channel.Allocation calldata alloc = state.outcome;
        if (alloc.locked.length != 0) revert HasLockedFunds(id);
        if (alloc.balances.length != alloc.assets.length) revert InvalidAllocationShape(id);
        Record storage r = _records[id];
        uint256 m = r.meta;
        if (m != 0 && _phase(m) == CONCLUDED) revert ChannelConcluded(id);
        bytes32 h = CalldataHash.hash(_at(state), _tail(sigs));
        _requireAllSigs(id, params, h, sigs);

        uint64 now64 = uint64(block.timestamp);
        // The duration only informs the disputes() getter here; saturate instead
        // of reverting so that an absurd value can never block a cooperative close.
        uint256 cd = params.challengeDuration;
        uint64 cd64 = cd > type(uint64).max ? type(uint64).max : uint64(cd);
        r.meta = _pack(now64, cd64, state.version, params.app != address(0), CONCLUDED);
        // Never registered: leave stateHash 0 (saves a fresh slot; see disputes()).
        if (m != 0) r.stateHash = h;
        emit ChannelUpdate(id, state.version, CONCLUDED, now64);
        _pushCalldata(id, params, _at(state), alloc, push);
    }

    // ------------------------------------------------------------- payout

    // Outcomes are pushed only for assets of this chain: in a multi-ledger
    // channel, assets with another chainID are held and paid out by the
    // Adjudicator and asset holders on that chain. The channel is marked CONCLUDED
    // before these calls (checks-effects-interactions), so a re-entrant call
    // cannot conclude it twice.
    //
    // Assets of this chain with the same holder (say [ETH, ETH]) are pushed once,
    // with the per-participant sums of their balance rows: the deposits for both
    // rows went into the same funding-id slots of that holder, so the merged
    // outcome is covered exactly as the rows were; a second setOutcome would
    // revert AlreadySettled and lock every deposit of the channel for good. Sums
    // saturate instead of reverting: a saturated outcome exceeds any deposits, so
    // the holder refunds them. With distinct holders each row is pushed as is.
    //
    // The state and params are read here without the decoder's checks, and the
    // call to a holder is encoded by copying the participants and a balance row
    // from calldata (re-encoding them cost ~4k gas per conclusion): both lie in
    // regions whose hashes were checked (the channel id, and the signed or
    // registered state hash), so they are the canonical encodings of the values
    // checked (see CalldataHash), every offset in them is in bounds, and the
    // balance matrix has one row per asset (concludeFinal checks it; register
    // checked the shape of every state on record). Holders are called without
    // a code-size check: an address without code holds nothing to pay out.

    /// @dev Pushes the outcome of `alloc` (a state given in calldata) with the
    /// holders' function `push` (setOutcome or setOutcomeAndPayout).
    function _pushCalldata(
        bytes32 id,
        Channel.Params calldata params,
        uint256 paramsEnd,
        Channel.Allocation calldata alloc,
        bytes4 push
    ) private {
        ++_pushDepth;
        // Calldata positions (see above): the participants' length word, and the
        // first offset word of assets and of balances.
        uint256 partsAt;
        uint256 assetsAt;
        uint256 balsAt;
        uint256 n;
        assembly ("memory-safe") {
            partsAt := add(params, calldataload(add(params, 0x40)))
            let assets := add(alloc, calldataload(alloc))
            n := calldataload(assets)
            assetsAt := add(assets, 0x20)
            balsAt := add(add(alloc, calldataload(add(alloc, 0x40))), 0x20)
        }
        // Participants are the last dynamic member of Params: their encoding runs
        // to the end of it.
        if (paramsEnd <= partsAt) revert CalldataHash.NonCanonicalCalldata();
        for (uint256 a; a < n; ++a) {
            address holder = _holderAt(assetsAt, a);
            if (holder == address(0) || _holderIn(assetsAt, 0, a, holder)) continue;
            if (_holderIn(assetsAt, a + 1, n, holder)) {
                uint256[][] calldata bals = alloc.balances;
                uint256[] memory row = bals[a];
                for (uint256 b = a + 1; b < n; ++b) {
                    if (_holderAt(assetsAt, b) == holder) _addSaturating(id, row, bals[b]);
                }
                _call(holder, abi.encodeWithSelector(push, id, params.participants, row));
            } else {
                _callRaw(holder, push, id, partsAt, paramsEnd, balsAt, a);
            }
        }
        --_pushDepth;
    }

    /// @dev Calls holder.push(id, participants, balances[a]) with the
    /// participants' encoding at calldata [partsAt, partsEnd) and row a of the
    /// balances whose first offset word is at balsAt, both copied from calldata.
    function _callRaw(
        address holder,
        bytes4 push,
        bytes32 id,
        uint256 partsAt,
        uint256 partsEnd,
        uint256 balsAt,
        uint256 a
    ) private {
        assembly ("memory-safe") {
            let m := mload(0x40)
            let partsLen := sub(partsEnd, partsAt)
            mstore(m, push)
            mstore(add(m, 0x04), id)
            mstore(add(m, 0x24), 0x60)
            mstore(add(m, 0x44), add(0x60, partsLen))
            calldatacopy(add(m, 0x64), partsAt, partsLen)
            let row := add(balsAt, calldataload(add(balsAt, shl(5, a))))
            let rowLen := shl(5, add(calldataload(row), 1))
            calldatacopy(add(add(m, 0x64), partsLen), row, rowLen)
            if iszero(call(gas(), holder, 0, m, add(add(0x64, partsLen), rowLen), 0, 0)) {
                returndatacopy(m, 0, returndatasize())
                revert(m, returndatasize())
            }
        }
    }

    /// @dev Calls `target` with `data`, bubbling up its revert.
    function _call(address target, bytes memory data) private {
        assembly ("memory-safe") {
            if iszero(call(gas(), target, 0, add(data, 0x20), mload(data), 0, 0)) {
                let m := mload(0x40)
                returndatacopy(m, 0, returndatasize())
                revert(m, returndatasize())
            }
        }
    }

    /// @dev Pushes the outcome `bals` (a registered state's balances with its
    /// sub-channels' added) of a channel with assets `assets`.
    function _pushMemory(
        bytes32 id,
        Channel.Asset[] calldata assets,
        Channel.Participant[] calldata parts,
        uint256[][] memory bals
    ) private {
        ++_pushDepth;
        uint256 assetsAt;
        assembly ("memory-safe") {
            assetsAt := assets.offset
        }
        uint256 n = assets.length;
        for (uint256 a; a < n; ++a) {
            address holder = _holderAt(assetsAt, a);
            if (holder == address(0) || _holderIn(assetsAt, 0, a, holder)) continue;
            uint256[] memory row = bals[a];
            for (uint256 b = a + 1; b < n; ++b) {
                if (_holderAt(assetsAt, b) == holder) _addSaturating(id, row, bals[b]);
            }
            _call(holder, abi.encodeCall(AssetHolder.setOutcome, (id, parts, row)));
        }
        --_pushDepth;
    }

    /// @dev The holder that pays out asset `a` on this chain, or 0 if none does;
    /// `assetsAt` is the calldata position of the assets' first offset word.
    function _holderAt(uint256 assetsAt, uint256 a) private view returns (address holder) {
        assembly ("memory-safe") {
            let asset := add(assetsAt, calldataload(add(assetsAt, shl(5, a))))
            // Asset{chainID, ethHolder, ccHolder}
            if eq(calldataload(asset), chainid()) {
                holder := and(calldataload(add(asset, 0x20)), 0xffffffffffffffffffffffffffffffffffffffff)
            }
        }
    }

    /// @dev Whether an asset with index in [from, to) is paid out by `holder` here.
    function _holderIn(uint256 assetsAt, uint256 from, uint256 to, address holder) private view returns (bool) {
        for (uint256 j = from; j < to; ++j) {
            if (_holderAt(assetsAt, j) == holder) return true;
        }
        return false;
    }

    /// @dev sum[p] += row[p], saturating. Rows of registered states were
    /// shape-checked; a final state's row of another length is refused, as
    /// setOutcome refuses it.
    function _addSaturating(bytes32 id, uint256[] memory sum, uint256[] memory row) private pure {
        uint256 k = sum.length;
        if (row.length != k) revert InvalidAllocationShape(id);
        for (uint256 p; p < k; ++p) {
            unchecked {
                uint256 z = sum[p] + row[p];
                sum[p] = z < row[p] ? type(uint256).max : z;
            }
        }
    }

    // ------------------------------------------------------------- checks

    /// @dev The channel id of `params`, whose encoding ends in calldata at
    /// `paramsEnd` (the next argument's tail), and a check that `state` is of
    /// this channel. Hashed straight from calldata: a wrong region gives an id
    /// that no honest participant ever signed a state for (CalldataHash).
    function _requireChannelID(Channel.Params calldata params, uint256 paramsEnd, Channel.State calldata state)
        private
        pure
        returns (bytes32 id)
    {
        id = CalldataHash.hash(_at(params), paramsEnd);
        if (state.channelID != id) revert InvalidParams(id, state.channelID);
    }

    /// @dev Calldata position of a struct argument's encoding.
    function _at(Channel.Params calldata x) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := x
        }
    }

    function _at(Channel.State calldata x) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := x
        }
    }

    /// @dev Where the encoding of a dynamic array argument starts in calldata
    /// (its length word, just before `.offset`).
    function _tail(bytes[] calldata x) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := sub(x.offset, 0x20)
        }
    }

    function _tail(Channel.State[] calldata x) private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := sub(x.offset, 0x20)
        }
    }

    function _requireAllSigs(bytes32 id, Channel.Params calldata params, bytes32 stateHash, bytes[] calldata sigs)
        private
        view
    {
        Channel.Participant[] calldata parts = params.participants;
        uint256 n = parts.length;
        if (sigs.length != n) revert SignatureCountMismatch(id, n, sigs.length);
        bytes32 digest = Sig.ethSignedDigest(stateHash);
        for (uint256 i; i < n; ++i) {
            if (!Sig.verify(digest, sigs[i], parts[i].ethAddress)) revert InvalidSignature(id, i);
        }
    }

    /// @dev balances is assets x participants and every locked entry has one
    /// total per asset; everything later indexes by these dimensions. Returns
    /// the number of locked entries. Read without the decoder's checks (a third
    /// of their gas): register goes on to check the state's hash against every
    /// participant's signature or the record, which makes the state's region
    /// canonical (CalldataHash), so what was read here is the state's shape.
    function _requireShape(bytes32 id, Channel.Allocation calldata alloc, uint256 nParts)
        private
        pure
        returns (uint256 nLocked)
    {
        bool bad;
        assembly ("memory-safe") {
            // Allocation{assets, backends, balances, locked}: four offset words.
            let nAssets := calldataload(add(alloc, calldataload(alloc)))
            let bals := add(alloc, calldataload(add(alloc, 0x40)))
            bad := iszero(eq(calldataload(bals), nAssets))
            let rows := add(bals, 0x20)
            for { let a := 0 } lt(a, nAssets) { a := add(a, 1) } {
                let row := add(rows, calldataload(add(rows, shl(5, a))))
                bad := or(bad, iszero(eq(calldataload(row), nParts)))
            }
            let locked := add(alloc, calldataload(add(alloc, 0x60)))
            nLocked := calldataload(locked)
            let subs := add(locked, 0x20)
            for { let i := 0 } lt(i, nLocked) { i := add(i, 1) } {
                // SubAlloc{ID, balances, indexMap}
                let entry := add(subs, calldataload(add(subs, shl(5, i))))
                bad := or(bad, iszero(eq(calldataload(add(entry, calldataload(add(entry, 0x20)))), nAssets)))
            }
        }
        if (bad) revert InvalidAllocationShape(id);
    }

    /// @dev progress may redistribute balances but not create, destroy or
    /// re-label funds: same assets, same locked sub-allocations, same sum per
    /// asset, and both balance matrices assets x participants.
    function _requireAssetPreservation(
        bytes32 id,
        Channel.Allocation calldata oldAlloc,
        Channel.Allocation calldata newAlloc,
        uint256 nParts
    ) private pure {
        if (!_eqAssets(oldAlloc.assets, newAlloc.assets)) revert AllocationMismatch(id);
        // The backends belong to the assets: a move that changed them would leave a state whose
        // outcome no participant's client accepts as this channel's (found by a hostile review).
        uint256[] calldata obk = oldAlloc.backends;
        uint256[] calldata nbk = newAlloc.backends;
        if (obk.length != nbk.length) revert AllocationMismatch(id);
        for (uint256 i; i < obk.length; ++i) {
            if (obk[i] != nbk[i]) revert AllocationMismatch(id);
        }
        // abi.encode is injective per type, so equal hashes <=> deep equality.
        if (keccak256(abi.encode(oldAlloc.locked)) != keccak256(abi.encode(newAlloc.locked))) {
            revert AllocationMismatch(id);
        }
        uint256 nAssets = newAlloc.assets.length;
        uint256[][] calldata ob = oldAlloc.balances;
        uint256[][] calldata nb = newAlloc.balances;
        if (ob.length != nAssets || nb.length != nAssets) revert InvalidAllocationShape(id);
        for (uint256 a; a < nAssets; ++a) {
            uint256[] calldata o = ob[a];
            uint256[] calldata b = nb[a];
            if (o.length != nParts || b.length != nParts) revert InvalidAllocationShape(id);
            uint256 sumOld;
            uint256 sumNew;
            for (uint256 p; p < nParts; ++p) {
                sumOld += o[p];
                sumNew += b[p];
            }
            if (sumOld != sumNew) revert BalanceSumMismatch(id, a);
        }
    }

    function _eqAssets(Channel.Asset[] calldata x, Channel.Asset[] calldata y) private pure returns (bool) {
        if (x.length != y.length) return false;
        for (uint256 i; i < x.length; ++i) {
            Channel.Asset calldata ax = x[i];
            Channel.Asset calldata ay = y[i];
            if (ax.chainID != ay.chainID || ax.ethHolder != ay.ethHolder) return false;
            bytes calldata cx = ax.ccHolder;
            bytes calldata cy = ay.ccHolder;
            if (cx.length != cy.length) return false;
            if (cx.length != 0 && keccak256(cx) != keccak256(cy)) return false;
        }
        return true;
    }

    /// @dev Funds a channel distributes for asset `a`: its balances plus its
    /// locked sub-allocations.
    function _total(Channel.Allocation calldata alloc, uint256 a) private pure returns (uint256 sum) {
        uint256[] calldata row = alloc.balances[a];
        for (uint256 p; p < row.length; ++p) {
            sum += row[p];
        }
        Channel.SubAlloc[] calldata locked = alloc.locked;
        for (uint256 i; i < locked.length; ++i) {
            sum += locked[i].balances[a];
        }
    }

    // ------------------------------------------------------------- packing

    /// @dev The reference truncates challengeDuration to uint64; we reject larger
    /// values instead of silently shortening the challenge period.
    function _challengeDuration(bytes32 id, Channel.Params calldata params) private pure returns (uint64) {
        uint256 cd = params.challengeDuration;
        if (cd > type(uint64).max) revert ChallengeDurationTooLarge(id);
        return uint64(cd);
    }

    /// @dev block.timestamp + cd as uint64 (reverts if it does not fit, like the
    /// reference's checked uint64 addition).
    function _later(bytes32 id, uint64 cd) private view returns (uint64) {
        uint256 t = block.timestamp + cd;
        if (t > type(uint64).max) revert ChallengeDurationTooLarge(id);
        return uint64(t);
    }

    function _pack(uint64 timeout, uint64 cd, uint64 version, bool hasApp, uint8 phase)
        private
        pure
        returns (uint256)
    {
        return uint256(timeout) | (uint256(cd) << CD_SHIFT) | (uint256(version) << VERSION_SHIFT)
            | ((hasApp ? uint256(1) : 0) << HAS_APP_SHIFT) | (uint256(phase) << PHASE_SHIFT);
    }

    function _withTimeoutAndPhase(uint256 m, uint64 timeout, uint8 phase) private pure returns (uint256) {
        // Clear timeout (bits 0-63) and phase (bits 200-207), keep the rest.
        uint256 keep = m & ~(uint256(type(uint64).max) | (uint256(0xff) << PHASE_SHIFT));
        return keep | uint256(timeout) | (uint256(phase) << PHASE_SHIFT);
    }

    function _timeout(uint256 m) private pure returns (uint64) {
        return uint64(m);
    }

    function _cd(uint256 m) private pure returns (uint64) {
        return uint64(m >> CD_SHIFT);
    }

    function _version(uint256 m) private pure returns (uint64) {
        return uint64(m >> VERSION_SHIFT);
    }

    function _hasApp(uint256 m) private pure returns (bool) {
        return (m >> HAS_APP_SHIFT) & 1 == 1;
    }

    function _phase(uint256 m) private pure returns (uint8) {
        return uint8(m >> PHASE_SHIFT);
    }
}
