/**
 * Re-sync (design.md section 4, "Restart and re-sync"): when a peer connects, and after a restart,
 * each side sends its newest fully signed state of every active channel they share; the machine keeps
 * the newer one and voids a proposal the peer never signed. A peer that proposes a version we already
 * hold is behind: it gets our newest state.
 *
 * Liveness: an update of ours that could not be sent, or that the peer did not answer, is delivered
 * again with back-off (a lock or unlock has its own loop in lock-proposal.ts) (the same proposal, signature and all: the peer signs it, refuses it, or tells
 * us it signed it already) until the channel leaves Signing. Sending dials the peer, so a peer that
 * cannot dial us (it restarted and does not know our address) still finds us. Meanwhile a new update
 * on that channel fails fast with PEER_OFFLINE, not CHANNEL_BUSY.
 */
import type { Machine } from "../channel/machine.js";
import type { Address, Hex } from "../channel/types.js";
import type { ChannelRecord } from "../store/store.js";
import type { ClientContext } from "./context.js";
import { changesLocks, redeliveryDelayMs } from "./decisions.js";
import { sameAddress } from "./util.js";

/** Longest wait between two deliveries of an unanswered update (ms). */
const MAX_REDELIVERY_MS = 30_000;

export const ACTIVE: readonly Machine["phase"][] = ["InitSigning", "Funding", "Acting", "Signing", "Final"];

export class Resync {
  /** Peers with an unanswered update of ours: the next delivery's timer. */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Deliveries tried per peer since its last answer. */
  private readonly attempts = new Map<string, number>();
  /** When the last delivery to a peer was tried (ms since the epoch). */
  private readonly lastTry = new Map<string, number>();

  constructor(private readonly ctx: ClientContext) {}

  /** Our update to `peer` was not delivered or not answered: deliver it again (with back-off). */
  unanswered(peer: Address): void {
    const key = peer.toLowerCase();
    if (this.ctx.closed || this.timers.has(key)) return;
    const attempt = this.attempts.get(key) ?? 0;
    const base = this.baseMs();
    const timer = setTimeout(
      () => {
        this.timers.delete(key);
        void this.redeliver(peer).catch(() => undefined);
      },
      redeliveryDelayMs(attempt, base, MAX_REDELIVERY_MS),
    );
    timer.unref();
    this.timers.set(key, timer);
  }

  /** Whether an update of ours to `peer` is being delivered again (the peer seems offline). */
  isRedelivering(peer: Address): boolean {
    const key = peer.toLowerCase();
    return this.timers.has(key) || (this.attempts.get(key) ?? 0) > 0;
  }

  /**
   * Someone wants to use a channel with `peer` whose update waits for redelivery: try now rather than
   * at the back-off's next turn (which grows to 30 s while the peer is down), at most once per base
   * delay, so a peer that comes back is found by the next request, and asking often dials no more.
   */
  nudge(peer: Address): void {
    const key = peer.toLowerCase();
    const now = Date.now();
    if (this.ctx.closed || !this.timers.has(key) || now - (this.lastTry.get(key) ?? 0) < this.baseMs())
      return;
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    void this.redeliver(peer).catch(() => undefined);
  }

  private baseMs(): number {
    return Math.max(100, Math.floor(this.ctx.timing.peerTimeoutMs / 10));
  }

  /** Every update of ours still waiting for `peer`'s answer goes out again; then we check again later. */
  private async redeliver(peer: Address): Promise<void> {
    const { table, deps } = this.ctx;
    const key = peer.toLowerCase();
    const waiting = table.all().filter((r) => {
      const m = r.machine;
      // A lock or unlock is left to its own loop (lock-proposal.ts), which knows about held proposals.
      return (
        sameAddress(table.peerOf(r), peer) &&
        m.phase === "Signing" &&
        m.pending?.proposer === m.idx &&
        m.current !== null &&
        !changesLocks(m.current.state, m.pending.state)
      );
    });
    if (this.ctx.closed || waiting.length === 0) {
      this.attempts.delete(key);
      this.lastTry.delete(key);
      return;
    }
    this.attempts.set(key, (this.attempts.get(key) ?? 0) + 1);
    this.lastTry.set(key, Date.now());
    for (const rec of waiting) {
      const p = rec.machine.pending;
      const sig = p?.sigs[rec.machine.idx];
      if (!p || !sig) continue;
      await deps.transport
        .send(peer, { type: "update", channelID: rec.channelID, from: rec.machine.idx, state: p.state, sig })
        .catch(() => undefined);
    }
    this.unanswered(peer);
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** A peer (re)connected: what waits for it goes out now, and every active channel with it is synced. */
  async syncWith(peer: Address): Promise<void> {
    const { table } = this.ctx;
    this.nudge(peer);
    for (const rec of table.all()) {
      if (!sameAddress(table.peerOf(rec), peer) || !ACTIVE.includes(rec.machine.phase)) continue;
      await this.sendSync(rec, peer).catch(() => undefined);
    }
  }

  /** After a restart: our newest state of every active channel goes to its peer. */
  resumeAll(): void {
    const { table } = this.ctx;
    for (const rec of table.all()) {
      if (ACTIVE.includes(rec.machine.phase) && rec.machine.current !== null)
        void this.sendSync(rec, table.peerOf(rec)).catch(() => undefined);
    }
  }

  async sendSync(rec: ChannelRecord, peer: Address): Promise<void> {
    const cur = rec.machine.current;
    if (!cur) return;
    await this.ctx.deps.transport.send(peer, {
      type: "sync",
      channelID: rec.channelID,
      state: cur.state,
      sigs: cur.sigs as Hex[],
    });
  }

  /** The peer proposed a version we already hold: it missed our answer; it gets our newest state. */
  syncIfBehind(from: Address, channelID: Hex, version: bigint): void {
    const { table } = this.ctx;
    const rec = table.find(channelID);
    const cur = rec?.machine.current;
    if (!rec || !cur || !sameAddress(table.peerOf(rec), from) || version > cur.state.version) return;
    void this.sendSync(rec, from).catch(() => undefined);
  }
}
