/**
 * A peer's proposal that locks or unlocks a sub-channel in one of our ledger channels (design.md
 * section 5): it is held, with the peer's signature, while we decide, and nothing else is signed in
 * that channel meanwhile. An unlock is signed only with V's final state signed by both ends (any
 * role); a lock only by an intermediary of V's path, as the Intermediary role decides. Every held
 * proposal gets an answer, also after a restart (it is kept in ./virtual-records.ts); if a re-sync
 * voided it meanwhile and we accept, we complete it with the signature we kept.
 */
import { hashState } from "../channel/hash.js";
import { acceptUpdate, type Machine, receiveSync, receiveUpdate, rejectUpdate } from "../channel/machine.js";
import { signState } from "../channel/sig.js";
import type { Hex, State } from "../channel/types.js";
import { checkUnlock, diffLocked } from "../channel/virtual.js";
import type { ChannelRecord } from "../store/store.js";
import type { WireMsg } from "../wire/messages.js";
import type { ClientContext } from "./context.js";
import { ChannelBusyError } from "./errors.js";
import type { Roles } from "./roles.js";
import type { Decision, HeldLock } from "./types.js";
import { errorText } from "./util.js";

export class HeldLocks {
  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /** After a restart: every proposal we held is decided again (our other lock may be signed by now). */
  resume(): void {
    const { table } = this.ctx;
    for (const h of this.roles.virtual.allHeld()) {
      const rec = table.find(h.ledgerID);
      const cur = rec?.machine.current?.state;
      if (!rec || !cur || cur.version !== h.state.version - 1n) {
        this.roles.virtual.dropHeld(h.ledgerID);
        continue;
      }
      this.decideAndAnswer(rec, cur, h.state);
    }
  }

  /** Holds the peer's lock or unlock proposal `msg` (received as `machine`) in `rec` and decides it. */
  hold(
    rec: ChannelRecord,
    machine: Machine,
    current: State,
    msg: Extract<WireMsg, { type: "update" }>,
  ): void {
    this.ctx.table.hold({ ...rec, machine });
    this.roles.virtual.putHeld({ ledgerID: rec.channelID, state: msg.state, sig: msg.sig, from: msg.from });
    this.decideAndAnswer(rec, current, msg.state);
  }

  /**
   * A proposal in a ledger channel where we hold one: the same again (its proposer re-synced) is held
   * once more and answered by the decision under way (true); another is refused; none held: false.
   */
  receiveAgain(rec: ChannelRecord, msg: Extract<WireMsg, { type: "update" }>): boolean {
    const held = this.roles.virtual.heldIn(rec.channelID);
    if (!held) return false;
    if (hashState(held.state) !== hashState(msg.state)) {
      throw new ChannelBusyError(rec.channelID, "holding a lock proposal");
    }
    if (rec.machine.phase === "Acting") {
      const again = receiveUpdate(
        rec.machine,
        msg.state,
        msg.sig,
        msg.from,
        this.ctx.table.rules(rec.machine.params),
      );
      this.ctx.table.hold({ ...rec, machine: again.machine });
    }
    return true;
  }

  private decideAndAnswer(rec: ChannelRecord, current: State, next: State): void {
    const id = rec.channelID;
    void this.decide(rec, current, next)
      .then((d) => this.answer(id, next, d))
      .catch((e) => this.ctx.logError(id, e));
  }

  /**
   * Whatever goes wrong while deciding, the held proposal gets an answer: an exception here would
   * leave it held (and both ledger channels busy) forever, and replayed after every restart.
   */
  private async decide(rec: ChannelRecord, current: State, next: State): Promise<Decision> {
    try {
      // A lock changed in place counts as removed and added: refused like two changes at once.
      const { added, removed } = diffLocked(current.outcome.locked, next.outcome.locked);
      if (added.length + removed.length !== 1) {
        return { accept: false, reason: "one lock or unlock at a time; an existing lock never changes" };
      }
      if (removed.length === 1) return this.decideUnlock(rec, current, next, (removed[0] as { ID: Hex }).ID);
      return await this.roles.intermediary.decideLock(rec, current, next, (added[0] as { ID: Hex }).ID);
    } catch (err) {
      return { accept: false, reason: errorText(err) };
    }
  }

  /** An unlock of V: exactly V's final state (signed by both ends) paid out into the ledger channel. */
  private decideUnlock(rec: ChannelRecord, current: State, next: State, vID: Hex): Decision {
    const fin = this.roles.virtual.final(vID) ?? this.ownFinal(vID);
    if (!fin) return { accept: false, reason: "no final state of the virtual channel known" };
    try {
      checkUnlock(current, next, rec.machine.params, fin.state);
    } catch (err) {
      return { accept: false, reason: errorText(err) };
    }
    return { accept: true };
  }

  private ownFinal(vID: Hex): { state: State } | undefined {
    const cur = this.ctx.table.find(vID)?.machine.current;
    return cur?.state.isFinal ? { state: cur.state } : undefined;
  }

  /**
   * Signs or rejects a peer's lock proposal we held. If a re-sync voided it meanwhile (the peer
   * restarted) and we accept, we complete it with the signature we kept and hand it over by a sync:
   * the other lock of ours is signed already, so this one must be too.
   */
  private answer(id: Hex, proposal: State, d: Decision): Promise<void> {
    const { table, deps } = this.ctx;
    return table.inQueue(id, async () => {
      const held = this.roles.virtual.heldIn(id);
      if (!held || hashState(held.state) !== hashState(proposal)) return;
      this.roles.virtual.dropHeld(id);
      const r = table.record(id);
      const p = r.machine.pending;
      if (
        r.machine.phase === "Signing" &&
        p &&
        p.proposer !== r.machine.idx &&
        hashState(p.state) === hashState(proposal)
      ) {
        table.apply(r, d.accept ? acceptUpdate(r.machine, deps.signer) : rejectUpdate(r.machine, d.reason));
        return;
      }
      const dispute = r.machine.dispute;
      if (d.accept && r.machine.phase === "Registered" && dispute && dispute.version < proposal.version) {
        // Our left neighbour took the ledger channel to the chain while we held its lock: the lock is
        // ours to enforce now that our other lock is signed. Refute with it, completed.
        const sigs = this.complete(held, r.machine.idx);
        this.ctx.log("warn", "ledger channel disputed while we held its lock: refuting with the lock", {
          channelID: id,
          registered: `${dispute.version}`,
          ours: `${proposal.version}`,
        });
        table.persist({ ...r, machine: { ...r.machine, current: { state: proposal, sigs }, pending: null } });
        await this.roles.disputes.registerOnChain(table.record(id));
        return;
      }
      if (
        !d.accept ||
        r.machine.phase !== "Acting" ||
        r.machine.current?.state.version !== proposal.version - 1n
      )
        return;
      const sigs = this.complete(held, r.machine.idx);
      this.ctx.log("info", "completing a lock proposal voided by a re-sync", {
        channelID: id,
        version: `${proposal.version}`,
      });
      table.apply(r, receiveSync(r.machine, proposal, sigs, held.from));
      await this.roles.resync.sendSync(table.record(id), table.peerOf(r));
    });
  }

  /** The signatures of a held lock proposal once we sign it too: the peer's (kept) and ours. */
  private complete(held: HeldLock, ourIdx: number): Hex[] {
    const sigs: Hex[] = [];
    sigs[held.from] = held.sig;
    sigs[ourIdx] = signState(held.state, this.ctx.deps.signer);
    return sigs;
  }
}
