/**
 * The signing policy (design.md section 7): before our node signs, funds, stores or relays anything a
 * peer or a local caller handed it, one of these pure functions says whether it may, and if not, which
 * rule refuses and why. They check what signing *commits us to*, not only the form (the form is the
 * job of validation.ts, transition.ts and the wire codec, which run first):
 *
 * - a ledger channel (ours or a peer's proposal): two parties, no unknown app, assets only from the
 *   configured asset holders of the connected chain and each at most once, an initial state that
 *   locks nothing, challenge duration and funding timeout within bounds that leave an online node time
 *   to refute (minutes on Ethereum mainnet, not seconds), and at most `maxDeposit` of ours in a peer's
 *   proposal (`checkLedgerChannel`);
 * - a virtual channel V as its end (`checkVirtualChannel`): V's own parameters bounded the same way,
 *   a validity that ends, our share capped;
 * - an update: never one that lowers our balance unless configured (`checkUpdate`; the machine itself
 *   refuses a final state that still locks funds, see transition.ts);
 * - a lock of V as intermediary (`checkIntermediaryLock`): V bounded, within the rental the terms
 *   allow and paid for, and locked only in ledger channels whose challenge durations leave V's dispute
 *   its full duration (the staircase: every ledger channel that locks V lasts at least as long as V,
 *   and towards Alice by a margin longer than towards Bob);
 * - a relayed message (`checkPathSender`): only from our neighbour on V's path.
 *
 * Defaults (`signingPolicy`) are safe on Ethereum mainnet; a development chain lowers them in its config.
 * Every refusal names its rule (`PolicyRule`), so that logs, errors and tests can say which one.
 */
import { PerunError } from "../errors.js";
import { type RentalTerms, rentalFee } from "./fees.js";
import type { Address, Asset, Params, State } from "./types.js";
import { ZERO_ADDRESS } from "./types.js";

/** An inclusive range of seconds. */
export interface Bounds {
  readonly min: bigint;
  readonly max: bigint;
}

export interface SigningPolicy {
  /** Chain id of the chain we are connected to: every asset must live there. */
  readonly chainId: bigint;
  /** The asset holders we deposit into and accept in channels (any case). */
  readonly assetHolders: readonly Address[];
  /** Challenge duration of every channel we sign (ledger and virtual), seconds. */
  readonly challengeDuration: Bounds;
  /** Time both parties have to deposit after a ledger channel's initial state is signed, seconds. */
  readonly fundingTimeout: Bounds;
  /**
   * The most we put into one channel a peer proposes (a ledger channel: our deposit; a virtual channel:
   * our share, taken from our ledger channel), per asset holder (lower case). A holder not listed: 0.
   */
  readonly maxDeposit: Readonly<Record<string, bigint>>;
  /** Longest validity (expiry - now) of a virtual channel we accept as its end, seconds. */
  readonly virtualSeconds: bigint;
  /**
   * As a middle intermediary of a path: how much longer (seconds) our ledger channel towards Alice
   * must last than the one towards Bob, so that we learn in time whether our lock towards Bob holds.
   */
  readonly challengeMargin: bigint;
  /** Signing updates that lower our balance: "gains-only" refuses them, "all" signs any valid update. */
  readonly updates: "gains-only" | "all";
  /** App contracts whose rules we have (lower case), besides the zero address (payments). */
  readonly apps: readonly Address[];
}

/** What the caller must give; everything else defaults to values safe on Ethereum mainnet. */
export type SigningPolicyInput = Pick<SigningPolicy, "chainId" | "assetHolders"> &
  Partial<Omit<SigningPolicy, "chainId" | "assetHolders">>;

/**
 * Defaults: a refutation on Ethereum mainnet may need many minutes under congestion, so a channel's
 * challenge duration is at least an hour (and at most a week: a dispute locks funds that long); both
 * parties get at least 5 minutes and at most a day to deposit; we deposit nothing into channels peers
 * propose unless told how much (`maxDeposit`); a virtual channel lives at most 30 days; a middle
 * intermediary needs 10 minutes between her two challenge durations.
 */
export const POLICY_DEFAULTS = {
  challengeDuration: { min: 3_600n, max: 7n * 86_400n },
  fundingTimeout: { min: 300n, max: 86_400n },
  virtualSeconds: 30n * 86_400n,
  challengeMargin: 600n,
  updates: "gains-only",
} as const;

/**
 * Bounds for a development chain (an embedded EVM, `hardhat node`, anvil) where blocks come at once
 * and time moves when a test says so: seconds instead of hours. Never on a public chain.
 */
export const DEV_CHAIN_BOUNDS = {
  challengeDuration: { min: 1n, max: 30n * 86_400n },
  fundingTimeout: { min: 1n, max: 86_400n },
  challengeMargin: 60n,
} as const;

/**
 * A policy for a development chain: `DEV_CHAIN_BOUNDS`, the given asset holders, and deposits up to
 * `maxDeposit` each into channels peers propose. For demos, benchmarks and tests.
 */
export function devChainPolicy(
  chainId: bigint | number,
  assetHolders: readonly Address[],
  maxDeposit: bigint = 10n ** 30n,
): SigningPolicy {
  return signingPolicy({
    chainId: BigInt(chainId),
    assetHolders,
    ...DEV_CHAIN_BOUNDS,
    maxDeposit: Object.fromEntries(assetHolders.map((h) => [h, maxDeposit])),
  });
}

/** A policy with the defaults filled in; throws `InvalidPolicyError` on a policy that makes no sense. */
export function signingPolicy(input: SigningPolicyInput): SigningPolicy {
  const p: SigningPolicy = {
    chainId: input.chainId,
    assetHolders: input.assetHolders.map((h) => h.toLowerCase() as Address),
    challengeDuration: input.challengeDuration ?? POLICY_DEFAULTS.challengeDuration,
    fundingTimeout: input.fundingTimeout ?? POLICY_DEFAULTS.fundingTimeout,
    maxDeposit: Object.fromEntries(
      Object.entries(input.maxDeposit ?? {}).map(([h, v]) => [h.toLowerCase(), v]),
    ),
    virtualSeconds: input.virtualSeconds ?? POLICY_DEFAULTS.virtualSeconds,
    challengeMargin: input.challengeMargin ?? POLICY_DEFAULTS.challengeMargin,
    updates: input.updates ?? POLICY_DEFAULTS.updates,
    apps: (input.apps ?? []).map((a) => a.toLowerCase() as Address),
  };
  for (const [name, b] of [
    ["challengeDuration", p.challengeDuration],
    ["fundingTimeout", p.fundingTimeout],
  ] as const) {
    // A challenge duration must fit the contract's uint64 (plus a block time); 0 would let a stale
    // state be concluded before anyone can answer.
    if (b.min < 1n || b.max < b.min || b.max > MAX_SECONDS) {
      throw new InvalidPolicyError(name, `1 <= min <= max <= ${MAX_SECONDS}`, `${b.min}..${b.max}`);
    }
  }
  if (p.virtualSeconds < 1n || p.virtualSeconds > MAX_SECONDS) {
    throw new InvalidPolicyError("virtualSeconds", `1..${MAX_SECONDS}`, `${p.virtualSeconds}`);
  }
  if (p.challengeMargin < 0n || p.challengeMargin > MAX_SECONDS) {
    throw new InvalidPolicyError("challengeMargin", `0..${MAX_SECONDS}`, `${p.challengeMargin}`);
  }
  for (const [h, v] of Object.entries(p.maxDeposit)) {
    if (v < 0n) throw new InvalidPolicyError(`maxDeposit.${h}`, "a non-negative amount", `${v}`);
  }
  return p;
}

/**
 * Longest duration any bound may allow: 2^32 s (136 years). Far below uint64, so that block time plus
 * a duration never overflows on chain (`ChallengeDurationTooLarge` would lock the channel for good).
 */
export const MAX_SECONDS = 1n << 32n;

/** The rule a refusal comes from: stable names for logs, errors and tests. */
export type PolicyRule =
  | "participants"
  | "channel-kind"
  | "app"
  | "challenge-duration"
  | "funding-timeout"
  | "asset-count"
  | "asset-chain"
  | "asset-holder"
  | "asset-duplicate"
  | "asset-backend"
  | "initial-state"
  | "deposit-cap"
  | "virtual-expiry"
  | "gains-only"
  | "rental-duration"
  | "fee"
  | "staircase"
  | "challenge-margin"
  | "sender";

export type Verdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly rule: PolicyRule; readonly reason: string };

const OK: Verdict = { ok: true };
const refuse = (rule: PolicyRule, reason: string): Verdict => ({ ok: false, rule, reason });

/** Our node's policy refused a proposal, update, lock or message. */
export class PolicyRefusedError extends PerunError {
  readonly rule: PolicyRule;
  constructor(rule: PolicyRule, reason: string) {
    super("POLICY_REFUSED", `Refused by our signing policy (${rule}): ${reason}.`, {
      details: { rule, reason },
      hint: "See docs/security.md for the rules; a development chain may relax the bounds in the node's policy config.",
    });
    this.rule = rule;
  }
}

/** Throws `PolicyRefusedError` for a refusal. */
export function enforce(v: Verdict): void {
  if (!v.ok) throw new PolicyRefusedError(v.rule, v.reason);
}

/** A policy that makes no sense (e.g. min > max). */
export class InvalidPolicyError extends PerunError {
  constructor(field: string, expected: string, got: string) {
    super("INVALID_POLICY", `Invalid signing policy ${field}: expected ${expected}, got ${got}.`, {
      details: { field, expected, got },
    });
  }
}

/** A ledger channel as proposed: by us (`ours` = true) or by a peer, with us at index `idx`. */
export interface LedgerChannelRequest {
  readonly params: Params;
  readonly initial: State;
  readonly fundingTimeout: bigint;
  readonly idx: number;
  /** Our own proposal (the deposit is the user's choice) or a peer's (capped by `maxDeposit`). */
  readonly ours: boolean;
}

/**
 * Whether we may sign the initial state of a ledger channel and deposit our share of it. Expects
 * params and state that passed validation (validateParams / validateState).
 */
export function checkLedgerChannel(policy: SigningPolicy, r: LedgerChannelRequest): Verdict {
  const { params, initial } = r;
  if (params.participants.length !== 2) {
    return refuse("participants", `a channel has two participants, not ${params.participants.length}`);
  }
  if (!params.ledgerChannel || params.virtualChannel) {
    return refuse("channel-kind", "a ledger channel must have ledgerChannel set and virtualChannel unset");
  }
  const app = appVerdict(policy, params.app);
  if (!app.ok) return app;
  const cd = bounded(
    "challenge-duration",
    "challenge duration",
    params.challengeDuration,
    policy.challengeDuration,
  );
  if (!cd.ok) return cd;
  const ft = bounded("funding-timeout", "funding timeout", r.fundingTimeout, policy.fundingTimeout);
  if (!ft.ok) return ft;
  const assets = assetsVerdict(policy, initial.outcome.assets, initial.outcome.backends);
  if (!assets.ok) return assets;
  // A locked sub-allocation at version 0 names a channel nobody funded: registering the channel would
  // need a signed state of it, so the deposits could never be concluded.
  if (initial.version !== 0n || initial.isFinal || initial.outcome.locked.length > 0) {
    return refuse("initial-state", "the initial state must be version 0, not final, and lock nothing");
  }
  return r.ours ? OK : capVerdict(policy, initial, r.idx, "deposit");
}

/** A virtual channel V as its end sees it: proposed by us or by the peer, with us at `idx`. */
export interface VirtualChannelRequest {
  readonly params: Params;
  readonly initial: State;
  readonly expiry: bigint;
  /** Chain time now. */
  readonly now: bigint;
  readonly idx: number;
  readonly ours: boolean;
  /** Challenge duration of our ledger channel that is to lock V. */
  readonly ledgerChallenge: bigint;
}

/** Whether we may sign V's initial state as one of its ends (and lock our share in our ledger channel). */
export function checkVirtualChannel(policy: SigningPolicy, r: VirtualChannelRequest): Verdict {
  const shape = virtualShape(policy, r.params, r.initial);
  if (!shape.ok) return shape;
  const stairs = staircase("our ledger channel", r.ledgerChallenge, r.params.challengeDuration);
  if (!stairs.ok) return stairs;
  if (r.expiry <= r.now) return refuse("virtual-expiry", `it expired at ${r.expiry} (now ${r.now})`);
  if (r.expiry - r.now > policy.virtualSeconds) {
    return refuse(
      "virtual-expiry",
      `it would live ${r.expiry - r.now} s, longer than our limit of ${policy.virtualSeconds} s`,
    );
  }
  return r.ours ? OK : capVerdict(policy, r.initial, r.idx, "share");
}

/** A proposed update of a channel we are in, with what it changes for us. */
export interface UpdateRequest {
  /** What we gain (positive) or lose (negative) per asset. */
  readonly delta: readonly bigint[];
  /**
   * The channel runs an app and the update is a move its rules allow the proposer: what the peer
   * could force on chain (register, then progress), so refusing it only moves the game there.
   */
  readonly appMove?: boolean;
}

/**
 * Whether we may sign a peer's update (after the machine checked it is a valid transition, which
 * includes: a final state locks nothing). Locks and unlocks of virtual channels are decided by
 * `checkIntermediaryLock` and the unlock rules, not here.
 */
export function checkUpdate(policy: SigningPolicy, u: UpdateRequest): Verdict {
  if (policy.updates === "all" || u.appMove === true) return OK;
  const lost = u.delta.findIndex((d) => d < 0n);
  return lost < 0
    ? OK
    : refuse("gains-only", `it lowers our balance of asset ${lost} by ${-(u.delta[lost] as bigint)}`);
}

/** An intermediary's lock of V in one of her two ledger channels on V's path. */
export interface IntermediaryLockRequest {
  readonly vParams: Params;
  readonly vInitial: State;
  readonly expiry: bigint;
  readonly now: bigint;
  readonly terms: RentalTerms;
  /** The fee the path pays us, per asset. */
  readonly fee: readonly bigint[];
  /** Challenge durations of our ledger channel towards Alice (left) and towards Bob (right). */
  readonly leftChallenge: bigint;
  readonly rightChallenge: bigint;
  /** Whether we are the last intermediary (we sign both locks at once: no margin needed). */
  readonly last: boolean;
}

/**
 * Whether an intermediary may lock V (the matching of her two locks is `intermediaryLocksMatch`).
 * The staircase: a ledger channel registered with V concludes after its own challenge duration, and
 * (with the reference contracts) settles V with whatever state of V is registered by then; lasting at
 * least as long as V gives everyone V's full challenge duration to refute a stale state of V.
 */
export function checkIntermediaryLock(policy: SigningPolicy, r: IntermediaryLockRequest): Verdict {
  const shape = virtualShape(policy, r.vParams, r.vInitial);
  if (!shape.ok) return shape;
  if (r.expiry <= r.now) return refuse("virtual-expiry", `the virtual channel expired at ${r.expiry}`);
  const seconds = r.expiry - r.now;
  if (seconds > r.terms.maxDurationSeconds) {
    return refuse(
      "rental-duration",
      `a rental of ${seconds} s exceeds our maximum of ${r.terms.maxDurationSeconds} s`,
    );
  }
  const collateral = r.vInitial.outcome.balances.reduce((s, row) => s + (row[0] ?? 0n) + (row[1] ?? 0n), 0n);
  const wanted = rentalFee(r.terms, collateral, seconds);
  const paid = r.fee[0] ?? 0n;
  if (paid < wanted) return refuse("fee", `fee ${paid} below our terms (${wanted})`);
  for (const [side, t] of [
    ["our ledger channel towards Alice", r.leftChallenge],
    ["our ledger channel towards Bob", r.rightChallenge],
  ] as const) {
    const stairs = staircase(side, t, r.vParams.challengeDuration);
    if (!stairs.ok) return stairs;
  }
  if (!r.last && r.leftChallenge < r.rightChallenge + policy.challengeMargin) {
    return refuse(
      "challenge-margin",
      `our ledger channel towards Alice needs a challenge duration at least ${policy.challengeMargin} s longer than the one towards Bob (${r.leftChallenge} s, ${r.rightChallenge} s): a dispute of it could otherwise end before we know whether our lock towards Bob is signed`,
    );
  }
  return OK;
}

/**
 * Whether a message about V (its context, its final state) from `from` may be stored or acted on by
 * us: only a neighbour of ours on V's path has a role in handing it over.
 */
export function checkPathSender(path: readonly Address[], self: Address, from: Address): Verdict {
  const me = path.findIndex((a) => same(a, self));
  if (me < 0) return refuse("sender", "we are not on the virtual channel's path");
  if (!same(path[me - 1], from) && !same(path[me + 1], from)) {
    return refuse("sender", `${from} is not our neighbour on the virtual channel's path`);
  }
  return OK;
}

// --- helpers ---

function bounded(rule: PolicyRule, what: string, v: bigint, b: Bounds): Verdict {
  if (v < b.min || v > b.max) return refuse(rule, `${what} ${v} s is outside ${b.min}..${b.max} s`);
  return OK;
}

/** A ledger channel that locks V must last at least as long as V's own challenge duration. */
function staircase(which: string, ledger: bigint, virtual: bigint): Verdict {
  if (ledger >= virtual) return OK;
  return refuse(
    "staircase",
    `${which} has a challenge duration of ${ledger} s, shorter than the virtual channel's ${virtual} s: registered with a stale state of it, it could conclude before that state can be refuted`,
  );
}

function appVerdict(policy: SigningPolicy, app: Address): Verdict {
  if (app.toLowerCase() === ZERO_ADDRESS || policy.apps.includes(app.toLowerCase() as Address)) return OK;
  return refuse("app", `app ${app} is not one whose rules we have`);
}

/**
 * Assets: at least one; each on our chain (an asset of another chain is not paid out here: the
 * deposits would be refunded and every payment received lost), at a configured holder (a holder the
 * peer deployed could simply keep our deposit), each holder at most once (the second outcome push
 * would fail for a shared funding slot), backend 0 (Ethereum).
 */
function assetsVerdict(
  policy: SigningPolicy,
  assets: readonly Asset[],
  backends: readonly bigint[],
): Verdict {
  if (assets.length === 0) return refuse("asset-count", "a channel needs at least one asset");
  const seen = new Set<string>();
  for (const [i, a] of assets.entries()) {
    if (a.chainID !== policy.chainId) {
      return refuse("asset-chain", `asset ${i} is on chain ${a.chainID}, not on our chain ${policy.chainId}`);
    }
    const holder = a.ethHolder.toLowerCase();
    if (!policy.assetHolders.includes(holder as Address)) {
      return refuse("asset-holder", `asset ${i} is held by ${a.ethHolder}, not by one of our asset holders`);
    }
    if (seen.has(holder)) return refuse("asset-duplicate", `asset ${i} (${a.ethHolder}) is listed twice`);
    seen.add(holder);
    if (backends[i] !== 0n)
      return refuse("asset-backend", `asset ${i} has backend ${backends[i]}, not 0 (Ethereum)`);
  }
  return OK;
}

function capVerdict(policy: SigningPolicy, initial: State, idx: number, what: string): Verdict {
  for (const [a, asset] of initial.outcome.assets.entries()) {
    const ours = initial.outcome.balances[a]?.[idx] ?? 0n;
    const cap = policy.maxDeposit[asset.ethHolder.toLowerCase()] ?? 0n;
    if (ours > cap) {
      return refuse("deposit-cap", `our ${what} of asset ${a} would be ${ours}, more than our cap of ${cap}`);
    }
  }
  return OK;
}

/** V's params and state: a two-party virtual channel (no app, or one we know) with bounded challenge duration and valid assets. */
function virtualShape(policy: SigningPolicy, params: Params, initial: State): Verdict {
  if (params.participants.length !== 2) {
    return refuse(
      "participants",
      `a virtual channel has two participants, not ${params.participants.length}`,
    );
  }
  if (!params.virtualChannel || params.ledgerChannel) {
    return refuse("channel-kind", "a virtual channel must have virtualChannel set and ledgerChannel unset");
  }
  // A virtual state channel runs an app whose rules we have, as a ledger channel (V has one record on
  // chain, which both parents conclude with: no outcome can diverge between them).
  const app = appVerdict(policy, params.app);
  if (!app.ok) return app;
  const cd = bounded(
    "challenge-duration",
    "challenge duration",
    params.challengeDuration,
    policy.challengeDuration,
  );
  if (!cd.ok) return cd;
  const assets = assetsVerdict(policy, initial.outcome.assets, initial.outcome.backends);
  if (!assets.ok) return assets;
  const payment = params.app.toLowerCase() === ZERO_ADDRESS;
  if (
    initial.version !== 0n ||
    initial.isFinal ||
    initial.outcome.locked.length > 0 ||
    (payment && initial.appData !== "0x")
  ) {
    return refuse(
      "initial-state",
      "V's initial state must be version 0, not final, lock nothing and (a payment channel) carry no app data",
    );
  }
  return OK;
}

function same(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}
