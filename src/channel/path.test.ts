import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertConserved } from "./allocation.js";
import { InvalidFieldError } from "./errors.js";
import { channelId } from "./hash.js";
import { hopLockArgs, lockPosition, netPositions, pathLocks } from "./path.js";
import { checkTransition } from "./transition.js";
import type { Address, Params, State } from "./types.js";
import { checkLock, checkUnlock, intermediaryLocksMatch, lockInLedger, unlockFromLedger } from "./virtual.js";
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
import { VirtualTotalsMismatchError } from "./virtualErrors.js";

const I2 = addr(0x22);
const V = virtualFixture([ETH], [[3n, 2n]]);

describe("pathLocks", () => {
  it("one intermediary: Alice pays Ingrid's fee in L1, no fee towards Bob", () => {
    expect(pathLocks([ALICE, INGRID, BOB], V.initial, [[1n]])).toEqual([
      {
        index: 0,
        left: ALICE,
        right: INGRID,
        leftFronts: [3n],
        rightFronts: [2n],
        locked: [5n],
        fee: { payer: ALICE, payee: INGRID, amounts: [1n] },
      },
      { index: 1, left: INGRID, right: BOB, leftFronts: [3n], rightFronts: [2n], locked: [5n], fee: null },
    ]);
  });

  it("two intermediaries: each hop passes on the fees of everyone after it", () => {
    const hops = pathLocks([ALICE, INGRID, I2, BOB], V.initial, [[1n], [4n]]);
    expect(hops.map((h) => h.fee?.amounts ?? null)).toEqual([[5n], [4n], null]);
    expect(hops.map((h) => [h.left, h.right])).toEqual([
      [ALICE, INGRID],
      [INGRID, I2],
      [I2, BOB],
    ]);
  });

  it("zero fees move nothing", () => {
    expect(pathLocks([ALICE, INGRID, BOB], V.initial, [[0n]]).every((h) => h.fee === null)).toBe(true);
  });

  it.each([
    ["a path of 2", [ALICE, BOB], []],
    ["a loop", [ALICE, INGRID, ALICE, BOB], [[0n], [0n]]],
    ["too few fees", [ALICE, INGRID, I2, BOB], [[0n]]],
    ["a fee per wrong number of assets", [ALICE, INGRID, BOB], [[0n, 0n]]],
    ["a negative fee", [ALICE, INGRID, BOB], [[-1n]]],
  ] as [string, Address[], bigint[][]][])("rejects %s", (_n, path, fees) => {
    expect(() => pathLocks(path, V.initial, fees)).toThrow(InvalidFieldError);
  });

  it("hopLockArgs maps addresses to the ledger's participant order", () => {
    const [h0] = pathLocks([ALICE, INGRID, BOB], V.initial, [[1n]]);
    expect(hopLockArgs(h0!, ledgerParams([INGRID, ALICE]))).toEqual({
      roles: { left: 1, right: 0 },
      fee: { payer: 1, payee: 0, amounts: [1n] },
    });
    expect(() => hopLockArgs(h0!, ledgerParams([INGRID, BOB]))).toThrow(InvalidFieldError);
  });
});

describe("netPositions", () => {
  it("Alice pays V's change plus all fees, Bob gets V's change, intermediaries their fee", () => {
    const fin = finalOf(V.initial, [[1n, 4n]]);
    expect(netPositions([ALICE, INGRID, I2, BOB], V.initial, fin, [[1n], [4n]])).toEqual([
      { address: ALICE, net: [1n - 3n - 5n] },
      { address: INGRID, net: [1n] },
      { address: I2, net: [4n] },
      { address: BOB, net: [4n - 2n] },
    ]);
  });
  it("rejects an outcome with another total", () => {
    expect(() =>
      netPositions([ALICE, INGRID, BOB], V.initial, finalOf(V.initial, [[1n, 1n]]), [[0n]]),
    ).toThrow(VirtualTotalsMismatchError);
  });
});

describe("paths of 1..4 intermediaries (property)", () => {
  it("locking and unlocking in every ledger channel nets every intermediary exactly its fee", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 4 }).chain((n) =>
          fc.record({
            fees: fc.array(
              fc.array(fc.bigInt({ min: 0n, max: 10n ** 15n }), { minLength: 2, maxLength: 2 }),
              { minLength: n, maxLength: n },
            ),
            swaps: fc.array(fc.boolean(), { minLength: n + 1, maxLength: n + 1 }),
            spare: fc.bigInt({ min: 0n, max: 10n ** 20n }),
          }),
        ),
        vOutcomeArb(2),
        (nAssets, r, o) => {
          const n = r.fees.length;
          const assets = ASSETS2.slice(0, nAssets);
          const fees = r.fees.map((f) => f.slice(0, nAssets));
          const path: Address[] = [ALICE, ...Array.from({ length: n }, (_, j) => addr(0x30 + j)), BOB];
          const vf = virtualFixture(assets, o.initial.slice(0, nAssets));
          const vFin = finalOf(vf.initial, o.final.slice(0, nAssets));
          const vr = { id: vf.id, initial: vf.initial };
          const hops = pathLocks(path, vf.initial, fees);
          const ledgers = hops.map((h, k) => {
            const parts = r.swaps[k] ? [h.right, h.left] : [h.left, h.right];
            const params = ledgerParams(parts, BigInt(k + 1));
            // Each party holds what it must front (plus the fee it passes on) plus a spare.
            const balances = assets.map((_, a) =>
              parts.map(
                (p) =>
                  r.spare +
                  (p === h.left
                    ? (h.leftFronts[a] as bigint) + (h.fee?.amounts[a] ?? 0n)
                    : (h.rightFronts[a] as bigint)),
              ),
            );
            return { params, hop: h, prev: ledgerState(params, assets, balances) };
          });
          const locked = ledgers.map(({ params, hop, prev }) => {
            const { roles, fee } = hopLockArgs(hop, params);
            const next = lockInLedger(prev, params, vr, roles, fee);
            checkLock(prev, next, params, fee === undefined ? { v: vr, roles } : { v: vr, roles, fee });
            valid(params, prev, next);
            return { params, prev, next };
          });
          // Every intermediary accepts its pair of locks, netting exactly its fee.
          for (let j = 0; j < n; j++) {
            const verdict = intermediaryLocksMatch(
              locked[j]!,
              locked[j + 1]!,
              vf.initial,
              path[j + 1]!,
              fees[j],
            );
            expect(verdict).toEqual({ valid: true, fee: fees[j] });
          }
          const ended = locked.map(({ params, prev, next }) => {
            const end = unlockFromLedger(next, params, vFin);
            checkUnlock(next, end, params, vFin);
            valid(params, next, end);
            return { params, start: prev, end };
          });
          const actual = path.map((who) =>
            assets.map((_, a) =>
              ended.reduce((s, { params, start, end }) => {
                const i = params.participants.findIndex((p) => p.ethAddress === who);
                return i < 0
                  ? s
                  : s + (end.outcome.balances[a]?.[i] as bigint) - (start.outcome.balances[a]?.[i] as bigint);
              }, 0n),
            ),
          );
          const predicted = netPositions(path, vf.initial, vFin, fees);
          expect(predicted.map((p) => p.net)).toEqual(actual);
          const allFees = assets.map((_, a) => fees.reduce((s, f) => s + (f[a] as bigint), 0n));
          assets.forEach((_, a) => {
            const [ia, ib] = o.initial[a] as [bigint, bigint];
            const [fa, fb] = o.final[a] as [bigint, bigint];
            expect(actual[0]?.[a]).toBe(fa - ia - (allFees[a] as bigint));
            expect(actual[n + 1]?.[a]).toBe(fb - ib);
            for (let j = 0; j < n; j++) expect(actual[j + 1]?.[a]).toBe(fees[j]?.[a]);
          });
        },
      ),
      { numRuns: 150 },
    );
  });
});

function valid(params: Params, from: State, to: State): void {
  assertConserved(from.outcome, to.outcome);
  checkTransition(params, channelId(params), from, to, 0);
}

describe("lockPosition", () => {
  const [a, i1, i2, b] = ["0x01", "0x02", "0x03", "0x04"].map((x) => `0x${x.slice(2).padStart(40, "0")}`) as [
    Address,
    Address,
    Address,
    Address,
  ];
  const path = [a, i1, i2, b];
  const ids = ["0xaa", "0xbb", "0xcc"];

  it("places a lock on one of the intermediary's two hops, with the right neighbour", () => {
    expect(lockPosition(path, ids, i1, "0xAA", a)).toEqual({ ok: true, me: 1, hop: 0, last: false });
    expect(lockPosition(path, ids, i1, "0xbb", i2)).toEqual({ ok: true, me: 1, hop: 1, last: false });
    expect(lockPosition(path, ids, i2, "0xbb", i1)).toEqual({ ok: true, me: 2, hop: 1, last: true });
    expect(lockPosition(path, ids, i2, "0xcc", b)).toEqual({ ok: true, me: 2, hop: 2, last: true });
  });

  it("refuses ends, strangers, far hops and the wrong peer", () => {
    expect(lockPosition(path, ids, a, "0xaa", i1)).toMatchObject({
      ok: false,
      reason: /not an intermediary/,
    });
    expect(lockPosition(path, ids, b, "0xcc", i2)).toMatchObject({
      ok: false,
      reason: /not an intermediary/,
    });
    expect(lockPosition(path, ids, i1, "0xcc", i2)).toMatchObject({ ok: false, reason: /next to us/ });
    expect(lockPosition(path, ids, i1, "0xdd", i2)).toMatchObject({ ok: false, reason: /next to us/ });
    expect(lockPosition(path, ids, i1, "0xaa", i2)).toMatchObject({ ok: false, reason: /neighbour/ });
  });
});
