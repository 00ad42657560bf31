/**
 * Finding a path of intermediaries for a virtual channel (design.md section 5), pure.
 *
 * Graph model (one asset):
 * - `nodes`: known addresses.
 * - `edges`: one entry per open ledger channel, undirected; `capacityFrom` is what `from` can still
 *   lock in it (its free balance), `capacityTo` what `to` can. A path may use a ledger channel in
 *   either direction.
 * - `intermediaries`: the nodes that relay virtual channels, with their `RentalTerms`. Only these may
 *   stand between Alice and Bob; a node without terms is never used as an intermediary.
 *
 * A path Alice = p0 - p1 - ... - pn+1 = Bob (n >= 1 intermediaries) is feasible iff in every hop
 * (pk, pk+1) the left party can front V.alice's share plus the fees it passes on (those of pk+1..pn,
 * see `path.ts`) and the right party can front V.bob's share (an incoming fee is not counted). Each
 * intermediary charges `rentalFee(terms, aliceShare + bobShare, seconds)`, since it fronts V.bob's
 * share on one side and V.alice's on the other; an intermediary whose maximum duration is below
 * `seconds` is skipped. Cost = sum of fees.
 *
 * Search: Dijkstra backwards from Bob. dist(u) = fees of the intermediaries after u on its best path
 * to Bob = what u must pass on in its hop. A lower dist(w) is both cheaper and easier to front for
 * every node before w, so the first path reaching Alice is the cheapest feasible one. O(V^2 + E).
 * Ties: fewer hops, then the order of `graph.edges`.
 */
import { PerunError } from "../errors.js";
import { InvalidFieldError } from "./errors.js";
import type { RentalTerms } from "./fees.js";
import { RentalDurationExceededError, rentalFee } from "./fees.js";
import type { Address } from "./types.js";

/** One ledger channel between `from` and `to`, with each side's free capacity. */
export interface LedgerEdge {
  readonly from: Address;
  readonly to: Address;
  /** What `from` can still lock in this channel. */
  readonly capacityFrom: bigint;
  /** What `to` can still lock in this channel. */
  readonly capacityTo: bigint;
}

export interface IntermediaryOffer {
  readonly address: Address;
  readonly terms: RentalTerms;
}

export interface ChannelGraph {
  readonly nodes: readonly Address[];
  readonly edges: readonly LedgerEdge[];
  readonly intermediaries?: readonly IntermediaryOffer[];
}

export interface PathRequest {
  readonly aliceShare: bigint;
  readonly bobShare: bigint;
  /** Validity of V, i.e. how long the collateral is rented. */
  readonly seconds: bigint;
}

export interface FoundPath {
  /** Alice, the intermediaries, Bob. */
  readonly path: Address[];
  /** Index into `graph.edges` of the ledger channel used for each hop. */
  readonly edges: number[];
  /** Fee of each intermediary, in path order (fees[j] is path[j+1]'s): the `fees` of `pathLocks`, one asset. */
  readonly fees: bigint[];
  readonly totalFee: bigint;
}

/** No path of willing intermediaries with enough capacity connects the two nodes. */
export class NoPathError extends PerunError {
  readonly reason: string;
  constructor(from: Address, to: Address, reason: string, details: Record<string, unknown> = {}) {
    super("NO_PATH", `No virtual channel path from ${from} to ${to}: ${reason}.`, {
      details: { from, to, reason, ...details },
      hint: "Open or fund ledger channels with an intermediary, lower the amounts, or shorten the validity.",
    });
    this.reason = reason;
  }
}

/** The cheapest feasible path from `from` (Alice) to `to` (Bob); throws `NoPathError` if none. */
export function findPath(graph: ChannelGraph, from: Address, to: Address, req: PathRequest): FoundPath {
  for (const [k, v] of [
    ["aliceShare", req.aliceShare],
    ["bobShare", req.bobShare],
    ["seconds", req.seconds],
  ] as const) {
    if (typeof v !== "bigint" || v < 0n) throw new InvalidFieldError(k, "a non-negative bigint", v);
  }
  const key = (a: Address): string => a.toLowerCase();
  const nodes = new Map<string, Address>();
  for (const n of graph.nodes) nodes.set(key(n), n);
  for (const [what, a] of [
    ["from", from],
    ["to", to],
  ] as const) {
    if (!nodes.has(key(a))) throw new NoPathError(from, to, `${what} ${a} is not in graph.nodes`);
  }
  if (key(from) === key(to)) throw new InvalidFieldError("to", "an address other than from", to);
  graph.edges.forEach((e, i) => {
    if (!nodes.has(key(e.from)))
      throw new InvalidFieldError(`graph.edges[${i}].from`, "a node of the graph", e.from);
    if (!nodes.has(key(e.to)))
      throw new InvalidFieldError(`graph.edges[${i}].to`, "a node of the graph", e.to);
  });

  // Fee of each willing intermediary; a node over its max duration is not one.
  const collateral = req.aliceShare + req.bobShare;
  const fee = new Map<string, bigint>();
  const tooLong: string[] = [];
  for (const o of graph.intermediaries ?? []) {
    const k = key(o.address);
    if (k === key(from) || k === key(to)) continue;
    try {
      fee.set(k, rentalFee(o.terms, collateral, req.seconds));
    } catch (e) {
      if (!(e instanceof RentalDurationExceededError)) throw e;
      tooLong.push(o.address);
    }
  }

  // Incident edges per node: [edge index, other end, capacity of this node, capacity of the other].
  const adj = new Map<string, [number, string, bigint, bigint][]>();
  const link = (a: string, x: [number, string, bigint, bigint]): void => {
    const l = adj.get(a) ?? [];
    l.push(x);
    adj.set(a, l);
  };
  graph.edges.forEach((e, i) => {
    const f = key(e.from);
    const t = key(e.to);
    if (f === t) return;
    link(f, [i, t, e.capacityFrom, e.capacityTo]);
    link(t, [i, f, e.capacityTo, e.capacityFrom]);
  });

  const dist = new Map<string, bigint>([[key(to), 0n]]);
  const hops = new Map<string, number>([[key(to), 0]]);
  const via = new Map<string, { next: string; edge: number }>();
  const settled = new Set<string>();
  const lacking: string[] = [];
  let found = false;
  for (;;) {
    let w: string | undefined;
    for (const [k, d] of dist) {
      if (settled.has(k)) continue;
      if (
        w === undefined ||
        d < (dist.get(w) as bigint) ||
        (d === dist.get(w) && (hops.get(k) as number) < (hops.get(w) as number))
      ) {
        w = k;
      }
    }
    if (w === undefined) break;
    settled.add(w);
    if (w === key(from)) {
      found = true;
      break;
    }
    const isBob = w === key(to);
    // What the left neighbour u passes on in hop (u, w): nothing towards Bob, else w's fee and beyond.
    const passOn = isBob ? 0n : (dist.get(w) as bigint) + (fee.get(w) as bigint);
    for (const [edge, u, capW, capU] of adj.get(w) ?? []) {
      if (settled.has(u)) continue;
      if (isBob && u === key(from)) continue; // a direct channel is no virtual channel path
      if (u !== key(from) && !fee.has(u)) continue; // u cannot relay
      if (capW < req.bobShare) {
        lacking.push(`${nodes.get(w)} can front ${capW} < ${req.bobShare} towards ${nodes.get(u)}`);
        continue;
      }
      if (capU < req.aliceShare + passOn) {
        lacking.push(
          `${nodes.get(u)} can front ${capU} < ${req.aliceShare + passOn} towards ${nodes.get(w)}`,
        );
        continue;
      }
      const h = (hops.get(w) as number) + 1;
      const d = dist.get(u);
      if (d === undefined || passOn < d || (passOn === d && h < (hops.get(u) as number))) {
        dist.set(u, passOn);
        hops.set(u, h);
        via.set(u, { next: w, edge });
      }
    }
  }
  if (!found) {
    const parts: string[] = [];
    if (lacking.length > 0)
      parts.push(
        `${lacking.length} ledger channel side(s) lack capacity (${lacking.slice(0, 3).join("; ")})`,
      );
    if (tooLong.length > 0)
      parts.push(`${tooLong.length} intermediary(ies) rent out less than ${req.seconds} s`);
    const reason =
      parts.length > 0
        ? parts.join("; ")
        : "no chain of ledger channels connects them through an intermediary";
    throw new NoPathError(from, to, reason, { lacking: lacking.length, tooLong: tooLong.length });
  }
  const path: Address[] = [];
  const edges: number[] = [];
  let cur = key(from);
  path.push(nodes.get(cur) as Address);
  while (cur !== key(to)) {
    const step = via.get(cur) as { next: string; edge: number };
    edges.push(step.edge);
    cur = step.next;
    path.push(nodes.get(cur) as Address);
  }
  const fees = path.slice(1, -1).map((a) => fee.get(key(a)) as bigint);
  return { path, edges, fees, totalFee: fees.reduce((s, f) => s + f, 0n) };
}
