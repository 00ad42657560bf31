import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidFieldError } from "./errors.js";
import type { RentalTerms } from "./fees.js";
import { rentalFee } from "./fees.js";
import type { ChannelGraph, LedgerEdge, PathRequest } from "./pathfinding.js";
import { findPath, NoPathError } from "./pathfinding.js";
import type { Address } from "./types.js";
import { addr } from "./virtual.testutil.js";

const [A, B, I1, I2, I3] = [addr(0xaa), addr(0xbb), addr(0x11), addr(0x22), addr(0x33)] as [
  Address,
  Address,
  Address,
  Address,
  Address,
];
const flat = (baseFee: bigint, maxDurationSeconds = 3600n): RentalTerms => ({
  baseFee,
  ratePerSecondPerUnit: 0n,
  maxDurationSeconds,
});
const edge = (from: Address, to: Address, capacityFrom = 100n, capacityTo = 100n): LedgerEdge => ({
  from,
  to,
  capacityFrom,
  capacityTo,
});
const req: PathRequest = { aliceShare: 10n, bobShare: 5n, seconds: 60n };

// Diamond: A - I1 - B (I1 charges 3) and A - I2 - B (I2 charges 1), plus A - I1 - I3 - B.
const diamond = (over: Partial<ChannelGraph> = {}): ChannelGraph => ({
  nodes: [A, B, I1, I2, I3],
  edges: [edge(A, I1), edge(I1, B), edge(A, I2), edge(I2, B), edge(I1, I3), edge(I3, B)],
  intermediaries: [
    { address: I1, terms: flat(3n) },
    { address: I2, terms: flat(1n) },
    { address: I3, terms: flat(1n) },
  ],
  ...over,
});

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NoPathError);
    return (e as NoPathError).reason;
  }
  throw new Error("expected NoPathError");
}

describe("findPath", () => {
  it("picks the cheapest path", () => {
    expect(findPath(diamond(), A, B, req)).toEqual({
      path: [A, I2, B],
      edges: [2, 3],
      fees: [1n],
      totalFee: 1n,
    });
  });

  it("uses a ledger channel in either direction", () => {
    const g = diamond({ edges: [edge(I1, A), edge(B, I1)] });
    expect(findPath(g, A, B, req).path).toEqual([A, I1, B]);
  });

  it("skips the cheap path when a side lacks capacity", () => {
    // I2 cannot front V.alice's share towards B.
    const g = diamond({ edges: [edge(A, I1), edge(I1, B), edge(A, I2), edge(I2, B, 9n, 100n)] });
    expect(findPath(g, A, B, req)).toMatchObject({ path: [A, I1, B], totalFee: 3n });
    // B cannot front V.bob's share towards I2.
    const g2 = diamond({ edges: [edge(A, I1), edge(I1, B), edge(A, I2), edge(I2, B, 100n, 4n)] });
    expect(findPath(g2, A, B, req).path).toEqual([A, I1, B]);
  });

  it("counts the fees a left party passes on against its capacity", () => {
    // A - I1 - I3 - B: A must front 10 + 3 + 1, I1 10 + 1, I3 10.
    const g = (capA: bigint, capI1: bigint): ChannelGraph =>
      diamond({ edges: [edge(A, I1, capA), edge(I1, I3, capI1), edge(I3, B)] });
    expect(findPath(g(14n, 11n), A, B, req)).toEqual({
      path: [A, I1, I3, B],
      edges: [0, 1, 2],
      fees: [3n, 1n],
      totalFee: 4n,
    });
    expect(reason(() => findPath(g(13n, 11n), A, B, req))).toMatch(/lack capacity.*can front 13 < 14/);
    expect(reason(() => findPath(g(14n, 10n), A, B, req))).toMatch(/can front 10 < 11/);
  });

  it("prices collateral and time, and skips intermediaries renting out less than asked", () => {
    const rate: RentalTerms = { baseFee: 0n, ratePerSecondPerUnit: 10n ** 18n, maxDurationSeconds: 100n };
    const rich = [edge(A, I1, 9999n), edge(I1, B), edge(A, I2, 9999n), edge(I2, B)];
    const g = diamond({
      edges: rich,
      intermediaries: [
        { address: I1, terms: flat(1000n) },
        { address: I2, terms: rate },
      ],
    });
    expect(findPath(g, A, B, req)).toMatchObject({
      path: [A, I2, B],
      fees: [rentalFee(rate, 15n, 60n)],
      totalFee: 900n,
    });
    expect(findPath(g, A, B, { ...req, seconds: 101n }).path).toEqual([A, I1, B]);
    const only = diamond({ edges: rich, intermediaries: [{ address: I2, terms: rate }] });
    expect(reason(() => findPath(only, A, B, { ...req, seconds: 101n }))).toMatch(
      /1 intermediary\(ies\) rent out less than 101 s/,
    );
  });

  it("never routes through a node without terms, nor directly", () => {
    const g: ChannelGraph = { nodes: [A, B, I1], edges: [edge(A, B), edge(A, I1), edge(I1, B)] };
    expect(reason(() => findPath(g, A, B, req))).toMatch(/no chain of ledger channels/);
  });

  it("refuses unknown nodes and bad requests", () => {
    expect(reason(() => findPath(diamond(), A, addr(0x99), req))).toMatch(/not in graph.nodes/);
    expect(() => findPath(diamond(), A, A, req)).toThrow(InvalidFieldError);
    expect(() => findPath(diamond(), A, B, { ...req, aliceShare: -1n })).toThrow(InvalidFieldError);
    expect(() => findPath(diamond({ edges: [edge(A, addr(0x99))] }), A, B, req)).toThrow(InvalidFieldError);
  });

  it("equals a brute-force search over all simple paths (property)", () => {
    const N = 6; // node 0 = Alice, 1 = Bob
    const nodes = Array.from({ length: N }, (_, i) => addr(0x40 + i));
    const graphArb = fc.record({
      edges: fc.array(
        fc.record({
          from: fc.nat({ max: N - 1 }),
          to: fc.nat({ max: N - 1 }),
          capacityFrom: fc.bigInt({ min: 0n, max: 40n }),
          capacityTo: fc.bigInt({ min: 0n, max: 40n }),
        }),
        { maxLength: 14 },
      ),
      terms: fc.array(
        fc.option(
          fc.record({ base: fc.bigInt({ min: 0n, max: 8n }), max: fc.bigInt({ min: 0n, max: 100n }) }),
        ),
        {
          minLength: N,
          maxLength: N,
        },
      ),
      a: fc.bigInt({ min: 0n, max: 20n }),
      b: fc.bigInt({ min: 0n, max: 20n }),
      seconds: fc.bigInt({ min: 0n, max: 100n }),
    });
    fc.assert(
      fc.property(graphArb, (g) => {
        const graph: ChannelGraph = {
          nodes,
          edges: g.edges.map((e) => ({ ...e, from: nodes[e.from]!, to: nodes[e.to]! })),
          intermediaries: g.terms.flatMap((t, i) =>
            t === null || i < 2
              ? []
              : [
                  {
                    address: nodes[i]!,
                    terms: { baseFee: t.base, ratePerSecondPerUnit: 0n, maxDurationSeconds: t.max },
                  },
                ],
          ),
        };
        const fee = (i: number): bigint | null => {
          const t = g.terms[i];
          return i < 2 || t === null || t === undefined || g.seconds > t.max ? null : t.base;
        };
        // Can u front `left` and v front `right` in some ledger channel between them?
        const hopOk = (u: number, v: number, left: bigint, right: bigint): boolean =>
          g.edges.some(
            (e) =>
              (e.from === u && e.to === v && e.capacityFrom >= left && e.capacityTo >= right) ||
              (e.from === v && e.to === u && e.capacityTo >= left && e.capacityFrom >= right),
          );
        const feasible = (p: number[]): boolean =>
          p.slice(0, -1).every((u, k) => {
            const passOn =
              p.slice(k + 2, -1).reduce((s, j) => s + (fee(j) as bigint), 0n) +
              (k + 1 < p.length - 1 ? (fee(p[k + 1]!) as bigint) : 0n);
            return hopOk(u, p[k + 1]!, g.a + (k + 1 === p.length - 1 ? 0n : passOn), g.b);
          });
        let best: bigint | null = null;
        const walk = (p: number[]): void => {
          const last = p[p.length - 1]!;
          for (let v = 1; v < N; v++) {
            if (p.includes(v)) continue;
            if (v === 1) {
              if (p.length >= 2 && feasible([...p, 1])) {
                const cost = p.slice(1).reduce((s, j) => s + (fee(j) as bigint), 0n);
                if (best === null || cost < best) best = cost;
              }
            } else if (
              fee(v) !== null &&
              g.edges.some((e) => (e.from === last && e.to === v) || (e.from === v && e.to === last))
            ) {
              walk([...p, v]);
            }
          }
        };
        walk([0]);
        let found: ReturnType<typeof findPath> | null = null;
        try {
          found = findPath(graph, nodes[0]!, nodes[1]!, {
            aliceShare: g.a,
            bobShare: g.b,
            seconds: g.seconds,
          });
        } catch (e) {
          if (!(e instanceof NoPathError)) throw e;
        }
        expect(found?.totalFee ?? null).toBe(best);
        if (found !== null) {
          const ix = found.path.map((a) => nodes.indexOf(a));
          expect(feasible(ix)).toBe(true);
          expect(found.fees).toEqual(ix.slice(1, -1).map((i) => fee(i)));
          expect(new Set(ix).size).toBe(ix.length);
        }
      }),
      { numRuns: 500 },
    );
  });
});
