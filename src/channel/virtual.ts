/**
 * Virtual channels (design.md section 5), pure core: building V's params and initial state, locking V
 * in a ledger channel, unlocking it with V's final state, and the checks a ledger peer (in particular
 * an intermediary) applies before signing such an update.
 *
 * Model: V has two participants, V.alice (index 0) and V.bob (index 1), and is funded by a SubAlloc in
 * each ledger channel on its path. In a ledger channel the `left` participant fronts V.alice's share
 * and the `right` participant V.bob's share; the SubAlloc locks V's total per asset with
 * indexMap = [left, right], so on conclusion (off chain by `unlockFromLedger`, on chain by the
 * Adjudicator) V.alice's final share goes to `left` and V.bob's to `right`. An optional fee moves from
 * a payer to a payee in the same update (the rent for the line, see `fees.ts`, `path.ts`).
 *
 * Why an intermediary cannot lose (see `intermediaryLocksMatch`): in the ledger to her left she fronts
 * V.bob's share b and gets back V.bob's final share b'; in the one to her right she fronts a and gets
 * back a'. Her net is b' - b + a' - a + fee = (a' + b') - (a + b) + fee = fee, since V conserves its
 * total. The check below derives this from the indexMaps themselves rather than trusting roles.
 *
 * Nothing here checks signatures: callers pass states whose signatures they verified (V's final state
 * signed by Alice and Bob, or V's outcome as concluded on chain).
 */
import { assertAllocationConsistent, assertConserved, assertSameAssets, assetTotals } from "./allocation.js";
import {
  InsufficientBalanceError,
  InvalidFieldError,
  InvalidTransitionError,
  UnknownParticipantError,
} from "./errors.js";
import { channelId } from "./hash.js";
import { isHex } from "./hex.js";
import type { Address, Asset, Hex, Params, Participant, State, SubAlloc } from "./types.js";
import { MAX_UINT64, MAX_UINT256, ZERO_ADDRESS } from "./types.js";
import {
  InvalidVirtualChannelError,
  LockMismatchError,
  SubChannelAlreadyLockedError,
  SubChannelNotLockedError,
  VirtualStateNotFinalError,
  VirtualTotalsMismatchError,
} from "./virtualErrors.js";

/** Index of V.alice and V.bob among V's participants. */
export const V_ALICE = 0;
export const V_BOB = 1;

export interface VirtualParamsInput {
  /** V.alice: an address (no cross-chain address) or a full participant. */
  readonly alice: Address | Participant;
  readonly bob: Address | Participant;
  readonly nonce: bigint;
  readonly challengeDuration: bigint;
  /** The app V runs (a virtual state channel), default none: a virtual payment channel. */
  readonly app?: Address;
}

/** Params of a virtual channel between Alice and Bob (virtualChannel, not a ledger; an app if given). */
export function virtualParams(input: VirtualParamsInput): Params {
  const alice = toParticipant(input.alice);
  const bob = toParticipant(input.bob);
  if (alice.ethAddress.toLowerCase() === bob.ethAddress.toLowerCase()) {
    throw new InvalidFieldError("bob", "an address other than alice's", bob.ethAddress);
  }
  if (typeof input.challengeDuration !== "bigint" || input.challengeDuration <= 0n) {
    throw new InvalidFieldError("challengeDuration", "a positive bigint (seconds)", input.challengeDuration);
  }
  if (typeof input.nonce !== "bigint" || input.nonce < 0n || input.nonce > MAX_UINT256) {
    throw new InvalidFieldError("nonce", "a bigint in 0..2^256-1", input.nonce);
  }
  if (input.app !== undefined && !isHex(input.app, 20)) {
    throw new InvalidFieldError("app", "an address (0x + 40 hex digits)", input.app);
  }
  return {
    challengeDuration: input.challengeDuration,
    nonce: input.nonce,
    participants: [alice, bob],
    app: input.app ?? ZERO_ADDRESS,
    ledgerChannel: false,
    virtualChannel: true,
  };
}

function toParticipant(p: Address | Participant): Participant {
  return typeof p === "string" ? { ethAddress: p, ccAddress: "0x" } : p;
}

/**
 * V's initial state (version 0): `balances[asset] = [a, b]` (V.alice's and V.bob's shares). The assets
 * (and backends, default 0 = Ethereum) must be those of the ledger channels that will fund V; `appData`
 * is the app's first state (none for a payment channel).
 */
export function virtualInitialState(
  params: Params,
  assets: readonly Asset[],
  balances: readonly (readonly [bigint, bigint])[],
  backends: readonly bigint[] = assets.map(() => 0n),
  appData: Hex = "0x",
): State {
  assertVirtualParams(params);
  const state: State = {
    channelID: channelId(params),
    version: 0n,
    outcome: { assets, backends, balances: balances.map((r) => [...r]), locked: [] },
    appData,
    isFinal: false,
  };
  assertVirtualState(state, "vInitial");
  return state;
}

/**
 * Throws unless `params` are those of a virtual channel between two participants. Which app it may
 * run (none, or one whose rules we have) is the signing policy's decision (`checkVirtualChannel`).
 */
export function assertVirtualParams(params: Params): void {
  if (params.participants.length !== 2) {
    throw new InvalidVirtualChannelError("params.participants.length", "2", params.participants.length);
  }
  if (!params.virtualChannel) throw new InvalidVirtualChannelError("params.virtualChannel", "true", false);
  if (params.ledgerChannel) throw new InvalidVirtualChannelError("params.ledgerChannel", "false", true);
}

/**
 * Throws unless `state` is a consistent state of a two-party virtual channel: two balances per asset,
 * nothing locked. Its app data is the ends' business (their app's rules, or none for payments): what
 * the intermediaries lock and net depends on the balances alone.
 */
export function assertVirtualState(state: State, field = "vState"): void {
  if (state.outcome.locked.length !== 0) {
    throw new InvalidVirtualChannelError(`${field}.outcome.locked`, "no locked funds", state.outcome.locked);
  }
  try {
    assertAllocationConsistent(state.outcome, 2);
  } catch (e) {
    throw new InvalidVirtualChannelError(
      `${field}.outcome`,
      "balances [asset][V.alice, V.bob] of uint256",
      (e as Error).message.split("\n")[0],
    );
  }
}

/** What V is: its id and the initial state Alice and Bob signed. */
export interface VirtualRef {
  readonly id: Hex;
  readonly initial: State;
}

/** Ledger participant indices fronting V.alice's share (`left`) and V.bob's share (`right`). */
export interface LockRoles {
  readonly left: number;
  readonly right: number;
}

/** A fee moved in the lock update: `amounts[asset]` from ledger participant `payer` to `payee`. */
export interface LockFee {
  readonly payer: number;
  readonly payee: number;
  readonly amounts: readonly bigint[];
}

/**
 * The ledger state (version + 1) that locks V: appends SubAlloc {V's id, V's total per asset,
 * indexMap [left, right]}, debits `left` V.alice's share and `right` V.bob's share, and moves the fee.
 * Throws `InsufficientBalanceError` if a participant would go below zero (an incoming fee counts).
 */
export function lockInLedger(
  ledger: State,
  ledgerParams: Params,
  v: VirtualRef,
  roles: LockRoles,
  fee?: LockFee,
): State {
  const n = assertUpdatableLedger(ledger, ledgerParams);
  assertVirtualState(v.initial, "v.initial");
  if (v.initial.channelID.toLowerCase() !== v.id.toLowerCase()) {
    throw new InvalidFieldError("v.initial.channelID", `V's id ${v.id}`, v.initial.channelID);
  }
  if (v.initial.isFinal) throw new InvalidVirtualChannelError("v.initial.isFinal", "false", true);
  if (v.id.toLowerCase() === ledger.channelID.toLowerCase()) {
    throw new InvalidFieldError("v.id", "an id other than the ledger channel's", v.id);
  }
  sameAssetsAsLedger(ledger, v.initial, "v.initial");
  participantIndex(roles.left, n, "roles.left");
  participantIndex(roles.right, n, "roles.right");
  if (roles.left === roles.right)
    throw new InvalidFieldError("roles.right", "a participant other than left", roles.right);
  if (ledger.outcome.locked.some((s) => s.ID.toLowerCase() === v.id.toLowerCase())) {
    throw new SubChannelAlreadyLockedError(v.id);
  }
  const nAssets = ledger.outcome.assets.length;
  if (fee !== undefined) assertFee(fee, n, nAssets);

  const balances = ledger.outcome.balances.map((row, a) => {
    const out = [...row];
    const [va, vb] = v.initial.outcome.balances[a] as readonly bigint[];
    out[roles.left] = (out[roles.left] as bigint) - (va as bigint);
    out[roles.right] = (out[roles.right] as bigint) - (vb as bigint);
    if (fee !== undefined) {
      const f = fee.amounts[a] as bigint;
      out[fee.payer] = (out[fee.payer] as bigint) - f;
      out[fee.payee] = (out[fee.payee] as bigint) + f;
    }
    out.forEach((b, p) => {
      const had = row[p] as bigint;
      if (b < 0n) throw new InsufficientBalanceError(a, p, had, had - b);
    });
    return out;
  });
  const sub: SubAlloc = {
    ID: v.id,
    balances: assetTotals(v.initial.outcome),
    indexMap: [roles.left, roles.right],
  };
  return {
    ...ledger,
    version: ledger.version + 1n,
    outcome: { ...ledger.outcome, balances, locked: [...ledger.outcome.locked, sub] },
  };
}

/**
 * The ledger state (version + 1) without V's SubAlloc, V's final balances credited through its
 * indexMap (V participant i's share to ledger participant indexMap[i]). `vFinal` must be final and
 * distribute exactly the locked totals.
 */
export function unlockFromLedger(ledger: State, ledgerParams: Params, vFinal: State): State {
  assertUpdatableLedger(ledger, ledgerParams);
  const id = vFinal.channelID;
  const at = ledger.outcome.locked.findIndex((s) => s.ID.toLowerCase() === id.toLowerCase());
  const sub = ledger.outcome.locked[at];
  if (sub === undefined) throw new SubChannelNotLockedError(id);
  if (!vFinal.isFinal) throw new VirtualStateNotFinalError(id, vFinal.version);
  assertVirtualState(vFinal, "vFinal");
  sameAssetsAsLedger(ledger, vFinal, "vFinal");
  if (sub.indexMap.length !== 2) {
    throw new InvalidVirtualChannelError(
      `locked[${at}].indexMap`,
      "2 entries (V.alice, V.bob)",
      sub.indexMap,
    );
  }
  assetTotals(vFinal.outcome).forEach((t, a) => {
    const locked = sub.balances[a] as bigint;
    if (t !== locked) throw new VirtualTotalsMismatchError(id, a, locked, t);
  });
  const balances = ledger.outcome.balances.map((row, a) => {
    const out = [...row];
    (vFinal.outcome.balances[a] as readonly bigint[]).forEach((share, i) => {
      const p = sub.indexMap[i] as number;
      out[p] = (out[p] as bigint) + share;
    });
    return out;
  });
  return {
    ...ledger,
    version: ledger.version + 1n,
    outcome: { ...ledger.outcome, balances, locked: ledger.outcome.locked.filter((_, i) => i !== at) },
  };
}

/** The lock a ledger peer agreed to: which V, who fronts what, and the fee (if any). */
export interface ExpectedLock {
  readonly v: VirtualRef;
  readonly roles: LockRoles;
  readonly fee?: LockFee;
}

/**
 * Accepts a proposed lock update of a ledger channel only if `next` is exactly `lockInLedger(prev, ...)`
 * for the expected lock: one SubAlloc added with the expected id, amounts and indexMap, exactly the
 * expected debits and fee, nothing else changed (other SubAllocs may keep or change their order only).
 * Throws `LockMismatchError` naming the first difference; returns the added SubAlloc.
 * `next` must have passed shape validation (`validateState`).
 */
export function checkLock(prev: State, next: State, ledgerParams: Params, expected: ExpectedLock): SubAlloc {
  const want = lockInLedger(prev, ledgerParams, expected.v, expected.roles, expected.fee);
  compareHeader("lock", want, next);
  const wantSub = want.outcome.locked[want.outcome.locked.length - 1] as SubAlloc;
  const { added, removed } = diffLocked(prev.outcome.locked, next.outcome.locked);
  if (removed.length > 0) {
    throw new LockMismatchError("lock", "other-sub-allocs", "an existing SubAlloc was changed or removed.", {
      id: removed[0]?.ID,
    });
  }
  if (added.length !== 1) {
    throw new LockMismatchError("lock", "sub-alloc-count", `expected 1 new SubAlloc, got ${added.length}.`, {
      added: added.length,
    });
  }
  const got = added[0] as SubAlloc;
  if (got.ID.toLowerCase() !== wantSub.ID.toLowerCase()) {
    throw new LockMismatchError("lock", "sub-alloc-id", `locks ${got.ID} instead of V ${wantSub.ID}.`, {
      expected: wantSub.ID,
      got: got.ID,
    });
  }
  if (!sameBigints(got.balances, wantSub.balances)) {
    throw new LockMismatchError("lock", "sub-alloc-amounts", "locked amounts differ from V's totals.", {
      expected: fmt(wantSub.balances),
      got: fmt(got.balances),
    });
  }
  if (!sameNumbers(got.indexMap, wantSub.indexMap)) {
    throw new LockMismatchError("lock", "index-map", "indexMap differs from [left, right].", {
      expected: wantSub.indexMap.join(","),
      got: got.indexMap.join(","),
    });
  }
  const fee = expected.fee;
  // Name a missing fee precisely: the balances are those of the same lock without the fee.
  if (
    fee?.amounts.some((f) => f !== 0n) &&
    sameMatrix(
      next.outcome.balances,
      lockInLedger(prev, ledgerParams, expected.v, expected.roles).outcome.balances,
    )
  ) {
    throw new LockMismatchError("lock", "fee-missing", "the agreed fee is not paid.", {
      payer: fee.payer,
      payee: fee.payee,
      amounts: fmt(fee.amounts),
    });
  }
  compareBalances("lock", want, next);
  return got;
}

/**
 * Accepts a proposed unlock update only if `next` is exactly `unlockFromLedger(prev, ledgerParams,
 * vFinal)`: V's SubAlloc removed, V's final shares credited through its indexMap, nothing else changed.
 * Throws `LockMismatchError` naming the first difference.
 */
export function checkUnlock(prev: State, next: State, ledgerParams: Params, vFinal: State): void {
  const want = unlockFromLedger(prev, ledgerParams, vFinal);
  compareHeader("unlock", want, next);
  const { added, removed } = diffLocked(want.outcome.locked, next.outcome.locked);
  if (added.some((s) => s.ID.toLowerCase() === vFinal.channelID.toLowerCase())) {
    throw new LockMismatchError("unlock", "sub-alloc-not-removed", `V ${vFinal.channelID} is still locked.`);
  }
  if (added.length > 0 || removed.length > 0) {
    throw new LockMismatchError(
      "unlock",
      "other-sub-allocs",
      "other SubAllocs were added, changed or removed.",
      {
        added: added.length,
        removed: removed.length,
      },
    );
  }
  compareBalances("unlock", want, next);
}

/** One proposed update of a ledger channel, with the channel's params. */
export interface LedgerUpdate {
  readonly prev: State;
  readonly next: State;
  readonly params: Params;
}

export type IntermediaryVerdict =
  | {
      readonly valid: true /** The intermediary's net gain per asset, whatever V's outcome. */;
      readonly fee: bigint[];
    }
  | { readonly valid: false; readonly reason: string };

/**
 * Whether intermediary `intermediary` may sign both lock updates for V: `lockLeft` in her ledger
 * channel towards Alice, `lockRight` towards Bob. By construction: each update must be a valid
 * conserving update (same channel, version + 1, not final, assets of V) that adds exactly one SubAlloc,
 * V's, locking V's totals with a 2-entry indexMap, and changes no other SubAlloc. Let c_i be the number
 * of the two indexMaps crediting V participant i to her. If V ends with shares x_0 + x_1 = T (per asset),
 * her net over both updates and both unlocks is D + c_0 x_0 + c_1 x_1, D being her balance change in the
 * two lock updates. That is the same for EVERY outcome iff c_0 = c_1 =: c, and then equals D + c T.
 * Valid iff c_0 = c_1 and D + c T >= 0 for every asset (and equals `expectedFee` if given).
 */
export function intermediaryLocksMatch(
  lockLeft: LedgerUpdate,
  lockRight: LedgerUpdate,
  vInitial: State,
  intermediary: Address,
  expectedFee?: readonly bigint[],
): IntermediaryVerdict {
  const bad = (reason: string): IntermediaryVerdict => ({ valid: false, reason });
  try {
    assertVirtualState(vInitial, "vInitial");
  } catch (e) {
    return bad((e as Error).message.split("\n")[0] as string);
  }
  if (vInitial.isFinal) return bad("V's initial state is final");
  const vId = vInitial.channelID.toLowerCase();
  const totals = assetTotals(vInitial.outcome);
  const sides: { name: string; upd: LedgerUpdate; me: number; sub: SubAlloc }[] = [];
  for (const [name, upd] of [
    ["left", lockLeft],
    ["right", lockRight],
  ] as const) {
    const { prev, next, params } = upd;
    const me = params.participants.findIndex(
      (p) => p.ethAddress.toLowerCase() === intermediary.toLowerCase(),
    );
    if (me < 0) return bad(`${intermediary} is not a participant of the ${name} ledger channel`);
    try {
      const id = channelId(params);
      if (
        prev.channelID.toLowerCase() !== id.toLowerCase() ||
        next.channelID.toLowerCase() !== id.toLowerCase()
      ) {
        return bad(`the ${name} states are not of the channel of its params (${id})`);
      }
      if (prev.isFinal || next.isFinal) return bad(`the ${name} ledger channel is final`);
      if (next.version !== prev.version + 1n)
        return bad(`the ${name} update does not raise the version by one`);
      if (next.appData !== prev.appData) return bad(`the ${name} update changes the app data`);
      assertAllocationConsistent(next.outcome, params.participants.length);
      assertConserved(prev.outcome, next.outcome);
      assertSameAssets(prev.outcome, vInitial.outcome);
    } catch (e) {
      return bad(`the ${name} update is invalid: ${(e as Error).message.split("\n")[0]}`);
    }
    const { added, removed } = diffLocked(prev.outcome.locked, next.outcome.locked);
    if (removed.length > 0) return bad(`the ${name} update changes or removes another SubAlloc`);
    if (added.length !== 1) return bad(`the ${name} update adds ${added.length} SubAllocs, not 1`);
    const sub = added[0] as SubAlloc;
    if (sub.ID.toLowerCase() !== vId)
      return bad(`the ${name} update locks ${sub.ID}, not V ${vInitial.channelID}`);
    if (!sameBigints(sub.balances, totals)) {
      return bad(`the ${name} update locks ${fmt(sub.balances)}, not V's totals ${fmt(totals)}`);
    }
    if (sub.indexMap.length !== 2)
      return bad(`the ${name} indexMap has ${sub.indexMap.length} entries, not 2`);
    sides.push({ name, upd, me, sub });
  }
  const credited = [V_ALICE, V_BOB].map((i) => sides.filter((s) => s.sub.indexMap[i] === s.me).length);
  const [c0, c1] = credited as [number, number];
  if (c0 !== c1) {
    return bad(
      `the indexMaps credit her V.alice's share ${c0} time(s) but V.bob's ${c1} time(s): her net would depend on V's outcome`,
    );
  }
  const fee = totals.map((t, a) => {
    let d = 0n;
    for (const s of sides) {
      d +=
        (s.upd.next.outcome.balances[a]?.[s.me] as bigint) -
        (s.upd.prev.outcome.balances[a]?.[s.me] as bigint);
    }
    return d + BigInt(c0) * t;
  });
  const neg = fee.findIndex((f) => f < 0n);
  if (neg >= 0) return bad(`she would lose ${-(fee[neg] as bigint)} of asset ${neg} whatever V's outcome`);
  if (expectedFee !== undefined && !sameBigints(fee, expectedFee)) {
    return bad(`she nets ${fmt(fee)}, not the agreed fee ${fmt(expectedFee)}`);
  }
  return { valid: true, fee };
}

// --- helpers ---

function assertUpdatableLedger(ledger: State, params: Params): number {
  if (!params.ledgerChannel || params.virtualChannel) {
    throw new InvalidFieldError(
      "ledgerParams.ledgerChannel",
      "a ledger channel's params",
      params.ledgerChannel,
    );
  }
  const id = channelId(params);
  if (ledger.channelID.toLowerCase() !== id.toLowerCase()) {
    throw new InvalidFieldError("ledger.channelID", `the channel id ${id} of ledgerParams`, ledger.channelID);
  }
  if (ledger.isFinal) {
    throw new InvalidTransitionError(
      "final",
      `State version ${ledger.version} is final; it cannot be updated.`,
      {
        version: `${ledger.version}n`,
      },
    );
  }
  if (ledger.version >= MAX_UINT64) {
    throw new InvalidTransitionError("version", "Version is at its uint64 maximum; it cannot be raised.", {
      version: `${ledger.version}n`,
    });
  }
  const n = params.participants.length;
  assertAllocationConsistent(ledger.outcome, n);
  return n;
}

function sameAssetsAsLedger(ledger: State, v: State, field: string): void {
  try {
    assertSameAssets(ledger.outcome, v.outcome);
  } catch {
    throw new InvalidVirtualChannelError(
      `${field}.outcome.assets`,
      "the ledger channel's assets and backends",
      {
        ledger: ledger.outcome.assets.length,
        v: v.outcome.assets.length,
      },
    );
  }
}

function participantIndex(i: number, n: number, _field: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new UnknownParticipantError(i, n);
}

function assertFee(fee: LockFee, n: number, nAssets: number): void {
  participantIndex(fee.payer, n, "fee.payer");
  participantIndex(fee.payee, n, "fee.payee");
  if (fee.payer === fee.payee)
    throw new InvalidFieldError("fee.payee", "a participant other than the payer", fee.payee);
  if (fee.amounts.length !== nAssets) {
    throw new InvalidFieldError("fee.amounts", `${nAssets} entries (one per asset)`, fee.amounts.length);
  }
  fee.amounts.forEach((f, a) => {
    if (typeof f !== "bigint" || f < 0n || f > MAX_UINT256) {
      throw new InvalidFieldError(`fee.amounts[${a}]`, "a bigint in 0..2^256-1", f);
    }
  });
}

function compareHeader(what: "lock" | "unlock", want: State, next: State): void {
  if (next.channelID.toLowerCase() !== want.channelID.toLowerCase()) {
    throw new LockMismatchError(what, "channel-id", `state is for ${next.channelID}, not ${want.channelID}.`);
  }
  if (next.version !== want.version) {
    throw new LockMismatchError(what, "version", `version must be ${want.version}, got ${next.version}.`);
  }
  if (next.isFinal !== want.isFinal) {
    throw new LockMismatchError(what, "final", "the update must not change isFinal.");
  }
  if (next.appData !== want.appData) {
    throw new LockMismatchError(what, "app-data", "the update must not change the app data.");
  }
  try {
    assertSameAssets(want.outcome, next.outcome);
  } catch (e) {
    throw new LockMismatchError(what, "assets", (e as Error).message.split("\n")[0] as string);
  }
}

function compareBalances(what: "lock" | "unlock", want: State, next: State): void {
  const w = want.outcome.balances;
  const g = next.outcome.balances;
  if (g.length !== w.length) {
    throw new LockMismatchError(what, "balances", `${g.length} balance rows, expected ${w.length}.`);
  }
  w.forEach((row, a) => {
    const got = g[a] ?? [];
    if (got.length !== row.length) {
      throw new LockMismatchError(
        what,
        "balances",
        `balances[${a}] has ${got.length} entries, expected ${row.length}.`,
      );
    }
    row.forEach((b, p) => {
      if (got[p] !== b) {
        throw new LockMismatchError(
          what,
          "balances",
          `participant ${p} has ${got[p]} of asset ${a}, expected ${b}.`,
          { asset: a, participant: p, expected: `${b}n`, got: `${got[p]}n` },
        );
      }
    });
  });
}

function sameSub(a: SubAlloc, b: SubAlloc): boolean {
  return (
    a.ID.toLowerCase() === b.ID.toLowerCase() &&
    sameBigints(a.balances, b.balances) &&
    sameNumbers(a.indexMap, b.indexMap)
  );
}

/** Whether `state` locks sub-channel `id`. */
export function locksSubChannel(state: State | undefined, id: Hex): boolean {
  return state?.outcome.locked.some((l) => l.ID.toLowerCase() === id.toLowerCase()) === true;
}

/**
 * The sub-allocations in `after` but not in `before` (added) and the other way round (removed), each
 * compared whole (id, amounts, indexMap): one changed in place is both removed and added.
 */
export function diffLocked(
  before: readonly SubAlloc[],
  after: readonly SubAlloc[],
): { added: SubAlloc[]; removed: SubAlloc[] } {
  const left = [...after];
  const removed: SubAlloc[] = [];
  for (const s of before) {
    const i = left.findIndex((t) => sameSub(s, t));
    if (i < 0) removed.push(s);
    else left.splice(i, 1);
  }
  return { added: left, removed };
}

function sameBigints(a: readonly bigint[], b: readonly bigint[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameMatrix(a: readonly (readonly bigint[])[], b: readonly (readonly bigint[])[]): boolean {
  return a.length === b.length && a.every((row, i) => sameBigints(row, b[i] ?? []));
}

function fmt(xs: readonly bigint[]): string {
  return `[${xs.join(", ")}]`;
}
