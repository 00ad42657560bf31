/** The client's pure decisions (./decisions.ts), row by row: no chain, no peer, no store. */
import { describe, expect, it } from "vitest";
import { DisputePhase } from "../chain/adjudicator.js";
import { hashState } from "../channel/hash.js";
import { createMachine, type Machine } from "../channel/machine.js";
import type { Params, State } from "../channel/types.js";
import { type LedgerUpdate, lockInLedger, virtualParams } from "../channel/virtual.js";
import {
  ALICE,
  BOB,
  ETH,
  INGRID,
  ledgerParams,
  ledgerState,
  virtualFixture,
} from "../channel/virtual.testutil.js";
import {
  chainDuty,
  chainTurn,
  changesLocks,
  depositsToSend,
  feeCovers,
  lastIntermediaryDecision,
  redeliveryDelayMs,
  registrationChangesChain,
  shownState,
  subChannelConcludableAt,
  subStateToRegister,
  virtualRecordsEnded,
} from "./decisions.js";

describe("depositsToSend", () => {
  it.each([
    [
      "nothing on chain: the whole share of each asset",
      [5n, 3n],
      [0n, 0n],
      [],
      [
        { kind: "send", asset: 0, amount: 5n },
        { kind: "send", asset: 1, amount: 3n },
      ],
    ],
    ["part on chain: only the rest", [5n], [2n], [], [{ kind: "send", asset: 0, amount: 3n }]],
    ["all on chain (or more): nothing", [5n, 3n], [5n, 4n], [], []],
    ["a zero share: nothing", [0n], [0n], [], []],
    [
      "sent before a restart and not on chain yet: never twice",
      [5n, 3n],
      [0n, 0n],
      [true],
      [
        { kind: "pending", asset: 0 },
        { kind: "send", asset: 1, amount: 3n },
      ],
    ],
    ["sent before and on chain: nothing", [5n], [5n], [true], []],
  ] as const)("%s", (_name, want, have, sent, steps) => {
    expect(depositsToSend({ want, have, sent })).toEqual(steps);
  });
});

describe("chainDuty", () => {
  const ledger = createMachine(ledgerParams([ALICE, BOB]), 0);
  const virtual = createMachine(
    virtualParams({ alice: ALICE, bob: BOB, nonce: 1n, challengeDuration: 30n }),
    0,
  );
  const app = createMachine({ ...ledgerParams([ALICE, BOB]), app: INGRID }, 0);
  const at = (m: Machine, phase: Machine["phase"], timeout?: bigint): Machine => ({
    ...m,
    phase,
    dispute:
      timeout === undefined ? null : ({ version: 1n, timeout, state: null } as unknown as Machine["dispute"]),
  });
  const clock = { nowMs: 10_000, finalAtMs: 0, graceMs: 3_000 };
  it.each([
    [
      "a registration whose timeout passed is concluded",
      at(ledger, "Registered", 100n),
      100n,
      clock,
      "conclude",
    ],
    ["not a second before its timeout", at(ledger, "Registered", 100n), 99n, clock, null],
    ["a progressed channel too", at(ledger, "Progressed", 100n), 100n, clock, "conclude"],
    [
      "an app channel in its registration gets one challenge duration more",
      at(app, "Registered", 100n),
      100n,
      clock,
      null,
    ],
    ["... and is concluded after it", at(app, "Registered", 100n), 160n, clock, "conclude"],
    [
      "a virtual channel never by itself (through its ledger channels)",
      at(virtual, "Registered", 100n),
      200n,
      clock,
      null,
    ],
    [
      "a registration not seen on chain is sent again",
      at(ledger, "Registering"),
      0n,
      clock,
      "retryRegistration",
    ],
    ["but not a virtual channel's", at(virtual, "Registering"), 0n, clock, null],
    ["a concluded channel is withdrawn from", at(ledger, "Withdrawing"), 0n, clock, "withdraw"],
    ["a virtual one too", at(virtual, "Withdrawing"), 0n, clock, "withdraw"],
    [
      "a final state left unconcluded past the grace",
      at(ledger, "Final"),
      0n,
      { ...clock, finalAtMs: 6_999 },
      "concludeFinal",
    ],
    ["not within the grace", at(ledger, "Final"), 0n, { ...clock, finalAtMs: 7_000 }, null],
    ["not one we proposed (no finalAt)", at(ledger, "Final"), 0n, clock, null],
    ["an acting channel: nothing", at(ledger, "Acting"), 10n ** 9n, clock, null],
    [
      "a withdrawing channel whose dispute timed out is withdrawn from, not concluded again",
      at(ledger, "Withdrawing", 100n),
      200n,
      clock,
      "withdraw",
    ],
    [
      "a registration in flight past an old timeout is sent again, not concluded",
      at(ledger, "Registering", 100n),
      200n,
      clock,
      "retryRegistration",
    ],
    [
      "an acting channel with a stale finalAt: nothing",
      at(ledger, "Acting"),
      0n,
      { ...clock, finalAtMs: 1 },
      null,
    ],
  ] as const)("%s", (_name, m, now, c, duty) => {
    expect(chainDuty(m, now, c)).toBe(duty);
  });
});

describe("chainTurn", () => {
  it.each([
    ["participant 0 sends at once", 0, undefined, 0, "send"],
    ["participant 1 waits the first time", 1, undefined, 0, "wait"],
    ["and within the back-off", 1, 1_000, 1_999, "wait"],
    ["and sends once it passed", 1, 1_000, 2_000, "send"],
  ] as const)("%s", (_name, idx, seen, now, turn) => {
    expect(chainTurn(idx, seen, now, 1_000)).toBe(turn);
  });
});

describe("subChannelConcludableAt", () => {
  it.each([
    ["a payment channel at its timeout", DisputePhase.DISPUTE, false, 100n],
    ["an app channel in DISPUTE one challenge duration later", DisputePhase.DISPUTE, true, 130n],
    ["an app channel in FORCEEXEC at its timeout", DisputePhase.FORCEEXEC, true, 100n],
  ] as const)("%s", (_name, phase, hasApp, at) => {
    expect(subChannelConcludableAt({ timeout: 100n, challengeDuration: 30n, hasApp, phase })).toBe(at);
  });
});

describe("feeCovers", () => {
  it("accepts the agreed fee or more, refuses less", () => {
    expect(feeCovers([5n], [5n])).toEqual({ accept: true });
    expect(feeCovers([6n], [5n])).toEqual({ accept: true });
    expect(feeCovers([4n], [5n])).toEqual({ accept: false, reason: "fee 4 below the agreed 5" });
    expect(feeCovers([], [0n])).toEqual({ accept: true });
  });
});

describe("lastIntermediaryDecision", () => {
  const E = 10n ** 18n;
  const p1 = ledgerParams([ALICE, INGRID], 1n);
  const p2 = ledgerParams([INGRID, BOB], 2n);
  const V = virtualFixture([ETH], [[3n * E, 2n * E]]);
  const v = { id: V.id, initial: V.initial };
  const lock = (prev: State, params: Params, fee?: bigint): LedgerUpdate => ({
    prev,
    params,
    next: lockInLedger(
      prev,
      params,
      v,
      { left: 0, right: 1 },
      fee === undefined ? undefined : { payer: 0, payee: 1, amounts: [fee] },
    ),
  });
  const left = lock(ledgerState(p1, [ETH], [[10n * E, 10n * E]]), p1, 5n);
  const right = lock(ledgerState(p2, [ETH], [[10n * E, 10n * E]]), p2);
  it("signs both locks when they net her the agreed fee", () => {
    expect(lastIntermediaryDecision(left, right, V.initial, INGRID, [5n])).toEqual({ accept: true });
  });
  it("refuses a fee below the agreed one", () => {
    const cheap = lock(ledgerState(p1, [ETH], [[10n * E, 10n * E]]), p1, 4n);
    expect(lastIntermediaryDecision(cheap, right, V.initial, INGRID, [5n]).accept).toBe(false);
  });
  it("refuses locks that do not match (the right lock fronts V's funds the wrong way round)", () => {
    const prev = ledgerState(p2, [ETH], [[10n * E, 10n * E]]);
    const swapped: LedgerUpdate = {
      prev,
      params: p2,
      next: lockInLedger(prev, p2, v, { left: 1, right: 0 }),
    };
    const d = lastIntermediaryDecision(left, swapped, V.initial, INGRID, [5n]);
    expect(d.accept).toBe(false);
  });
});

describe("virtualRecordsEnded", () => {
  const base = { lockedAnywhere: false, finalKnown: false, expiry: 1_000n, now: 0n, graceSeconds: 600n };
  it.each([
    ["still locked somewhere: kept, even when final", { lockedAnywhere: true, finalKnown: true }, false],
    ["still locked somewhere: kept, even long expired", { lockedAnywhere: true, now: 10n ** 9n }, false],
    ["unlocked everywhere with its final state: ended", { finalKnown: true }, true],
    ["never locked and not expired: kept (its locks may still come)", {}, false],
    ["never locked, expired but within the grace: kept", { now: 1_599n }, false],
    ["never locked, expired past the grace: ended", { now: 1_600n }, true],
    ["no context and no final: nothing tells it ended", { expiry: undefined, now: 10n ** 9n }, false],
  ] as const)("%s", (_name, over, ended) => {
    expect(virtualRecordsEnded({ ...base, ...over })).toBe(ended);
  });
});

describe("subStateToRegister", () => {
  const V = virtualFixture([ETH], [[3n, 2n]]);
  const s = (version: bigint) => ({ state: { ...V.initial, version } });
  const known = [s(5n), s(3n), s(0n)];
  const chain = (phase: number, version: bigint, timeout = 100n) => ({
    phase,
    version,
    timeout,
    stateHash: hashState(s(version).state),
  });
  it.each([
    ["nothing on chain: our newest", undefined, 0n, 5n],
    [
      "an older state registered and refutable: our newest refutes it",
      chain(DisputePhase.DISPUTE, 3n),
      99n,
      5n,
    ],
    [
      "an older state whose refutation window passed: exactly that one",
      chain(DisputePhase.DISPUTE, 3n),
      100n,
      3n,
    ],
    ["an older state concluded: exactly that one", chain(DisputePhase.CONCLUDED, 0n), 0n, 0n],
    ["our newest registered already: that one", chain(DisputePhase.DISPUTE, 5n), 0n, 5n],
  ] as const)("%s", (_name, onChain, now, version) => {
    expect(subStateToRegister(known, onChain, now)?.state.version).toBe(version);
  });
  it("a newer state on chain than any we know, still refutable: none (ours cannot refute it)", () => {
    expect(subStateToRegister(known, chain(DisputePhase.DISPUTE, 6n), 0n)).toBeUndefined();
  });
  it("another state of our newest version on chain: not ours (same version cannot refute)", () => {
    const other = {
      ...chain(DisputePhase.DISPUTE, 5n),
      stateHash: hashState({ ...s(5n).state, appData: "0x01" }),
    };
    expect(subStateToRegister(known, other, 0n)).toBeUndefined();
  });
  it("a standing state we never saw: none (the registration would fail)", () => {
    expect(subStateToRegister(known, chain(DisputePhase.FORCEEXEC, 4n), 0n)).toBeUndefined();
  });
});

describe("registrationChangesChain", () => {
  const D = (version: bigint) => ({ phase: DisputePhase.DISPUTE, version });
  it.each([
    ["nothing on chain", undefined, [], true],
    ["an older version on chain: a refutation", D(3n), [], true],
    ["the same version on chain, no sub-channel stale", D(5n), [{ onChain: D(2n), ours: 2n }], false],
    ["a newer version on chain", D(6n), [], false],
    ["the same version, but a sub-channel holds a stale state", D(5n), [{ onChain: D(1n), ours: 2n }], true],
    [
      "the same version, a sub-channel past its dispute",
      D(5n),
      [{ onChain: { phase: DisputePhase.CONCLUDED, version: 1n }, ours: 2n }],
      false,
    ],
    ["the same version, a sub-channel not on chain at all", D(5n), [{ onChain: undefined, ours: 2n }], false],
    [
      "concluded: never",
      { phase: DisputePhase.CONCLUDED, version: 1n },
      [{ onChain: D(1n), ours: 2n }],
      false,
    ],
  ] as const)("%s", (_name, onChain, subs, changes) => {
    expect(registrationChangesChain(onChain, 5n, subs)).toBe(changes);
  });
});

describe("redeliveryDelayMs", () => {
  it.each([
    [0, 100],
    [1, 200],
    [3, 800],
    [9, 30_000],
    [1_000, 30_000],
  ])("after %i attempts: %i ms", (attempt, ms) => {
    expect(redeliveryDelayMs(attempt, 100, 30_000)).toBe(ms);
  });
});

describe("changesLocks", () => {
  const p = ledgerParams([ALICE, INGRID], 1n);
  const V = virtualFixture([ETH], [[3n, 2n]]);
  const plain = ledgerState(p, [ETH], [[10n, 10n]]);
  const locked = lockInLedger(plain, p, { id: V.id, initial: V.initial }, { left: 0, right: 1 });
  const sub = locked.outcome.locked[0] as State["outcome"]["locked"][number];
  const changed: State = {
    ...locked,
    outcome: { ...locked.outcome, locked: [{ ...sub, balances: [1n] }] },
  };
  it.each([
    [
      "a payment: no",
      plain,
      { ...plain, version: 4n, outcome: { ...plain.outcome, balances: [[9n, 11n]] } },
      false,
    ],
    ["a lock: yes", plain, locked, true],
    ["an unlock: yes", locked, plain, true],
    ["a lock changed in place: yes", locked, changed, true],
    ["the same locks: no", locked, { ...locked, version: 9n }, false],
  ] as const)("%s", (_name, a, b, yes) => {
    expect(changesLocks(a, b)).toBe(yes);
  });
});

describe("shownState", () => {
  const params = ledgerParams([ALICE, BOB]);
  const at = (version: bigint, mine: bigint): State =>
    ledgerState(params, [ETH], [[mine, 10n - mine]], version);
  const base = (): Machine => ({
    ...createMachine(params, 0),
    phase: "Withdrawing",
    current: { state: at(4n, 6n), sigs: ["0x", "0x"] },
  });
  it("our current state when the chain holds nothing newer", () => {
    const m = base();
    expect(shownState(m)?.version).toBe(4n);
    expect(shownState({ ...m, dispute: { version: 4n, timeout: 0n, state: null } })?.version).toBe(4n);
    expect(shownState({ ...m, dispute: { version: 3n, timeout: 0n, state: at(3n, 9n) } })?.version).toBe(4n);
    expect(shownState({ ...createMachine(params, 0) })).toBeNull();
  });
  it("the newer concluded version when we proposed it (our pending proposal)", () => {
    const m: Machine = {
      ...base(),
      pending: { state: at(5n, 2n), sigs: ["0x", null], proposer: 0 },
      dispute: { version: 5n, timeout: 0n, state: null },
    };
    expect(shownState(m)?.outcome.balances).toEqual([[2n, 8n]]);
  });
  it("the newer registered state when the chain told us it", () => {
    const m: Machine = {
      ...base(),
      pending: { state: at(6n, 1n), sigs: ["0x", null], proposer: 0 },
      dispute: { version: 5n, timeout: 0n, state: at(5n, 3n) },
    };
    expect(shownState(m)?.outcome.balances).toEqual([[3n, 7n]]);
  });
  it("our current state when the newer version's state is unknown to us", () => {
    const m: Machine = { ...base(), dispute: { version: 9n, timeout: 0n, state: null } };
    expect(shownState(m)?.version).toBe(4n);
    // Our pending proposal is another version than the one on chain: not shown either.
    const other: Machine = {
      ...base(),
      pending: { state: at(6n, 1n), sigs: ["0x", null], proposer: 0 },
      dispute: { version: 5n, timeout: 0n, state: null },
    };
    expect(shownState(other)?.version).toBe(4n);
  });
  it("the chain's record at our own version changes nothing we show", () => {
    const m: Machine = { ...base(), dispute: { version: 4n, timeout: 0n, state: at(4n, 9n) } };
    expect(shownState(m)?.outcome.balances).toEqual([[6n, 4n]]);
  });
  it("the registered state when we hold no fully signed state at all", () => {
    const m: Machine = {
      ...createMachine(params, 0),
      phase: "Withdrawing",
      dispute: { version: 0n, timeout: 0n, state: at(0n, 5n) },
    };
    expect(shownState(m)?.outcome.balances).toEqual([[5n, 5n]]);
  });
});
