/**
 * What every role of the client shares: its dependencies (ports, policy, signer), our address, the
 * timing options, the channel table, the waiters for our open proposals, the event bus and the
 * closed flag. One object, handed to each role at construction; no role reaches another's state
 * but through the role's own methods (see ./roles.ts).
 */

import { checkUpdate } from "../channel/policy.js";
import type { Address, Hex } from "../channel/types.js";
import { PerunError } from "../errors.js";
import type { WireMsg } from "../wire/messages.js";
import { ChannelTable } from "./channel-table.js";
import { durableFirst } from "./durable-first.js";
import { FundingTimeoutError, PeerTimeoutError } from "./errors.js";
import type { ClientDeps, ClientEvent, Logger, ProposalHandler, UpdateHandler } from "./types.js";
import { asDecision, errorText, sameAddress } from "./util.js";

export interface Timing {
  /** How long we wait for a peer's answer (ms). */
  readonly peerTimeoutMs: number;
  /** Polling interval of chain reads (ms). */
  readonly pollMs: number;
  /** A responder concludes a final state itself after this long (ms). */
  readonly graceMs: number;
  /** How long participant 1 leaves participant 0 to send a transaction both would send (ms). */
  readonly chainBackoffMs: number;
}

/** Our open proposals (ledger or virtual) by proposal id, with the peer whose answer alone counts. */
export class ProposalWaiters {
  private readonly open = new Map<
    string,
    { peer: Address; resolve(sig: Hex): void; reject(e: unknown): void }
  >();

  /** A promise of the peer's signature on proposal `id`. */
  expect(id: Hex, peer: Address): Promise<Hex> {
    return new Promise<Hex>((resolve, reject) => this.open.set(id, { peer, resolve, reject }));
  }

  /** The waiter of proposal `id`, if `from` is the peer we proposed to (nobody else may answer). */
  of(id: Hex, from: Address) {
    const w = this.open.get(id);
    return w && sameAddress(w.peer, from) ? w : undefined;
  }

  done(id: Hex): void {
    this.open.delete(id);
  }

  rejectAll(err: unknown): void {
    for (const w of this.open.values()) w.reject(err);
    this.open.clear();
  }
}

export class ClientContext {
  readonly address: Address;
  readonly log: Logger;
  readonly timing: Timing;
  readonly table: ChannelTable;
  readonly proposals = new ProposalWaiters();
  /** Decides a peer's channel proposal once the signing policy allowed it (it can only refuse more). */
  proposalHandler: ProposalHandler = () => ({ accept: false, reason: "no proposal handler" });
  /** Decides a peer's ordinary update (not a lock or unlock); by default the policy's `updates` rule. */
  updateHandler: UpdateHandler;
  private readonly handlers: ((e: ClientEvent) => void)[] = [];
  private isClosed = false;

  /** The client's dependencies, transport and chain waiting for the store's commits (./durable-first.ts). */
  readonly deps: ClientDeps;

  constructor(given: ClientDeps) {
    const deps = durableFirst(given);
    this.deps = deps;
    this.address = deps.signer.address;
    this.log = deps.log ?? (() => {});
    const pollMs = deps.options?.pollMs ?? 200;
    this.timing = {
      peerTimeoutMs: deps.options?.peerTimeoutMs ?? 10_000,
      pollMs,
      graceMs: deps.options?.concludeFinalGraceMs ?? 3_000,
      chainBackoffMs: deps.options?.chainBackoffMs ?? Math.max(1_000, 5 * pollMs),
    };
    this.table = new ChannelTable(
      deps,
      (e) => this.emit(e),
      this.log,
      (peer) => this.undelivered(peer),
    );
    this.updateHandler = (u) => asDecision(checkUpdate(deps.policy, u));
  }

  /** Set by the client: what to do when a proposal of ours could not be delivered. */
  undelivered: (peer: Address) => void = () => {};

  get closed(): boolean {
    return this.isClosed;
  }

  onEvent(handler: (e: ClientEvent) => void): void {
    this.handlers.push(handler);
  }

  emit(e: ClientEvent): void {
    for (const h of this.handlers) {
      try {
        h(e);
      } catch (err) {
        this.log("warn", "event handler threw", { error: errorText(err) });
      }
    }
  }

  logError(channelID: Hex, err: unknown): void {
    this.log(err instanceof FundingTimeoutError ? "warn" : "error", errorText(err), { channelID });
  }

  async withTimeout<T>(p: Promise<T>, what: string, peer: string): Promise<T> {
    const ms = this.timing.peerTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PeerTimeoutError(what, peer, ms)), ms);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends our proposal `msg` (a channel or virtual channel proposal with id `proposalID`) to `peer` and
   * waits, at most a peer timeout, for that peer's signature on it; `onSent` runs once it left. The
   * waiter is gone afterwards whatever happened, so a late answer counts for nothing.
   */
  async askPeer(proposalID: Hex, peer: Address, msg: WireMsg, what: string, onSent = () => {}): Promise<Hex> {
    const answer = this.proposals.expect(proposalID, peer);
    try {
      await this.deps.transport.send(peer, msg);
      onSent();
      return await this.withTimeout(answer, what, peer);
    } finally {
      // Also when the send failed: nobody awaits the answer then, so close() must not reject it.
      this.proposals.done(proposalID);
    }
  }

  /** Our position on a virtual channel's path (0 = Alice, the last = Bob), -1 if we are not on it. */
  pathIndex(path: readonly Address[]): number {
    return path.findIndex((a) => sameAddress(a, this.address));
  }

  async close(): Promise<void> {
    this.isClosed = true;
    const err = new PerunError("CLIENT_CLOSED", "The client was closed.");
    this.proposals.rejectAll(err);
    await this.table.close(err);
  }
}
