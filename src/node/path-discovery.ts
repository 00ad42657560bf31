/**
 * Finding the intermediaries of a virtual channel from what nodes publish, for `perun open-virtual
 * --auto` (design.md section 5; the search itself is `findPath` in src/channel/pathfinding.ts).
 *
 * Every node of a directory (a list of node API URLs) publishes who it is and its rental terms
 * (GET /v1/info) and its open ledger channels with each side's free balance (GET /v1/graph). From
 * those this file builds the `ChannelGraph` of one asset, runs `findPath` from us to the peer, and
 * turns the path into the fields of POST /v1/virtual: `via`, our `ledger`, the `peerLedger`s after
 * it and each intermediary's fee as her terms quote it.
 *
 * What arrives is untrusted JSON: it is checked field by field (house style rule 8), and a node's
 * claims only shape the graph. A wrong claim at worst picks a path whose locks the path then refuses
 * (the intermediaries check every lock and fee themselves); so a channel with us counts only if our
 * own node lists it, and a channel both ends describe differently is left out.
 *
 * Everything but `fetchDirectoryNode` is pure and tested without nodes.
 *
 * @example
 * const self = await fetchDirectoryNode("http://127.0.0.1:5001", { headers: api.authHeaders() });
 * const others = await Promise.all(urls.map((u) => fetchDirectoryNode(u, { headers: auth(u) })));
 * const p = discoverPath(self, others, bob, { deposit: 10n ** 18n, peerDeposit: 0n, seconds: 3600n });
 * // p.via, p.ledger, p.peerLedger, p.fees: the body of POST /v1/virtual
 */
import { getAddress, isAddress } from "viem";
import type { RentalTerms } from "../channel/fees.js";
import {
  type ChannelGraph,
  findPath,
  type IntermediaryOffer,
  type LedgerEdge,
  NoPathError,
} from "../channel/pathfinding.js";
import type { Address, Hex } from "../channel/types.js";
import { describe, PerunError } from "../errors.js";

/** One node of the directory: its GET /v1/info and GET /v1/graph, checked. */
export interface DirectoryNode {
  /** Where it was fetched from (for messages). */
  readonly url: string;
  readonly address: Address;
  readonly chainId: number;
  readonly adjudicator: Address;
  /** Asset holder by the node's own symbol. */
  readonly assets: Readonly<Record<string, Address>>;
  /** Its rental terms if it relays virtual channels, else null. */
  readonly terms: RentalTerms | null;
  readonly ledgers: readonly DirectoryLedger[];
}

/** One ledger channel as its node `DirectoryNode.address` publishes it. */
export interface DirectoryLedger {
  readonly channelID: Hex;
  readonly peer: Address;
  /** The channel's one asset holder. */
  readonly holder: Address;
  /** Free balance of [the publishing node, the peer]. */
  readonly capacity: readonly [bigint, bigint];
}

/** What the virtual channel asks of the path: V's balances (ours, the peer's) and its validity. */
export interface DiscoveryRequest {
  readonly deposit: bigint;
  readonly peerDeposit: bigint;
  readonly seconds: bigint;
}

/** A path found in the directory, as the fields of POST /v1/virtual. */
export interface DiscoveredPath {
  /** Us, the intermediaries, the peer. */
  readonly path: Address[];
  /** The intermediaries in path order. */
  readonly via: Address[];
  /** Our ledger channel with via[0]. */
  readonly ledger: Hex;
  /** The ledger channels after ours, in path order (via[0]-via[1], ..., last intermediary-peer). */
  readonly peerLedger: Hex[];
  /** Each intermediary's fee by her published terms (wei). */
  readonly fees: bigint[];
  readonly totalFee: bigint;
  /** Channels left out of the graph, and why (for the user, not an error). */
  readonly warnings: string[];
}

/** A directory node answered with something that is not what GET /v1/info or /v1/graph publish. */
export class DirectoryError extends PerunError {
  readonly url: string;
  constructor(
    code: "DIRECTORY_INVALID" | "DIRECTORY_MISMATCH" | "DIRECTORY_UNREACHABLE",
    url: string,
    message: string,
    hint: string,
    cause?: unknown,
  ) {
    super(code, message, { details: { url }, hint, ...(cause === undefined ? {} : { cause }) });
    this.url = url;
  }
}

const WEI = /^(0|[1-9][0-9]{0,77})$/;
const ID = /^0x[0-9a-fA-F]{64}$/;
const FIX_HINT = "Is every --directory URL the local API of a perun node (GET <url>/v1/info and /v1/graph)?";

/**
 * An intermediary's terms as published in GET /v1/info (`intermediary`): wei as decimal strings,
 * seconds as a number; null or absent (a node from before virtual channels) = no terms.
 */
export function parseTerms(url: string, t: unknown): RentalTerms | null {
  if (t === null || t === undefined) return null;
  const o = t as Record<string, unknown>;
  const wei = (x: unknown): x is string => typeof x === "string" && WEI.test(x);
  if (
    typeof t !== "object" ||
    !wei(o.baseFee) ||
    !wei(o.ratePerSecondPerUnit) ||
    typeof o.maxDurationSeconds !== "number" ||
    !Number.isSafeInteger(o.maxDurationSeconds) ||
    o.maxDurationSeconds < 0
  ) {
    throw new DirectoryError(
      "DIRECTORY_INVALID",
      url,
      `The terms ${url} publishes are malformed: ${describe(t)}.`,
      "Give the fee yourself with --fee, or leave that node out.",
    );
  }
  return {
    baseFee: BigInt(o.baseFee),
    ratePerSecondPerUnit: BigInt(o.ratePerSecondPerUnit),
    maxDurationSeconds: BigInt(o.maxDurationSeconds),
  };
}

/** Checks a node's GET /v1/info and GET /v1/graph answers (untrusted JSON) and joins them. */
export function parseDirectoryNode(url: string, info: unknown, graph: unknown): DirectoryNode {
  const bad = (what: string, got: unknown): DirectoryError =>
    new DirectoryError(
      "DIRECTORY_INVALID",
      url,
      `${url} publishes a malformed ${what}: got ${describe(got)}.`,
      FIX_HINT,
    );
  const obj = (x: unknown, what: string): Record<string, unknown> => {
    if (typeof x !== "object" || x === null || Array.isArray(x)) throw bad(what, x);
    return x as Record<string, unknown>;
  };
  const addr = (x: unknown, what: string): Address => {
    if (typeof x !== "string" || !isAddress(x, { strict: true })) throw bad(what, x);
    return getAddress(x);
  };
  const i = obj(info, "GET /v1/info (not an object)");
  const address = addr(i.address, "info.address");
  if (typeof i.chainId !== "number" || !Number.isSafeInteger(i.chainId) || i.chainId <= 0)
    throw bad("info.chainId", i.chainId);
  const adjudicator = addr(i.adjudicator, "info.adjudicator");
  const assets = Object.fromEntries(
    Object.entries(obj(i.assets, "info.assets")).map(([sym, h]) => [sym, addr(h, `info.assets.${sym}`)]),
  );
  const terms = parseTerms(url, i.intermediary);

  const g = obj(graph, "GET /v1/graph (not an object)");
  const graphAddress = addr(g.address, "graph.address");
  if (graphAddress !== address) {
    throw new DirectoryError(
      "DIRECTORY_MISMATCH",
      url,
      `${url} is ${address} in GET /v1/info but ${graphAddress} in GET /v1/graph.`,
      FIX_HINT,
    );
  }
  if (!Array.isArray(g.ledgers)) throw bad("graph.ledgers (not an array)", g.ledgers);
  const ids = new Set<string>();
  const ledgers = g.ledgers.map((x: unknown, k): DirectoryLedger => {
    const l = obj(x, `graph.ledgers[${k}]`);
    if (typeof l.channelID !== "string" || !ID.test(l.channelID))
      throw bad(`graph.ledgers[${k}].channelID`, l.channelID);
    const peer = addr(l.peer, `graph.ledgers[${k}].peer`);
    const holder = addr(obj(l.asset, `graph.ledgers[${k}].asset`).holder, `graph.ledgers[${k}].asset.holder`);
    const c = l.capacity;
    if (!Array.isArray(c) || c.length !== 2 || !c.every((v) => typeof v === "string" && WEI.test(v)))
      throw bad(`graph.ledgers[${k}].capacity`, c);
    const channelID = l.channelID.toLowerCase() as Hex;
    if (ids.has(channelID)) throw bad(`graph.ledgers[${k}].channelID (listed twice)`, l.channelID);
    ids.add(channelID);
    return {
      channelID,
      peer,
      holder,
      capacity: [BigInt(c[0] as string), BigInt(c[1] as string)],
    };
  });
  return { url, address, chainId: i.chainId, adjudicator, assets, terms, ledgers };
}

/**
 * The `ChannelGraph` of asset `holder` that `self` and the directory `others` describe, and the id of
 * each edge's ledger channel (`channelIDs[k]` is `graph.edges[k]`'s).
 *
 * - Nodes: every node of the directory and every peer of a listed channel. A node counts once (the
 *   first entry with its address; `self` first).
 * - Edges: one per ledger channel id. A channel with `self` counts only as `self` lists it (we know
 *   our own channels; another's claim about them, or about an id of ours, is not used). A channel
 *   both ends list is used with the smaller capacity of each side (the two views differ only while an
 *   update is under way), and left out with a warning if they disagree on its ends. Channels of
 *   other assets, and channels a node claims with itself, are left out.
 * - Intermediaries: the directory nodes that publish terms.
 */
export function buildChannelGraph(
  self: DirectoryNode,
  others: readonly DirectoryNode[],
  holder: Address,
): { graph: ChannelGraph; channelIDs: Hex[]; warnings: string[] } {
  const key = (a: Address): string => a.toLowerCase();
  const byAddress = new Map<string, DirectoryNode>();
  for (const n of [self, ...others]) if (!byAddress.has(key(n.address))) byAddress.set(key(n.address), n);
  const nodes = new Map<string, Address>();
  for (const n of byAddress.values()) nodes.set(key(n.address), n.address);

  const warnings: string[] = [];
  type Edge = { from: Address; to: Address; capacityFrom: bigint; capacityTo: bigint; bad: boolean };
  // `self` goes first: its channels are in `edges` before anyone else's claims about them.
  const ours = new Set(self.ledgers.map((l) => l.channelID));
  const edges = new Map<string, Edge>();
  for (const n of byAddress.values()) {
    for (const l of n.ledgers) {
      if (key(l.holder) !== key(holder) || key(l.peer) === key(n.address)) continue;
      if (n !== self && (key(l.peer) === key(self.address) || ours.has(l.channelID))) continue;
      const seen = edges.get(l.channelID);
      if (!seen) {
        edges.set(l.channelID, {
          from: n.address,
          to: l.peer,
          capacityFrom: l.capacity[0],
          capacityTo: l.capacity[1],
          bad: false,
        });
        nodes.set(key(l.peer), nodes.get(key(l.peer)) ?? l.peer);
        continue;
      }
      // The other end's view: the same two nodes, swapped.
      if (key(seen.from) !== key(l.peer) || key(seen.to) !== key(n.address)) {
        if (!seen.bad)
          warnings.push(`left out ${l.channelID}: its ends describe it differently (${n.url} and another)`);
        seen.bad = true;
        continue;
      }
      seen.capacityFrom = min(seen.capacityFrom, l.capacity[1]);
      seen.capacityTo = min(seen.capacityTo, l.capacity[0]);
    }
  }
  const kept = [...edges].filter(([, e]) => !e.bad);
  const intermediaries: IntermediaryOffer[] = [...byAddress.values()].flatMap((n) =>
    n.terms === null ? [] : [{ address: n.address, terms: n.terms }],
  );
  return {
    graph: {
      nodes: [...nodes.values()],
      edges: kept.map(
        ([, e]): LedgerEdge => ({
          from: e.from,
          to: e.to,
          capacityFrom: e.capacityFrom,
          capacityTo: e.capacityTo,
        }),
      ),
      intermediaries,
    },
    channelIDs: kept.map(([id]) => id as Hex),
    warnings,
  };
}

/**
 * The cheapest path from `self` to `peer` with the capacity for `req` (`findPath`), in the ETH asset
 * of our node, as the fields of POST /v1/virtual. Throws DirectoryError if a directory node is on
 * another chain or adjudicator, NoPathError if there is no path.
 */
export function discoverPath(
  self: DirectoryNode,
  others: readonly DirectoryNode[],
  peer: Address,
  req: DiscoveryRequest,
): DiscoveredPath {
  for (const n of others) {
    if (n.chainId !== self.chainId || n.adjudicator !== self.adjudicator) {
      throw new DirectoryError(
        "DIRECTORY_MISMATCH",
        n.url,
        `${n.url} is on chain ${n.chainId} with adjudicator ${n.adjudicator}, our node on chain ${self.chainId} with ${self.adjudicator}.`,
        "Leave it out of --directory: channels on another chain or adjudicator cannot carry ours.",
      );
    }
  }
  const holder = self.assets.ETH;
  if (holder === undefined) {
    throw new DirectoryError(
      "DIRECTORY_INVALID",
      self.url,
      `Our node (${self.url}) has no ETH asset; --auto looks for paths in ETH.`,
      'Add "ETH" to contracts.assets in the node\'s config, or give the path with --via.',
    );
  }
  const { graph, channelIDs, warnings } = buildChannelGraph(self, others, holder);
  if (peer.toLowerCase() === self.address.toLowerCase()) {
    throw new NoPathError(self.address, peer, "the peer is our own node");
  }
  if (!graph.nodes.some((a) => a.toLowerCase() === peer.toLowerCase())) {
    throw new NoPathError(
      self.address,
      peer,
      "the peer is not in the directory, and no node there lists a ledger channel with it",
    );
  }
  const found = findPath(graph, self.address, peer, {
    aliceShare: req.deposit,
    bobShare: req.peerDeposit,
    seconds: req.seconds,
  });
  const ids = found.edges.map((k) => channelIDs[k] as Hex);
  return {
    path: found.path,
    via: found.path.slice(1, -1),
    ledger: ids[0] as Hex,
    peerLedger: ids.slice(1),
    fees: found.fees,
    totalFee: found.totalFee,
    warnings,
  };
}

/** How long one directory node may take to answer. */
const FETCH_TIMEOUT_MS = 10_000;

/**
 * Fetches and checks a node's GET /v1/info and GET /v1/graph (`headers`: its API secret as a bearer
 * token). Any failure is a DirectoryError naming
 * the URL: unreachable, slow, not JSON, an error answer (a node from before /v1/graph: 404) or malformed.
 */
export async function fetchDirectoryNode(
  url: string,
  options: { readonly timeoutMs?: number; readonly headers?: Record<string, string> } = {},
): Promise<DirectoryNode> {
  const base = url.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? FETCH_TIMEOUT_MS;
  const get = async (path: string): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(base + path, {
        signal: AbortSignal.timeout(timeoutMs),
        headers: options.headers ?? {},
      });
    } catch (err) {
      throw new DirectoryError(
        "DIRECTORY_UNREACHABLE",
        base,
        `Cannot reach the node API at ${base} (GET ${path}).`,
        "Check the --directory URLs: each must be a running node's API, http://host:port.",
        err,
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new DirectoryError(
        "DIRECTORY_INVALID",
        base,
        `GET ${base}${path} answered ${res.status} with no JSON.`,
        FIX_HINT,
      );
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: unknown } } | null)?.error?.code;
      throw new DirectoryError(
        "DIRECTORY_INVALID",
        base,
        `GET ${base}${path} failed with ${res.status}${typeof e === "string" ? ` ${e}` : ""}.`,
        res.status === 404
          ? "That node may predate GET /v1/graph; upgrade it or leave it out."
          : res.status === 401
            ? "Its API needs its secret: run the command as that node's user (its pointer file then names the secret file)."
            : FIX_HINT,
      );
    }
    return json;
  };
  const [info, graph] = await Promise.all([get("/v1/info"), get("/v1/graph")]);
  return parseDirectoryNode(base, info, graph);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
