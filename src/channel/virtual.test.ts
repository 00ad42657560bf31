import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertConserved } from "./allocation.js";
import {
  InsufficientBalanceError,
  InvalidFieldError,
  InvalidTransitionError,
  UnknownParticipantError,
} from "./errors.js";
import { channelId } from "./hash.js";
import { checkTransition } from "./transition.js";
import type { Address, Params, State, SubAlloc } from "./types.js";
import { ZERO_ADDRESS } from "./types.js";
import type { LedgerUpdate, LockFee, LockRoles } from "./virtual.js";
import {
  checkLock,
  checkUnlock,
  intermediaryLocksMatch,
  lockInLedger,
  unlockFromLedger,
  virtualInitialState,
  virtualParams,
} from "./virtual.js";
import {
  ALICE,
  ASSETS2,
  addr,
  BOB,
  ETH,
  finalOf,
  INGRID,
  ledgerParams,
  ledgerState,
  virtualFixture,
  vOutcomeArb,
} from "./virtual.testutil.js";
import {
  InvalidVirtualChannelError,
  LockMismatchError,
  SubChannelAlreadyLockedError,
  SubChannelNotLockedError,
  VirtualStateNotFinalError,
  VirtualTotalsMismatchError,
} from "./virtualErrors.js";

const E = 10n ** 18n;

// The on-chain scenario of test/contracts/subchannels.test.ts: L1 (alice, ingrid), L2 (ingrid, bob),
// each 10/10; V (alice, bob) funded 3/2, ending 1/4.
const p1 = ledgerParams([ALICE, INGRID], 1n);
const p2 = ledgerParams([INGRID, BOB], 2n);
const l1 = ledgerState(p1, [ETH], [[10n * E, 10n * E]]);
const l2 = ledgerState(p2, [ETH], [[10n * E, 10n * E]]);
const V = virtualFixture([ETH], [[3n * E, 2n * E]]);
const v = { id: V.id, initial: V.initial };
const vEnd = finalOf(V.initial, [[1n * E, 4n * E]]);
const fee1: LockFee = { payer: 0, payee: 1, amounts: [E / 100n] };

function expectCode(f: () => unknown, cls: new (...a: never[]) => Error, rule?: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    if (rule !== undefined) expect((e as LockMismatchError).rule).toBe(rule);
    return;
  }
  throw new Error("expected a throw");
}

describe("virtualParams / virtualInitialState", () => {
  it("builds a virtual payment channel between alice and bob", () => {
    expect(V.params).toEqual({
      challengeDuration: 30n,
      nonce: 7n,
      participants: [
        { ethAddress: ALICE, ccAddress: "0x" },
        { ethAddress: BOB, ccAddress: "0x" },
      ],
      app: ZERO_ADDRESS,
      ledgerChannel: false,
      virtualChannel: true,
    });
    expect(V.initial).toMatchObject({
      channelID: channelId(V.params),
      version: 0n,
      isFinal: false,
      appData: "0x",
    });
    expect(V.initial.outcome).toEqual({
      assets: [ETH],
      backends: [0n],
      balances: [[3n * E, 2n * E]],
      locked: [],
    });
  });

  it.each([
    ["alice = bob", { alice: ALICE, bob: ALICE, nonce: 1n, challengeDuration: 1n }],
    ["zero challenge duration", { alice: ALICE, bob: BOB, nonce: 1n, challengeDuration: 0n }],
    ["negative nonce", { alice: ALICE, bob: BOB, nonce: -1n, challengeDuration: 1n }],
    ["a nonce above 2^256-1", { alice: ALICE, bob: BOB, nonce: 2n ** 256n, challengeDuration: 1n }],
    [
      "a nonce that is a number",
      { alice: ALICE, bob: BOB, nonce: 1 as unknown as bigint, challengeDuration: 1n },
    ],
    [
      "a duration that is a number",
      { alice: ALICE, bob: BOB, nonce: 1n, challengeDuration: 5 as unknown as bigint },
    ],
    [
      "an app that is no address",
      { alice: ALICE, bob: BOB, nonce: 1n, challengeDuration: 1n, app: "0x12" as Address },
    ],
  ])("rejects %s", (_n, input) => {
    expect(() => virtualParams(input)).toThrow(InvalidFieldError);
  });

  it("takes nonces 0 and 2^256-1, full participants as given, and an app (a virtual state channel)", () => {
    expect(virtualParams({ alice: ALICE, bob: BOB, nonce: 0n, challengeDuration: 1n }).nonce).toBe(0n);
    expect(
      virtualParams({ alice: ALICE, bob: BOB, nonce: 2n ** 256n - 1n, challengeDuration: 1n }).nonce,
    ).toBe(2n ** 256n - 1n);
    const full = { ethAddress: ALICE, ccAddress: "0xabcd" as const };
    expect(virtualParams({ alice: full, bob: BOB, nonce: 1n, challengeDuration: 1n }).participants[0]).toBe(
      full,
    );
    const app = "0x00000000000000000000000000000000000000ab" as Address;
    const p = virtualParams({ alice: ALICE, bob: BOB, nonce: 1n, challengeDuration: 1n, app });
    expect(p.app).toBe(app);
    expect(virtualInitialState(p, [ETH], [[1n, 1n]], undefined, "0x0102").appData).toBe("0x0102");
  });

  it("rejects non-virtual params and malformed balances", () => {
    expect(() => virtualInitialState(p1, [ETH], [[1n, 1n]])).toThrow(InvalidVirtualChannelError);
    expect(() => virtualInitialState(V.params, [ETH], [])).toThrow(InvalidVirtualChannelError);
    expect(() => virtualInitialState(V.params, [ETH], [[-1n, 1n]])).toThrow(InvalidVirtualChannelError);
  });
});

describe("lockInLedger / unlockFromLedger", () => {
  it("locks V as the contracts expect it (indexMap [0, 1] in both parents)", () => {
    const l1v = lockInLedger(l1, p1, v, { left: 0, right: 1 });
    const l2v = lockInLedger(l2, p2, v, { left: 0, right: 1 });
    const lockV = { ID: V.id, balances: [5n * E], indexMap: [0, 1] };
    expect(l1v.outcome.balances).toEqual([[7n * E, 8n * E]]);
    expect(l2v.outcome.balances).toEqual([[7n * E, 8n * E]]);
    expect(l1v.outcome.locked).toEqual([lockV]);
    expect(l2v.outcome.locked).toEqual([lockV]);
    expect(l1v.version).toBe(l1.version + 1n);
    expect(l1.outcome.locked).toEqual([]); // input untouched
    // Unlock with V ending alice 1 / bob 4: the balances the Adjudicator pays out.
    expect(unlockFromLedger(l1v, p1, vEnd).outcome).toMatchObject({
      balances: [[8n * E, 12n * E]],
      locked: [],
    });
    expect(unlockFromLedger(l2v, p2, vEnd).outcome).toMatchObject({
      balances: [[8n * E, 12n * E]],
      locked: [],
    });
  });

  it("follows the ledger's participant order through roles", () => {
    const pr = ledgerParams([INGRID, ALICE], 3n);
    const l = lockInLedger(ledgerState(pr, [ETH], [[10n, 10n]]), pr, virtualFixture([ETH], [[3n, 2n]]), {
      left: 1,
      right: 0,
    });
    expect(l.outcome.balances).toEqual([[8n, 7n]]);
    expect(l.outcome.locked[0]?.indexMap).toEqual([1, 0]);
  });

  it("moves the fee in the same update; an incoming fee may cover the payee's share", () => {
    expect(lockInLedger(l1, p1, v, { left: 0, right: 1 }, fee1).outcome.balances).toEqual([
      [7n * E - E / 100n, 8n * E + E / 100n],
    ]);
    const tight = ledgerState(p1, [ETH], [[4n, 1n]]);
    const vv = virtualFixture([ETH], [[3n, 2n]]);
    expect(
      lockInLedger(tight, p1, vv, { left: 0, right: 1 }, { payer: 0, payee: 1, amounts: [1n] }).outcome
        .balances,
    ).toEqual([[0n, 0n]]);
  });

  const small = ledgerState(p1, [ETH], [[3n, 2n]]);
  const vv = virtualFixture([ETH], [[3n, 2n]]);
  const id2 = virtualFixture([ETH], [[1n, 1n]], ALICE, BOB, 8n);
  const bad: [string, () => unknown, new (...a: never[]) => Error][] = [
    [
      "left short of V.alice's share",
      () => lockInLedger(small, p1, virtualFixture([ETH], [[4n, 2n]]), { left: 0, right: 1 }),
      InsufficientBalanceError,
    ],
    [
      "right short of V.bob's share",
      () => lockInLedger(small, p1, virtualFixture([ETH], [[3n, 3n]]), { left: 0, right: 1 }),
      InsufficientBalanceError,
    ],
    [
      "payer short of the fee",
      () => lockInLedger(small, p1, vv, { left: 0, right: 1 }, { payer: 0, payee: 1, amounts: [1n] }),
      InsufficientBalanceError,
    ],
    ["left = right", () => lockInLedger(l1, p1, v, { left: 0, right: 0 }), InvalidFieldError],
    ["unknown role index", () => lockInLedger(l1, p1, v, { left: 0, right: 2 }), UnknownParticipantError],
    [
      "fee to oneself",
      () => lockInLedger(l1, p1, v, { left: 0, right: 1 }, { payer: 1, payee: 1, amounts: [1n] }),
      InvalidFieldError,
    ],
    [
      "fee of wrong length",
      () => lockInLedger(l1, p1, v, { left: 0, right: 1 }, { payer: 0, payee: 1, amounts: [] }),
      InvalidFieldError,
    ],
    [
      "negative fee",
      () => lockInLedger(l1, p1, v, { left: 0, right: 1 }, { payer: 0, payee: 1, amounts: [-1n] }),
      InvalidFieldError,
    ],
    [
      "V already locked",
      () => lockInLedger(lockInLedger(l1, p1, v, { left: 0, right: 1 }), p1, v, { left: 0, right: 1 }),
      SubChannelAlreadyLockedError,
    ],
    [
      "id not V's",
      () => lockInLedger(l1, p1, { id: id2.id, initial: V.initial }, { left: 0, right: 1 }),
      InvalidFieldError,
    ],
    [
      "V with other assets",
      () =>
        lockInLedger(
          l1,
          p1,
          virtualFixture(ASSETS2, [
            [1n, 1n],
            [1n, 1n],
          ]),
          { left: 0, right: 1 },
        ),
      InvalidVirtualChannelError,
    ],
    [
      "V with locked funds",
      () =>
        lockInLedger(
          l1,
          p1,
          {
            id: V.id,
            initial: {
              ...V.initial,
              outcome: { ...V.initial.outcome, locked: [{ ID: V.id, balances: [1n], indexMap: [0] }] },
            },
          },
          { left: 0, right: 1 },
        ),
      InvalidVirtualChannelError,
    ],
    [
      "final V",
      () =>
        lockInLedger(l1, p1, { id: V.id, initial: { ...V.initial, isFinal: true } }, { left: 0, right: 1 }),
      InvalidVirtualChannelError,
    ],
    [
      "final ledger",
      () => lockInLedger({ ...l1, isFinal: true }, p1, v, { left: 0, right: 1 }),
      InvalidTransitionError,
    ],
    ["ledger state of other params", () => lockInLedger(l1, p2, v, { left: 0, right: 1 }), InvalidFieldError],
    [
      "non-ledger parent",
      () => lockInLedger(l1, { ...p1, ledgerChannel: false }, v, { left: 0, right: 1 }),
      InvalidFieldError,
    ],
  ];
  it.each(bad)("lock rejects %s", (_n, f, cls) => {
    expect(f).toThrow(cls);
  });

  it("says who lacks how much", () => {
    expect(() => lockInLedger(small, p1, virtualFixture([ETH], [[4n, 2n]]), { left: 0, right: 1 })).toThrow(
      expect.objectContaining({
        code: "INSUFFICIENT_BALANCE",
        details: expect.objectContaining({ participant: 0, balance: "3n", amount: "4n" }),
      }),
    );
  });

  const locked1 = lockInLedger(l1, p1, v, { left: 0, right: 1 });
  it.each([
    [
      "a non-final V state",
      () => unlockFromLedger(locked1, p1, { ...vEnd, isFinal: false }),
      VirtualStateNotFinalError,
    ],
    ["a V that is not locked", () => unlockFromLedger(l1, p1, vEnd), SubChannelNotLockedError],
    [
      "other totals",
      () => unlockFromLedger(locked1, p1, finalOf(V.initial, [[1n * E, 3n * E]])),
      VirtualTotalsMismatchError,
    ],
    [
      "V with other assets",
      () => unlockFromLedger(locked1, p1, { ...vEnd, outcome: { ...vEnd.outcome, assets: [ASSETS2[1]!] } }),
      InvalidVirtualChannelError,
    ],
    [
      "a final ledger",
      () => unlockFromLedger({ ...locked1, isFinal: true }, p1, vEnd),
      InvalidTransitionError,
    ],
  ] as [string, () => unknown, new (...a: never[]) => Error][])("unlock rejects %s", (_n, f, cls) => {
    expect(f).toThrow(cls);
  });
});

describe("checkLock", () => {
  const other: SubAlloc = { ID: `0x${"cd".repeat(32)}`, balances: [1n * E], indexMap: [1, 0] };
  const prev = ledgerState(p1, [ETH], [[10n * E, 9n * E]], 5n, [other]);
  const roles: LockRoles = { left: 0, right: 1 };
  const good = lockInLedger(prev, p1, v, roles, fee1);
  const exp = { v, roles, fee: fee1 };
  const withSub = (f: (s: SubAlloc) => SubAlloc): State => ({
    ...good,
    outcome: { ...good.outcome, locked: [other, f(good.outcome.locked[1] as SubAlloc)] },
  });
  const withBalances = (balances: bigint[][]): State => ({ ...good, outcome: { ...good.outcome, balances } });
  const [ga, gi] = good.outcome.balances[0] as [bigint, bigint];

  it("accepts exactly the expected lock (also with SubAllocs reordered) and returns V's SubAlloc", () => {
    expect(checkLock(prev, good, p1, exp)).toEqual({ ID: V.id, balances: [5n * E], indexMap: [0, 1] });
    const reordered = { ...good, outcome: { ...good.outcome, locked: [...good.outcome.locked].reverse() } };
    expect(() => checkLock(prev, reordered, p1, exp)).not.toThrow();
  });

  const cases: [string, State, string][] = [
    ["wrong id", withSub((s) => ({ ...s, ID: `0x${"ab".repeat(32)}` })), "sub-alloc-id"],
    ["wrong amounts", withSub((s) => ({ ...s, balances: [4n * E] })), "sub-alloc-amounts"],
    ["wrong indexMap", withSub((s) => ({ ...s, indexMap: [1, 0] })), "index-map"],
    ["a three-entry indexMap", withSub((s) => ({ ...s, indexMap: [0, 1, 1] })), "index-map"],
    ["an extra payment", withBalances([[ga - 1n, gi + 1n]]), "balances"],
    ["a debit from the wrong party", withBalances([[ga + 3n * E, gi - 3n * E]]), "balances"],
    ["the fee missing", withBalances([[ga + E / 100n, gi - E / 100n]]), "fee-missing"],
    [
      "a second new SubAlloc",
      {
        ...good,
        outcome: {
          ...good.outcome,
          locked: [...good.outcome.locked, { ...other, ID: `0x${"ef".repeat(32)}` }],
        },
      },
      "sub-alloc-count",
    ],
    ["no SubAlloc", { ...good, outcome: { ...good.outcome, locked: [other] } }, "sub-alloc-count"],
    [
      "another SubAlloc removed",
      { ...good, outcome: { ...good.outcome, locked: [good.outcome.locked[1] as SubAlloc] } },
      "other-sub-allocs",
    ],
    [
      "another SubAlloc changed",
      {
        ...good,
        outcome: {
          ...good.outcome,
          locked: [{ ...other, indexMap: [0, 1] }, good.outcome.locked[1] as SubAlloc],
        },
      },
      "other-sub-allocs",
    ],
    ["a skipped version", { ...good, version: good.version + 1n }, "version"],
    ["isFinal set", { ...good, isFinal: true }, "final"],
    ["app data", { ...good, appData: "0x01" }, "app-data"],
    ["another channel", { ...good, channelID: l2.channelID }, "channel-id"],
    ["other assets", { ...good, outcome: { ...good.outcome, backends: [1n] } }, "assets"],
  ];
  it.each(cases)("rejects %s", (_n, next, rule) => {
    expectCode(() => checkLock(prev, next, p1, exp), LockMismatchError, rule);
  });

  it("rejects when the agreed lock itself is impossible (insufficient balance)", () => {
    const poor = ledgerState(p1, [ETH], [[1n, 1n]]);
    expect(() => checkLock(poor, good, p1, exp)).toThrow(InsufficientBalanceError);
  });

  it("names the differing balance", () => {
    expect(() => checkLock(prev, withBalances([[ga - 1n, gi + 1n]]), p1, exp)).toThrow(
      expect.objectContaining({
        details: expect.objectContaining({ rule: "balances", participant: 0, got: `${ga - 1n}n` }),
      }),
    );
  });
});

describe("checkUnlock", () => {
  const locked = lockInLedger(l1, p1, v, { left: 0, right: 1 });
  const good = unlockFromLedger(locked, p1, vEnd);
  it("accepts exactly the expected unlock", () => {
    expect(() => checkUnlock(locked, good, p1, vEnd)).not.toThrow();
  });
  it.each([
    [
      "V still locked",
      { ...good, outcome: { ...good.outcome, locked: locked.outcome.locked } },
      "sub-alloc-not-removed",
    ],
    [
      "shares credited the wrong way round",
      { ...good, outcome: { ...good.outcome, balances: [[11n * E, 9n * E]] } },
      "balances",
    ],
    [
      "an extra SubAlloc",
      {
        ...good,
        outcome: { ...good.outcome, locked: [{ ID: `0x${"ab".repeat(32)}`, balances: [0n], indexMap: [0] }] },
      },
      "other-sub-allocs",
    ],
    ["a skipped version", { ...good, version: good.version + 2n }, "version"],
  ] as [string, State, string][])("rejects %s", (_n, next, rule) => {
    expectCode(() => checkUnlock(locked, next, p1, vEnd), LockMismatchError, rule);
  });
  it("rejects a V state that is not final", () => {
    expect(() => checkUnlock(locked, good, p1, { ...vEnd, isFinal: false })).toThrow(
      VirtualStateNotFinalError,
    );
  });
});

describe("intermediaryLocksMatch", () => {
  const L = (prev: State, params: Params, roles: LockRoles, fee?: LockFee): LedgerUpdate => ({
    prev,
    params,
    next: lockInLedger(prev, params, v, roles, fee),
  });
  const left = L(l1, p1, { left: 0, right: 1 }, fee1);
  const right = L(l2, p2, { left: 0, right: 1 });

  it("accepts matching locks; her net is the fee", () => {
    expect(intermediaryLocksMatch(left, right, V.initial, INGRID)).toEqual({ valid: true, fee: [E / 100n] });
    expect(intermediaryLocksMatch(left, right, V.initial, INGRID, [E / 100n])).toEqual({
      valid: true,
      fee: [E / 100n],
    });
    expect(intermediaryLocksMatch(L(l1, p1, { left: 0, right: 1 }), right, V.initial, INGRID)).toEqual({
      valid: true,
      fee: [0n],
    });
  });

  const rejects: [string, LedgerUpdate, LedgerUpdate, Address, (readonly bigint[])?][] = [
    ["V.alice credited to bob in L2 (indexMap swapped)", left, L(l2, p2, { left: 1, right: 0 }), INGRID],
    ["her fronting V.alice's share on both sides", L(l1, p1, { left: 1, right: 0 }, fee1), right, INGRID],
    ["a fee other than agreed", left, right, INGRID, [E]],
    ["a stranger as intermediary", left, right, addr(0x42)],
    [
      "different amounts locked",
      left,
      {
        ...right,
        next: {
          ...right.next,
          outcome: {
            ...right.next.outcome,
            locked: [{ ID: V.id, balances: [4n * E], indexMap: [0, 1] }],
            balances: [[7n * E, 9n * E]],
          },
        },
      },
      INGRID,
    ],
    [
      "another id locked",
      left,
      {
        ...right,
        next: {
          ...right.next,
          outcome: {
            ...right.next.outcome,
            locked: [{ ID: l1.channelID, balances: [5n * E], indexMap: [0, 1] }],
          },
        },
      },
      INGRID,
    ],
    [
      "funds not conserved",
      left,
      { ...right, next: { ...right.next, outcome: { ...right.next.outcome, balances: [[8n * E, 8n * E]] } } },
      INGRID,
    ],
    [
      "a skipped version",
      left,
      { ...right, next: { ...right.next, version: right.next.version + 1n } },
      INGRID,
    ],
    ["no lock at all", left, { ...right, next: { ...right.prev, version: right.prev.version + 1n } }, INGRID],
  ];
  it.each(rejects)("rejects %s", (_n, a, b, who, fee) => {
    const verdict = intermediaryLocksMatch(a, b, V.initial, who, fee);
    expect(verdict.valid).toBe(false);
    if (!verdict.valid) expect(verdict.reason.length).toBeGreaterThan(10);
  });

  it("is sound and complete: valid iff her net is the same non-negative amount for every V outcome", () => {
    // Hand-built lock-like updates with arbitrary indexMaps (even [0, 0]), debits and fee direction.
    const side = fc.record({
      indexMap: fc.tuple(fc.nat({ max: 1 }), fc.nat({ max: 1 })),
      fronts: fc.tuple(fc.nat({ max: 1 }), fc.nat({ max: 1 })),
      fee: fc.bigInt({ min: -5n, max: 5n }),
    });
    fc.assert(
      fc.property(side, side, vOutcomeArb(2), fc.bigInt({ min: 0n, max: 10n }), (sl, sr, o, wantFee) => {
        fc.pre(o.initial.every(([a, b]) => a + b > 0n));
        const vf = virtualFixture(ASSETS2, o.initial);
        const build = (params: Params, s: typeof sl): LedgerUpdate => {
          const prev = ledgerState(params, ASSETS2, [
            [10n ** 22n, 10n ** 22n],
            [10n ** 22n, 10n ** 22n],
          ]);
          const balances = prev.outcome.balances.map((row, a) => {
            const r = [...row];
            const [va, vb] = o.initial[a] as [bigint, bigint];
            r[s.fronts[0]] = (r[s.fronts[0]] as bigint) - va;
            r[s.fronts[1]] = (r[s.fronts[1]] as bigint) - vb;
            r[0] = (r[0] as bigint) - s.fee;
            r[1] = (r[1] as bigint) + s.fee;
            return r;
          });
          const sub = { ID: vf.id, balances: o.initial.map(([a, b]) => a + b), indexMap: s.indexMap };
          return {
            prev,
            params,
            next: {
              ...prev,
              version: prev.version + 1n,
              outcome: { ...prev.outcome, balances, locked: [sub] },
            },
          };
        };
        const pl = ledgerParams([ALICE, INGRID], 1n);
        const pr = ledgerParams([INGRID, BOB], 2n);
        const ul = build(pl, sl);
        const ur = build(pr, sr);
        const netFor = (split: [bigint, bigint][]): bigint[] => {
          const fin = finalOf(vf.initial, split);
          const el = unlockFromLedger(ul.next, pl, fin).outcome.balances;
          const er = unlockFromLedger(ur.next, pr, fin).outcome.balances;
          return split.map(
            (_, a) =>
              (el[a]?.[1] as bigint) -
              (ul.prev.outcome.balances[a]?.[1] as bigint) +
              (er[a]?.[0] as bigint) -
              (ur.prev.outcome.balances[a]?.[0] as bigint),
          );
        };
        const outcomes: [bigint, bigint][][] = [
          o.initial.map(([a, b]) => [a + b, 0n]),
          o.initial.map(([a, b]) => [0n, a + b]),
          o.final,
        ];
        const nets = outcomes.map(netFor);
        const constant = nets.every((n) => n.every((x, a) => x === nets[0]?.[a]));
        const safe = constant && (nets[0] as bigint[]).every((x) => x >= 0n);
        const verdict = intermediaryLocksMatch(ul, ur, vf.initial, INGRID);
        expect(verdict.valid).toBe(safe);
        if (verdict.valid) expect(verdict.fee).toEqual(nets[0]);
        const withFee = intermediaryLocksMatch(ul, ur, vf.initial, INGRID, [wantFee, wantFee]);
        expect(withFee.valid).toBe(safe && (nets[0] as bigint[]).every((x) => x === wantFee));
      }),
      { numRuns: 300 },
    );
  });
});

describe("lock then unlock through Ingrid (properties)", () => {
  const amount = fc.bigInt({ min: 0n, max: 10n ** 21n });
  it("Ingrid nets exactly her fee, Alice and Bob V's outcome change; every update is a valid conserving transition", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }).chain((n) =>
          fc.record({
            o: vOutcomeArb(n),
            fee: fc.array(fc.bigInt({ min: 0n, max: 10n ** 16n }), { minLength: n, maxLength: n }),
            spare: fc.array(fc.tuple(amount, amount, amount, amount), { minLength: n, maxLength: n }),
            swap1: fc.boolean(),
            swap2: fc.boolean(),
          }),
        ),
        ({ o, fee, spare, swap1, swap2 }) => {
          const n = fee.length;
          const assets = ASSETS2.slice(0, n);
          const vf = virtualFixture(assets, o.initial);
          const vr = { id: vf.id, initial: vf.initial };
          const vFin = finalOf(vf.initial, o.final);
          // Ledger participant order is random; balances cover exactly what is needed plus a random spare.
          const o1 = swap1 ? [INGRID, ALICE] : [ALICE, INGRID];
          const o2 = swap2 ? [BOB, INGRID] : [INGRID, BOB];
          const pa = ledgerParams(o1, 1n);
          const pb = ledgerParams(o2, 2n);
          const ix = (p: Params, a: Address): number => p.participants.findIndex((x) => x.ethAddress === a);
          const bal = (
            p: Params,
            need: Record<Address, bigint[]>,
            sp: (s: bigint[]) => [bigint, bigint],
          ): bigint[][] =>
            assets.map((_, a) => {
              const [s0, s1] = sp(spare[a] as unknown as bigint[]);
              return p.participants.map((x, i) => (need[x.ethAddress]?.[a] ?? 0n) + (i === 0 ? s0 : s1));
            });
          const aShare = o.initial.map((r) => r[0]);
          const bShare = o.initial.map((r) => r[1]);
          const L1 = ledgerState(
            pa,
            assets,
            bal(pa, { [ALICE]: aShare.map((x, a) => x + (fee[a] as bigint)), [INGRID]: bShare }, (s) => [
              s[0] as bigint,
              s[1] as bigint,
            ]),
          );
          const L2 = ledgerState(
            pb,
            assets,
            bal(pb, { [INGRID]: aShare, [BOB]: bShare }, (s) => [s[2] as bigint, s[3] as bigint]),
          );
          const r1 = { left: ix(pa, ALICE), right: ix(pa, INGRID) };
          const r2 = { left: ix(pb, INGRID), right: ix(pb, BOB) };
          const f1 = { payer: r1.left, payee: r1.right, amounts: fee };

          const L1v = lockInLedger(L1, pa, vr, r1, f1);
          const L2v = lockInLedger(L2, pb, vr, r2);
          checkLock(L1, L1v, pa, { v: vr, roles: r1, fee: f1 });
          checkLock(L2, L2v, pb, { v: vr, roles: r2 });
          expect(
            intermediaryLocksMatch(
              { prev: L1, next: L1v, params: pa },
              { prev: L2, next: L2v, params: pb },
              vf.initial,
              INGRID,
              fee,
            ),
          ).toEqual({ valid: true, fee });
          const L1e = unlockFromLedger(L1v, pa, vFin);
          const L2e = unlockFromLedger(L2v, pb, vFin);
          checkUnlock(L1v, L1e, pa, vFin);
          checkUnlock(L2v, L2e, pb, vFin);
          for (const [p, from, to] of [
            [pa, L1, L1v],
            [pa, L1v, L1e],
            [pb, L2, L2v],
            [pb, L2v, L2e],
          ] as const) {
            assertConserved(from.outcome, to.outcome);
            for (let actor = 0; actor < 2; actor++) checkTransition(p, channelId(p), from, to, actor);
          }
          const d = (p: Params, from: State, to: State, who: Address, a: number): bigint =>
            (to.outcome.balances[a]?.[ix(p, who)] as bigint) -
            (from.outcome.balances[a]?.[ix(p, who)] as bigint);
          assets.forEach((_, a) => {
            const [fa, fb] = o.final[a] as [bigint, bigint];
            expect(d(pa, L1, L1e, INGRID, a) + d(pb, L2, L2e, INGRID, a)).toBe(fee[a]);
            expect(d(pa, L1, L1e, ALICE, a)).toBe(fa - (aShare[a] as bigint) - (fee[a] as bigint));
            expect(d(pb, L2, L2e, BOB, a)).toBe(fb - (bShare[a] as bigint));
          });
          expect(L1e.outcome.locked).toEqual([]);
          expect(L2e.outcome.locked).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("checkLock rejects any lock with one balance moved", () => {
    fc.assert(
      fc.property(fc.nat({ max: 1 }), fc.bigInt({ min: 1n, max: 10n ** 18n }), (from, x) => {
        const good = lockInLedger(l1, p1, v, { left: 0, right: 1 }, fee1);
        const row = [...(good.outcome.balances[0] as bigint[])];
        row[from] = (row[from] as bigint) - x;
        row[1 - from] = (row[1 - from] as bigint) + x;
        const bad = { ...good, outcome: { ...good.outcome, balances: [row] } };
        expect(() => checkLock(l1, bad, p1, { v, roles: { left: 0, right: 1 }, fee: fee1 })).toThrow(
          LockMismatchError,
        );
      }),
    );
  });
});
