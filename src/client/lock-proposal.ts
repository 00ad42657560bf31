/**
 * Proposing a lock of a virtual channel in one of our ledger channels (design.md section 5), for the
 * end that opens V and for an intermediary forwarding it: V's context goes to the peer first, then the
 * lock update; we wait, without a deadline, until the peer signed or rejected it. No deadline, because
 * an intermediary that proposed a lock may only give up its own left lock once it knows the right one
 * will never be signed. A proposal voided by a re-sync (the peer restarted and never signed) is
 * proposed again; a ledger channel that went on chain while the lock was out is decided by its
 * conclusion.
 */
import { DisputePhase } from "../chain/adjudicator.js";
import { hashState } from "../channel/hash.js";
import type { Address, Hex, State } from "../channel/types.js";
import { locksSubChannel } from "../channel/virtual.js";
import { PerunError } from "../errors.js";
import type { WireMsg } from "../wire/messages.js";
import type { ClientContext } from "./context.js";
import { ChannelBusyError, ProposalDroppedError, UpdateRejectedError } from "./errors.js";
import type { Roles } from "./roles.js";
import { sleep } from "./util.js";

export class LockProposals {
  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /**
   * Proposes the lock `build(current)` of V `vID` in `ledgerID`; null once the peer signed it, the
   * refusal otherwise. `wanted` is asked before every attempt (an end stops once V was abandoned).
   */
  async proposeLock(
    ledgerID: Hex,
    vID: Hex,
    build: (current: State) => State,
    context: { to: Address; msg: WireMsg },
    wanted: () => boolean = () => true,
  ): Promise<PerunError | null> {
    const { table, deps } = this.ctx;
    for (;;) {
      if (!wanted()) return new UpdateRejectedError(ledgerID, 0n, "we no longer want this lock");
      // V's context goes first, every time: the peer needs it to decide, and a proposal made again
      // after a reconnect must find it there too. A failed send is fine: so will the proposal's.
      await deps.transport.send(context.to, context.msg).catch(() => undefined);
      const done = await table.inQueue(`local:${ledgerID}` as Hex, () =>
        table.inQueue(ledgerID, async () => {
          const rec = table.record(ledgerID);
          // Signed already (learned by a re-sync, say after a restart).
          if (locksSubChannel(rec.machine.current?.state, vID) && rec.machine.phase !== "Signing")
            return "locked" as const;
          // Busy with a payment or a peer's proposal being decided: try again shortly.
          if (rec.machine.phase === "Signing" || this.roles.virtual.heldIn(ledgerID)) return null;
          if (rec.machine.phase !== "Acting") throw new ChannelBusyError(ledgerID, rec.machine.phase);
          return this.roles.ledger.propose(rec, build);
        }),
      );
      if (done === "locked") return null;
      if (done === null) {
        await sleep(this.ctx.timing.pollMs);
        continue;
      }
      let waiter = done.waiter;
      for (;;) {
        try {
          await waiter;
          return null;
        } catch (err) {
          if (err instanceof UpdateRejectedError) return err;
          if (err instanceof ProposalDroppedError) {
            if (["Acting", "Signing"].includes(table.record(ledgerID).machine.phase)) break;
            // The channel went to the chain while our lock was out: the peer may still enforce it
            // there. Whether it is ours is whatever the chain concludes.
            return this.outcomeOnChain(ledgerID, done.next);
          }
          // Sending failed: the proposal may or may not have left. It stays pending until the peer
          // signs it or a re-sync voids it; keep waiting for whichever comes.
          const m = table.record(ledgerID).machine;
          const v = done.next.version;
          if (m.current && m.current.state.version >= v) {
            return hashState(m.current.state) === hashState(done.next)
              ? null
              : new UpdateRejectedError(ledgerID, v, "a re-sync replaced our lock");
          }
          if (m.pending?.proposer !== m.idx || m.pending.state.version !== v) break;
          waiter = table.waitFor(ledgerID, v);
        }
      }
    }
  }

  /** Waits until ledger channel `ledgerID` is concluded on chain; null if with our lock `lock`. */
  private async outcomeOnChain(ledgerID: Hex, lock: State): Promise<PerunError | null> {
    for (;;) {
      const d = await this.ctx.deps.chain.dispute(ledgerID).catch(() => undefined);
      if (d && d.phase === DisputePhase.CONCLUDED) {
        return d.stateHash === hashState(lock)
          ? null
          : new UpdateRejectedError(
              ledgerID,
              lock.version,
              "the ledger channel was concluded without the lock",
            );
      }
      if (this.ctx.closed) throw new PerunError("CLIENT_CLOSED", "The client was closed.");
      await sleep(this.ctx.timing.pollMs);
    }
  }
}
