/**
 * The client's decisions that are not channel rules, as pure functions over plain data (the rules
 * themselves are in src/channel/: machine, policy, virtual). The roles read the world (store, chain,
 * clock), ask one of these what to do, and carry it out; each is tested here without I/O
 * (./decisions.test.ts).
 */
import { DisputePhase } from "../chain/adjudicator.js";
import { hashState } from "../channel/hash.js";
import { concludableAt, type Machine } from "../channel/machine.js";
import type { Address, Hex, State } from "../channel/types.js";
import { diffLocked, intermediaryLocksMatch, type LedgerUpdate } from "../channel/virtual.js";
import type { Decision } from "./types.js";

export type DepositStep =
  | { readonly kind: "send"; readonly asset: number; readonly amount: bigint }
  /** A deposit of ours was sent before (a restart came between): never send it twice. */
  | { readonly kind: "pending"; readonly asset: number };

/**
 * Which of our deposits to send, per asset: what is missing of `want` given `have` on chain, unless a
 * deposit of that asset was already sent (`sent`) and may still be pending: an excess deposit would be
 * lost on conclusion, a missing one only delays funding until the deadline recovers ours.
 */
export function depositsToSend(input: {
  readonly want: readonly bigint[];
  readonly have: readonly bigint[];
  readonly sent: readonly boolean[];
}): DepositStep[] {
  const steps: DepositStep[] = [];
  input.want.forEach((want, asset) => {
    const have = input.have[asset] ?? 0n;
    if (have >= want) return;
    steps.push(input.sent[asset] ? { kind: "pending", asset } : { kind: "send", asset, amount: want - have });
  });
  return steps;
}

export type ChainDuty = "conclude" | "retryRegistration" | "withdraw" | "concludeFinal" | null;

/**
 * What a clock tick asks of the chain for one channel: conclude a dispute whose timeout passed (a
 * virtual channel is concluded through its ledger channels, never by itself), send a registration that
 * has not shown up again, withdraw after a conclusion, or conclude a final state the peer left
 * unconcluded for longer than `graceMs` (our own since `finalAt`).
 */
export function chainDuty(
  m: Machine,
  now: bigint,
  clock: { readonly nowMs: number; readonly finalAtMs: number; readonly graceMs: number },
): ChainDuty {
  if ((m.phase === "Registered" || m.phase === "Progressed") && m.dispute && now >= concludableAt(m)) {
    return m.params.virtualChannel ? null : "conclude";
  }
  if (m.phase === "Registering") return m.params.virtualChannel ? null : "retryRegistration";
  if (m.phase === "Withdrawing") return "withdraw";
  if (m.phase === "Final" && clock.finalAtMs > 0 && clock.nowMs - clock.finalAtMs > clock.graceMs) {
    return "concludeFinal";
  }
  return null;
}

/**
 * Whether participant `idx` sends a transaction both members would send now: participant 0 at once,
 * participant 1 only `backoffMs` after it first found it due (`seenAtMs`, undefined the first time), so
 * that usually one transaction goes out, not two of which one reverts.
 */
export function chainTurn(
  idx: number,
  seenAtMs: number | undefined,
  nowMs: number,
  backoffMs: number,
): "send" | "wait" {
  if (idx === 0) return "send";
  if (seenAtMs === undefined) return "wait";
  return nowMs - seenAtMs < backoffMs ? "wait" : "send";
}

/**
 * When a registered (sub-)channel may be concluded: its timeout, plus one challenge duration for an
 * app channel still in DISPUTE (room for progress), as the Adjudicator's `conclude` computes it.
 */
export function subChannelConcludableAt(d: {
  readonly timeout: bigint;
  readonly challengeDuration: bigint;
  readonly hasApp: boolean;
  readonly phase: number;
}): bigint {
  return d.phase === DisputePhase.DISPUTE && d.hasApp ? d.timeout + d.challengeDuration : d.timeout;
}

/** An intermediary's fee in a lock is at least the one the path agreed on (first asset, as the terms). */
export function feeCovers(fee: readonly bigint[], agreed: readonly bigint[]): Decision {
  return (fee[0] ?? 0n) < (agreed[0] ?? 0n)
    ? { accept: false, reason: `fee ${fee[0]} below the agreed ${agreed[0]}` }
    : { accept: true };
}

/**
 * The last intermediary of a path holds both lock proposals (from her left neighbour and from Bob)
 * and signs both or neither: exactly when together they net her the agreed fee whatever V's outcome.
 */
export function lastIntermediaryDecision(
  left: LedgerUpdate,
  right: LedgerUpdate,
  vInitial: State,
  intermediary: Address,
  agreedFee: readonly bigint[],
): Decision {
  const verdict = intermediaryLocksMatch(left, right, vInitial, intermediary, agreedFee);
  return verdict.valid ? feeCovers(verdict.fee, agreedFee) : { accept: false, reason: verdict.reason };
}

/**
 * Whether we may forget a virtual channel's context and final state: none of our ledger channels locks
 * it (in its current or a pending state, nor in a held proposal), and it ended: its final state is
 * known (it was unlocked everywhere), or it expired more than `graceSeconds` ago without any lock of
 * ours (a path whose locks were refused).
 */
export function virtualRecordsEnded(v: {
  readonly lockedAnywhere: boolean;
  readonly finalKnown: boolean;
  readonly expiry: bigint | undefined;
  readonly now: bigint;
  readonly graceSeconds: bigint;
}): boolean {
  if (v.lockedAnywhere) return false;
  if (v.finalKnown) return true;
  return v.expiry !== undefined && v.now >= v.expiry + v.graceSeconds;
}

/** What the chain holds of a channel, as far as these decisions need it. */
export interface OnChainRecord {
  readonly phase: number;
  readonly version: bigint;
  readonly timeout: bigint;
  readonly stateHash: Hex;
}

/**
 * The state of a sub-channel to register with its parent, from the signed states we know of it
 * (newest first): our newest, unless the chain already holds a state of it that can no longer be
 * refuted; then exactly that one (or the registration would fail), undefined if we do not know it.
 */
export function subStateToRegister<S extends { readonly state: State }>(
  known: readonly S[],
  onChain: OnChainRecord | undefined,
  now: bigint,
): S | undefined {
  const newest = known[0];
  if (!onChain) return newest;
  const refutable = onChain.phase === DisputePhase.DISPUTE && now < onChain.timeout;
  if (newest && refutable && newest.state.version > onChain.version) return newest;
  return known.find((k) => hashState(k.state) === onChain.stateHash);
}

/**
 * Whether registering `version` of a channel (with sub-channels whose on-chain versions are given
 * next to ours) changes anything on chain: not if it is concluded, and not if it holds this version
 * or a newer one while no sub-channel of it holds a stale state (~79k gas saved per registration).
 */
export function registrationChangesChain(
  onChain: Pick<OnChainRecord, "phase" | "version"> | undefined,
  version: bigint,
  subs: readonly {
    readonly onChain: Pick<OnChainRecord, "phase" | "version"> | undefined;
    readonly ours: bigint;
  }[],
): boolean {
  if (!onChain) return true;
  if (onChain.phase === DisputePhase.CONCLUDED) return false;
  if (onChain.version < version) return true;
  return subs.some((s) => s.onChain?.phase === DisputePhase.DISPUTE && s.onChain.version < s.ours);
}

/**
 * How long to wait before delivering an unanswered update again, after `attempt` earlier attempts:
 * doubling from `baseMs` up to `maxMs`, so a hub that comes back is not hit by every peer at once
 * forever, and a peer that comes back is found within `maxMs`.
 */
export function redeliveryDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
}

/**
 * Whether `next` locks or unlocks a sub-channel against `current` (added, removed, or changed in
 * place): such an update goes through the lock protocol (held, decided, re-proposed by its own loop),
 * not through the plain update path nor its redelivery.
 */
export function changesLocks(current: State, next: State): boolean {
  const { added, removed } = diffLocked(current.outcome.locked, next.outcome.locked);
  return added.length + removed.length > 0;
}

/**
 * The state a channel's view shows: our newest fully signed state or, once the chain holds a newer
 * version (the peer registered or concluded the final state we proposed and it signed, while our
 * side went to dispute), that version's state when we know it. The view must not keep showing a
 * version the chain overruled.
 */
export function shownState(m: Machine): State | null {
  const cur = m.current?.state ?? null;
  const d = m.dispute;
  if (d === null || (cur !== null && d.version <= cur.version)) return cur;
  for (const s of [d.state, m.pending?.state]) if (s && s.version === d.version) return s;
  return cur;
}
