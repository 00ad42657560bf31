/**
 * The channel machine of design.md section 4 (after go-perun `channel/machine.go`), as pure transitions.
 *
 * Phases: InitActing -> InitSigning -> Funding -> Acting <-> Signing -> Final, and the dispute branch
 * Registering -> Registered -> (Progressing -> Progressed)* -> Withdrawing -> Withdrawn.
 *
 * A `Machine` is plain data: params, our participant index, the last fully signed state with every
 * participant's signature, the proposal being signed (if any), the phase and the on-chain dispute.
 * Each transition takes a machine and one event (a user request, a peer message, a chain event, or a
 * tick carrying `now`) and returns a new machine plus effects for the imperative shell to run, in
 * order; keys come in as a `Signer` argument. An invalid event throws a typed error and, the functions
 * being pure, leaves the machine as it was.
 *
 * Effects always put `persist` before any `send` or chain request that depends on the new state
 * (house style rule 5: persist before acting).
 *
 * Concurrent proposals: if both sides propose the same version at once, the proposal of the LOWER
 * participant index wins. The winner ignores the loser's proposal; the loser drops its own (effect
 * `dropped`) and handles the winner's like any proposal. So the two never sign different states of
 * one version.
 */
import type { AppRules } from "./app.js";
import {
  InvalidPhaseError,
  InvalidTransitionError,
  SignerMismatchError,
  UnknownParticipantError,
} from "./errors.js";
import { channelId } from "./hash.js";
import { recoverStateSigner, signState } from "./sig.js";
import type { Signer } from "./signer.js";
import { checkTransition, rulesFor } from "./transition.js";
import type { Hex, Params, State } from "./types.js";
import { ZERO_ADDRESS } from "./types.js";
import { validateParams, validateState } from "./validation.js";

export type Phase =
  | "InitActing"
  | "InitSigning"
  | "Funding"
  | "Acting"
  | "Signing"
  | "Final"
  | "Registering"
  | "Registered"
  | "Progressing"
  | "Progressed"
  | "Withdrawing"
  | "Withdrawn";

/** A state with one signature slot per participant (null = not signed yet). */
export interface SignedState {
  readonly state: State;
  readonly sigs: readonly (Hex | null)[];
}

/** A state being signed, and who proposed it. */
export interface Proposal extends SignedState {
  readonly proposer: number;
}

/** What the chain says about the channel once a dispute started. */
export interface Dispute {
  readonly version: bigint;
  /** Chain time (seconds) after which the registered state may be concluded (or progressed, for apps). */
  readonly timeout: bigint;
  /** The state on chain after `progress`, if any. */
  readonly state: State | null;
}

export interface Machine {
  readonly params: Params;
  readonly channelID: Hex;
  /** Our index in `params.participants`. */
  readonly idx: number;
  readonly phase: Phase;
  /** Last fully signed state; null until the initial state is signed by all. */
  readonly current: SignedState | null;
  readonly pending: Proposal | null;
  readonly dispute: Dispute | null;
}

/** Messages between the participants of one channel. */
export type ChannelMsg =
  | {
      readonly type: "propose";
      readonly channelID: Hex;
      readonly from: number;
      readonly state: State;
      readonly sig: Hex;
    }
  | {
      readonly type: "accept";
      readonly channelID: Hex;
      readonly from: number;
      readonly version: bigint;
      readonly sig: Hex;
    }
  | {
      readonly type: "reject";
      readonly channelID: Hex;
      readonly from: number;
      readonly version: bigint;
      readonly reason: string;
    };

export type Effect =
  /** Write the machine durably before running the effects after this one. */
  | { readonly type: "persist"; readonly machine: Machine }
  | { readonly type: "send"; readonly to: number; readonly msg: ChannelMsg }
  /** A new fully signed state: hand it to the watcher. */
  | { readonly type: "publish"; readonly signed: SignedState }
  /** Our proposal is void (peer rejected it, or it lost the tie-break); tell whoever waits on it. */
  | { readonly type: "dropped"; readonly state: State; readonly reason: string }
  /** Chain requests. */
  | { readonly type: "register"; readonly signed: SignedState }
  | { readonly type: "progress"; readonly state: State; readonly actor: number; readonly sig: Hex }
  | { readonly type: "concludeFinal"; readonly signed: SignedState }
  | { readonly type: "conclude" }
  | { readonly type: "withdraw" };

export interface Transition {
  readonly machine: Machine;
  readonly effects: readonly Effect[];
}

/**
 * A new machine for participant `idx` of a channel with `params` (validated).
 *
 * @example
 * let m = createMachine(params, 0);
 * ({ machine: m } = proposeInit(m, initialState, alice));
 */
export function createMachine(params: Params, idx: number): Machine {
  validateParams(params);
  participantIndex(params, idx);
  return {
    params,
    channelID: channelId(params),
    idx,
    phase: "InitActing",
    current: null,
    pending: null,
    dispute: null,
  };
}

// ---- off-chain protocol ----

/** We propose the initial state (version 0) and sign it. InitActing -> InitSigning. */
export function proposeInit(m: Machine, state: State, signer: Signer, rules?: AppRules): Transition {
  requirePhase(m, "proposeInit", ["InitActing"]);
  checkInit(m, state, rules);
  return propose(m, state, signer, "InitSigning");
}

/** We propose `next` (current version + 1) and sign it. Acting -> Signing. */
export function proposeUpdate(m: Machine, next: State, signer: Signer, rules?: AppRules): Transition {
  requirePhase(m, "proposeUpdate", ["Acting"]);
  const current = requireCurrent(m);
  validateState(next, m.params, m.channelID);
  checkTransition(m.params, m.channelID, current.state, next, m.idx, rules);
  return propose(m, next, signer, "Signing");
}

/** We propose to finalise the channel: the current outcome at version + 1 with isFinal set. */
export function proposeFinal(m: Machine, signer: Signer, rules?: AppRules): Transition {
  requirePhase(m, "proposeFinal", ["Acting"]);
  const current = requireCurrent(m).state;
  return proposeUpdate(m, { ...current, version: current.version + 1n, isFinal: true }, signer, rules);
}

/**
 * A peer proposes `state` signed with `sig`: the initial state (in InitActing) or an update (in Acting).
 * Everything is checked, the peer's signature included. -> InitSigning / Signing, waiting for our
 * decision (`acceptUpdate` or `rejectUpdate`). Handles the concurrent-proposal tie-break.
 */
export function receiveUpdate(
  m: Machine,
  state: State,
  sig: Hex,
  from: number,
  rules?: AppRules,
): Transition {
  peerIndex(m, from);
  const ownConcurrent =
    (m.phase === "InitSigning" || m.phase === "Signing") &&
    m.pending !== null &&
    m.pending.proposer === m.idx &&
    typeof state?.version === "bigint" &&
    state.version === m.pending.state.version;
  if (ownConcurrent && m.idx < from) return { machine: m, effects: [] }; // ours wins; the peer drops its own
  const base: Machine = ownConcurrent
    ? { ...m, phase: m.phase === "Signing" ? "Acting" : "InitActing", pending: null }
    : m;
  requirePhase(base, "receiveUpdate", ["InitActing", "Acting"]);
  validateState(state, m.params, m.channelID);
  if (base.phase === "InitActing") checkInit(base, state, rules);
  else checkTransition(m.params, m.channelID, requireCurrent(base).state, state, from, rules);
  requireSignedBy(m, state, sig, from);
  const sigs: (Hex | null)[] = m.params.participants.map(() => null);
  sigs[from] = sig;
  const machine: Machine = {
    ...base,
    phase: base.phase === "InitActing" ? "InitSigning" : "Signing",
    pending: { state, sigs, proposer: from },
  };
  const effects: Effect[] = [];
  if (ownConcurrent && m.pending !== null) {
    effects.push({
      type: "dropped",
      state: m.pending.state,
      reason: `concurrent proposal of participant ${from} wins`,
    });
  }
  effects.push({ type: "persist", machine });
  return { machine, effects };
}

/** We sign the peer's pending proposal. When every participant has signed, it becomes current. */
export function acceptUpdate(m: Machine, signer: Signer): Transition {
  requirePhase(m, "acceptUpdate", ["InitSigning", "Signing"]);
  const pending = m.pending as Proposal;
  if (pending.proposer === m.idx || pending.sigs[m.idx] !== null) {
    throw new InvalidTransitionError("accept-own", "There is no peer proposal waiting for our signature.");
  }
  const sig = signAs(m, pending.state, signer);
  const sigs = withSig(pending.sigs, m.idx, sig);
  const msg: ChannelMsg = {
    type: "accept",
    channelID: m.channelID,
    from: m.idx,
    version: pending.state.version,
    sig,
  };
  const updated: Machine = { ...m, pending: { ...pending, sigs } };
  return settle(updated, toOthers(m, msg));
}

/** We decline the peer's pending proposal. InitSigning -> InitActing, Signing -> Acting. */
export function rejectUpdate(m: Machine, reason: string): Transition {
  requirePhase(m, "rejectUpdate", ["InitSigning", "Signing"]);
  const pending = m.pending as Proposal;
  if (pending.proposer === m.idx) {
    throw new InvalidTransitionError(
      "reject-own",
      "The pending proposal is ours; there is nothing to reject.",
    );
  }
  const machine: Machine = { ...m, phase: m.phase === "Signing" ? "Acting" : "InitActing", pending: null };
  const msg: ChannelMsg = {
    type: "reject",
    channelID: m.channelID,
    from: m.idx,
    version: pending.state.version,
    reason,
  };
  return { machine, effects: [{ type: "persist", machine }, ...toOthers(m, msg)] };
}

/** A peer signed the pending proposal. When every participant has signed, it becomes current. */
export function receiveAcceptance(m: Machine, sig: Hex, from: number, version?: bigint): Transition {
  requirePhase(m, "receiveAcceptance", ["InitSigning", "Signing"]);
  peerIndex(m, from);
  const pending = m.pending as Proposal;
  if (version !== undefined && version !== pending.state.version) {
    throw new InvalidTransitionError(
      "version",
      `Acceptance is for version ${version}, pending is ${pending.state.version}.`,
    );
  }
  if (pending.sigs[from] !== null) {
    throw new InvalidTransitionError(
      "duplicate-signature",
      `Participant ${from} already signed the pending state.`,
    );
  }
  requireSignedBy(m, pending.state, sig, from);
  return settle({ ...m, pending: { ...pending, sigs: withSig(pending.sigs, from, sig) } }, []);
}

/** A peer declined our pending proposal. Back to InitActing / Acting; effect `dropped`. */
export function receiveRejection(m: Machine, from: number, version: bigint, reason: string): Transition {
  requirePhase(m, "receiveRejection", ["InitSigning", "Signing"]);
  peerIndex(m, from);
  const pending = m.pending as Proposal;
  if (pending.proposer !== m.idx || version !== pending.state.version) {
    throw new InvalidTransitionError(
      "reject-unknown",
      `No proposal of ours at version ${version} to reject.`,
    );
  }
  const machine: Machine = { ...m, phase: m.phase === "Signing" ? "Acting" : "InitActing", pending: null };
  return {
    machine,
    effects: [
      { type: "persist", machine },
      { type: "dropped", state: pending.state, reason: `rejected by participant ${from}: ${reason}` },
    ],
  };
}

/**
 * Re-sync (after a reconnect or restart): a peer's latest fully signed state, with one signature per
 * participant. Every signature is checked. If it is newer than ours, it becomes current (it can only be
 * a state we signed ourselves, so adopting it never costs us anything we did not agree to) and a
 * pending proposal of that version or older is void. If it is exactly our current version, the peer
 * never signed our pending proposal: that proposal is void too. Older states change nothing. In the
 * dispute branch, only the signatures are checked and nothing changes (the chain decides there).
 */
export function receiveSync(m: Machine, state: State, sigs: readonly Hex[], from: number): Transition {
  peerIndex(m, from);
  validateState(state, m.params, m.channelID);
  const n = m.params.participants.length;
  if (sigs.length !== n) {
    throw new InvalidTransitionError(
      "signatures",
      `A synced state needs ${n} signatures, got ${sigs.length}.`,
    );
  }
  for (const [i, sig] of sigs.entries()) requireSignedBy(m, state, sig, i);
  if (!["InitSigning", "Funding", "Acting", "Signing", "Final"].includes(m.phase)) {
    return { machine: m, effects: [] };
  }
  const current = m.current;
  const pending = m.pending;
  const effects: Effect[] = [];
  const newer = current === null || state.version > current.state.version;
  if (!newer && state.version < (current as SignedState).state.version) return { machine: m, effects: [] };
  if (pending !== null && pending.proposer === m.idx) {
    // Newer: our proposal survives only if it is the very state now adopted. Same version as our
    // current: the peer never signed our proposal.
    const adopted =
      newer && pending.state.version === state.version && stateKey(pending.state) === stateKey(state);
    if (!newer || (pending.state.version <= state.version && !adopted)) {
      effects.push({ type: "dropped", state: pending.state, reason: "the peer never signed it (re-sync)" });
    }
  }
  let machine: Machine;
  if (newer) {
    const signed: SignedState = { state, sigs: [...sigs] };
    const phase: Phase = state.isFinal
      ? "Final"
      : m.phase === "InitSigning" || m.phase === "Funding"
        ? "Funding"
        : "Acting";
    machine = { ...m, phase, current: signed, pending: null };
    effects.unshift({ type: "persist", machine }, { type: "publish", signed });
  } else {
    if (pending === null) return { machine: m, effects: [] };
    machine = { ...m, phase: m.phase === "Signing" ? "Acting" : m.phase, pending: null };
    effects.unshift({ type: "persist", machine });
  }
  return { machine, effects };
}

function stateKey(s: State): string {
  return JSON.stringify(s, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
}

/** The funding of the initial state is complete. Funding -> Acting. */
export function funded(m: Machine): Transition {
  requirePhase(m, "funded", ["Funding"]);
  const machine: Machine = { ...m, phase: "Acting" };
  return { machine, effects: [{ type: "persist", machine }] };
}

// ---- settlement and dispute ----

/** Ask the chain to conclude a final state cooperatively (Adjudicator.concludeFinal). Phase stays Final. */
export function concludeFinal(m: Machine): Transition {
  requirePhase(m, "concludeFinal", ["Final"]);
  return { machine: m, effects: [{ type: "concludeFinal", signed: requireCurrent(m) }] };
}

/**
 * We start a dispute: register our latest fully signed state. Any pending proposal is abandoned.
 * -> Registering.
 */
export function register(m: Machine): Transition {
  requirePhase(m, "register", ["Funding", "Acting", "Signing", "Final"]);
  const signed = requireCurrent(m);
  const machine: Machine = { ...m, phase: "Registering", pending: null };
  const effects: Effect[] = [{ type: "persist", machine }];
  if (m.pending !== null && m.pending.proposer === m.idx) {
    effects.push({ type: "dropped", state: m.pending.state, reason: "channel disputed" });
  }
  effects.push({ type: "register", signed });
  return { machine, effects };
}

/**
 * Chain event: a state of `version` was registered, refutable until `timeout`. If we hold a newer
 * fully signed state, we refute by registering it (-> Registering); otherwise -> Registered.
 */
export function registered(m: Machine, version: bigint, timeout: bigint): Transition {
  requirePhase(m, "registered", ["Funding", "Acting", "Signing", "Final", "Registering", "Registered"]);
  const signed = requireCurrent(m);
  const dispute: Dispute = { version, timeout, state: null };
  // Our own proposal is abandoned with the dispute: whoever waits on it must hear so (as in `register`).
  const dropped: Effect[] =
    m.pending !== null && m.pending.proposer === m.idx
      ? [{ type: "dropped", state: m.pending.state, reason: "channel disputed" }]
      : [];
  if (version < signed.state.version) {
    const machine: Machine = { ...m, phase: "Registering", pending: null, dispute };
    return {
      machine,
      effects: [{ type: "persist", machine }, ...dropped, { type: "register", signed }],
    };
  }
  const machine: Machine = { ...m, phase: "Registered", pending: null, dispute };
  return { machine, effects: [{ type: "persist", machine }, ...dropped] };
}

/**
 * Chain time passed the refutation window of the registration of `version` while we were still
 * registering (our refutation did not land in time, or failed): that registration stands.
 * Registering -> Registered, so that the channel can be concluded with it.
 */
export function registrationStands(m: Machine, version: bigint, timeout: bigint): Transition {
  requirePhase(m, "registrationStands", ["Registering"]);
  const machine: Machine = {
    ...m,
    phase: "Registered",
    pending: null,
    dispute: { version, timeout, state: null },
  };
  return { machine, effects: [{ type: "persist", machine }] };
}

/**
 * We advance a registered app channel on chain (Adjudicator.progress) with `next`, signed by us alone.
 * As the Adjudicator allows it: from a registration once its refutation window is over (`now` >=
 * timeout), and from a progression while its time lasts (`now` < timeout; after it, the channel can
 * only be concluded). -> Progressing.
 */
export function progress(m: Machine, next: State, signer: Signer, now: bigint, rules?: AppRules): Transition {
  requirePhase(m, "progress", ["Registered", "Progressed"]);
  const dispute = m.dispute as Dispute;
  if (m.phase === "Registered" ? now < dispute.timeout : now >= dispute.timeout) {
    throw new InvalidTransitionError(
      "timeout",
      m.phase === "Registered"
        ? `Cannot progress before the registration times out at ${dispute.timeout}.`
        : `Cannot progress after the force-execution phase ended at ${dispute.timeout}.`,
      {
        now: `${now}n`,
        timeout: `${dispute.timeout}n`,
      },
    );
  }
  const from = dispute.state ?? requireCurrent(m).state;
  if (from.version !== dispute.version) {
    throw new InvalidTransitionError(
      "version",
      `The chain holds version ${dispute.version} but we hold ${from.version}; cannot progress from it.`,
    );
  }
  rulesFor(m.params, rules);
  validateState(next, m.params, m.channelID);
  checkTransition(m.params, m.channelID, from, next, m.idx, rules);
  const sig = signAs(m, next, signer);
  const machine: Machine = { ...m, phase: "Progressing" };
  return {
    machine,
    effects: [
      { type: "persist", machine },
      { type: "progress", state: next, actor: m.idx, sig },
    ],
  };
}

/**
 * Our progress transaction did not land (it reverted, or never went out): the chain still holds the
 * dispute we progressed from. Progressing -> Registered (from a registration) or Progressed.
 */
export function progressFailed(m: Machine): Transition {
  requirePhase(m, "progressFailed", ["Progressing"]);
  const machine: Machine = { ...m, phase: m.dispute?.state ? "Progressed" : "Registered" };
  return { machine, effects: [{ type: "persist", machine }] };
}

/** Chain event: the channel was progressed to `state` with a new `timeout`. -> Progressed. */
export function progressed(m: Machine, state: State, timeout: bigint): Transition {
  requirePhase(m, "progressed", ["Registered", "Progressing", "Progressed"]);
  const machine: Machine = { ...m, phase: "Progressed", dispute: { version: state.version, timeout, state } };
  return { machine, effects: [{ type: "persist", machine }] };
}

/**
 * When a registered channel may be concluded, as the Adjudicator computes it: the dispute's timeout,
 * plus one challenge duration for an app channel still in its registration (room to progress).
 */
export function concludableAt(m: Machine): bigint {
  const dispute = m.dispute as Dispute;
  const hasApp = m.params.app.toLowerCase() !== ZERO_ADDRESS;
  return m.phase === "Registered" && hasApp ? dispute.timeout + m.params.challengeDuration : dispute.timeout;
}

/** Tick: once the dispute timed out, ask the chain to conclude (Adjudicator.conclude). */
export function conclude(m: Machine, now: bigint): Transition {
  requirePhase(m, "conclude", ["Registered", "Progressed"]);
  const at = concludableAt(m);
  if (now < at) {
    throw new InvalidTransitionError("timeout", `Cannot conclude before ${at}.`, {
      now: `${now}n`,
      timeout: `${at}n`,
    });
  }
  return { machine: m, effects: [{ type: "conclude" }] };
}

/** Chain event: the channel was concluded (by dispute or concludeFinal). -> Withdrawing. */
export function concluded(m: Machine, version: bigint): Transition {
  requirePhase(m, "concluded", ["Final", "Registering", "Registered", "Progressing", "Progressed"]);
  const machine: Machine = {
    ...m,
    phase: "Withdrawing",
    dispute: { timeout: 0n, state: null, ...m.dispute, version },
  };
  return { machine, effects: [{ type: "persist", machine }, { type: "withdraw" }] };
}

/** Chain event: our funds were withdrawn. -> Withdrawn. */
export function withdrawn(m: Machine): Transition {
  requirePhase(m, "withdrawn", ["Withdrawing"]);
  const machine: Machine = { ...m, phase: "Withdrawn" };
  return { machine, effects: [{ type: "persist", machine }] };
}

// ---- helpers ----

function propose(m: Machine, state: State, signer: Signer, phase: Phase): Transition {
  const sig = signAs(m, state, signer);
  const machine: Machine = {
    ...m,
    phase,
    pending: {
      state,
      sigs: withSig(
        m.params.participants.map(() => null),
        m.idx,
        sig,
      ),
      proposer: m.idx,
    },
  };
  const msg: ChannelMsg = { type: "propose", channelID: m.channelID, from: m.idx, state, sig };
  return { machine, effects: [{ type: "persist", machine }, ...toOthers(m, msg)] };
}

/** If the pending proposal is signed by all, it becomes current (and the phase moves on). */
function settle(m: Machine, sends: readonly Effect[]): Transition {
  const pending = m.pending as Proposal;
  if (pending.sigs.some((s) => s === null)) {
    return { machine: m, effects: [{ type: "persist", machine: m }, ...sends] };
  }
  const signed: SignedState = { state: pending.state, sigs: pending.sigs };
  const phase: Phase = pending.state.isFinal ? "Final" : m.phase === "InitSigning" ? "Funding" : "Acting";
  const machine: Machine = { ...m, phase, current: signed, pending: null };
  return { machine, effects: [{ type: "persist", machine }, { type: "publish", signed }, ...sends] };
}

function checkInit(m: Machine, state: State, rules: AppRules | undefined): void {
  validateState(state, m.params, m.channelID);
  if (state.version !== 0n) {
    throw new InvalidTransitionError("version", `Initial state must have version 0, got ${state.version}.`);
  }
  if (state.isFinal) throw new InvalidTransitionError("final", "Initial state must not be final.");
  const r = rulesFor(m.params, rules);
  const verdict = r.validInit?.(m.params, state) ?? { valid: true };
  if (!verdict.valid) {
    throw new InvalidTransitionError("app", `App rejects the initial state: ${verdict.reason}.`, {
      reason: verdict.reason,
    });
  }
}

function signAs(m: Machine, state: State, signer: Signer): Hex {
  const own = (m.params.participants[m.idx] as Params["participants"][number]).ethAddress;
  if (signer.address.toLowerCase() !== own.toLowerCase()) {
    throw new SignerMismatchError(`our signer for participant ${m.idx}`, own, signer.address);
  }
  return signState(state, signer);
}

function requireSignedBy(m: Machine, state: State, sig: Hex, from: number): void {
  const expected = (m.params.participants[from] as Params["participants"][number]).ethAddress;
  const recovered = recoverStateSigner(state, sig);
  if (recovered.toLowerCase() !== expected.toLowerCase()) {
    throw new SignerMismatchError(`state version ${state.version}`, expected, recovered);
  }
}

function requirePhase(m: Machine, event: string, allowed: readonly Phase[]): void {
  if (!allowed.includes(m.phase)) throw new InvalidPhaseError(event, m.phase, allowed);
}

function requireCurrent(m: Machine): SignedState {
  if (m.current === null)
    throw new InvalidPhaseError("use the current state", m.phase, ["a phase after init"]);
  return m.current;
}

function participantIndex(params: Params, idx: number): void {
  if (!Number.isInteger(idx) || idx < 0 || idx >= params.participants.length) {
    throw new UnknownParticipantError(idx, params.participants.length);
  }
}

function peerIndex(m: Machine, from: number): void {
  participantIndex(m.params, from);
  if (from === m.idx) {
    throw new InvalidTransitionError("peer", `A peer message claims to come from our own index ${from}.`);
  }
}

function withSig(sigs: readonly (Hex | null)[], idx: number, sig: Hex): (Hex | null)[] {
  const out = [...sigs];
  out[idx] = sig;
  return out;
}

function toOthers(m: Machine, msg: ChannelMsg): Effect[] {
  const out: Effect[] = [];
  for (let i = 0; i < m.params.participants.length; i++)
    if (i !== m.idx) out.push({ type: "send", to: i, msg });
  return out;
}
