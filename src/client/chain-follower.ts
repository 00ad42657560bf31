/**
 * Following our channels to the chain (design.md section 6): the watcher's ChannelUpdate events (a
 * registration to refute or accept, a progress, a conclusion to withdraw from) and its clock ticks
 * (conclude once a timeout passed, send a registration again, withdraw, conclude a final state the
 * peer left). A virtual channel on chain drags every ledger channel of ours that still locks it there
 * too, so that V is settled alike in all of them (an intermediary's net stays her fee).
 */
import { DisputePhase } from "../chain/adjudicator.js";
import type { ChannelUpdateEvent } from "../chain/chain-port.js";
import { findProgressed, isValidMove } from "../channel/app-progress.js";
import { concluded, progressed, registered, registrationStands } from "../channel/machine.js";
import type { Hex, State } from "../channel/types.js";
import { locksSubChannel } from "../channel/virtual.js";
import type { ChannelRecord } from "../store/store.js";
import type { ClientContext } from "./context.js";
import { chainDuty } from "./decisions.js";
import type { Roles } from "./roles.js";
import { sleep } from "./util.js";

const REFUTABLE_IN: readonly string[] = [
  "Funding",
  "Acting",
  "Signing",
  "Final",
  "Registering",
  "Registered",
];
const FOLLOWS_PROGRESS_IN: readonly string[] = [...REFUTABLE_IN, "Progressing", "Progressed"];
const NOT_YET_REGISTERED: readonly string[] = ["InitActing", "InitSigning", "Acting", "Signing", "Funding"];

export class ChainFollower {
  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /**
   * A ChannelUpdate event from the watcher: a registration (refute it if we
   * hold a newer state), a progress, or the conclusion (withdraw our funds).
   */
  async onChainUpdate(ev: ChannelUpdateEvent): Promise<void> {
    const { table } = this.ctx;
    const rec = table.find(ev.channelID);
    const intermediated = this.roles.virtual.context(ev.channelID) !== undefined;
    if (!rec && !intermediated) return;
    if (ev.phase === DisputePhase.DISPUTE) await this.roles.subStates.learnRegistered(ev.transactionHash);
    // A virtual app channel moved on chain: our parents conclude with the state it was moved to.
    if (ev.phase === DisputePhase.FORCEEXEC && (intermediated || rec?.machine.params.virtualChannel)) {
      await this.roles.subStates.learnProgressed(ev.channelID, ev.transactionHash);
    }
    // A sub-channel (virtual channel) that one of our ledger channels locks went on chain: settle it in
    // that ledger channel too (as intermediary, and as an end whose peer or intermediary started it).
    if (intermediated || rec?.machine.params.virtualChannel) await this.defendIntermediated(ev.channelID);
    if (!rec) return;
    const id = rec.channelID;
    if (ev.phase === DisputePhase.FORCEEXEC) {
      await this.followProgress(id, ev);
      return;
    }
    if (ev.phase === DisputePhase.DISPUTE) {
      const refute = await table.inQueue(id, async () => {
        const r = table.record(id);
        if (!REFUTABLE_IN.includes(r.machine.phase)) return false;
        const ours = r.machine.current?.state.version ?? 0n;
        const t = registered(r.machine, ev.version, ev.timeout);
        table.apply(r, t);
        this.ctx.emit({ type: "disputed", channelID: id, version: ev.version, timeout: ev.timeout });
        if (t.effects.some((e) => e.type === "register")) {
          this.ctx.emit({ type: "refuted", channelID: id, stale: ev.version, ours });
          return true;
        }
        return false;
      });
      if (refute) await this.roles.disputes.registerOnChain(table.record(id));
      this.roles.intermediary.forceRightDecision(id);
      return;
    }
    if (ev.phase === DisputePhase.CONCLUDED) {
      await table.inQueue(id, async () => {
        const r = table.record(id);
        if (["Withdrawing", "Withdrawn"].includes(r.machine.phase)) return;
        if (NOT_YET_REGISTERED.includes(r.machine.phase)) {
          // Concluded without us seeing the registration (e.g. we were offline): go via Registered.
          table.apply(r, registered(r.machine, ev.version, ev.timeout));
        }
        table.apply(table.record(id), concluded(table.record(id).machine, ev.version));
      });
      this.ctx.emit({ type: "concluded", channelID: id, version: ev.version });
      await this.roles.disputes.withdrawAll(id);
    }
  }

  /**
   * An app channel was moved on chain (by us or the peer): we adopt the state the chain now holds,
   * read from the transaction, so that the next move (ours by `progress`) and the conclusion start
   * from it. A peer that progressed while we were away took us past the refutation window: the
   * registration stands, whatever we held.
   */
  private async followProgress(id: Hex, ev: ChannelUpdateEvent): Promise<void> {
    const { table, deps } = this.ctx;
    const read = (await deps.chain.progressedStates(ev.transactionHash, id)).find(
      (x) => x.version === ev.version,
    );
    const onChain = await deps.chain.dispute(id);
    await table.inQueue(id, async () => {
      let r = table.record(id);
      if (!FOLLOWS_PROGRESS_IN.includes(r.machine.phase)) return;
      const seen = r.machine.dispute?.version ?? -1n;
      if (seen >= ev.version) return;
      const def = table.app(r.machine.params);
      const from = r.machine.dispute?.state ?? r.machine.current?.state;
      let found: { state: State; timeout: bigint } | undefined;
      if (def !== undefined && from !== undefined) {
        if (read?.version === ev.version && isValidMove(r.machine.params, id, from, read, def)) {
          found = { state: read, timeout: ev.timeout };
        } else if (onChain !== undefined && onChain.version > seen) {
          // No event (an Adjudicator without it), or not a move our rules take from our state: what
          // the chain holds now, found among the app's moves by its hash.
          const state = findProgressed(r.machine.params, def, from, onChain);
          if (state !== undefined) found = { state, timeout: onChain.timeout };
        }
      }
      if (found === undefined) {
        this.ctx.log("error", "the channel was progressed on chain to a state we cannot read", {
          channelID: id,
          version: `${ev.version}`,
          transaction: ev.transactionHash,
        });
        return;
      }
      const { state, timeout } = found;
      if (!["Registered", "Progressing", "Progressed"].includes(r.machine.phase)) {
        // We missed the registration: it stood (progress comes only after its refutation window).
        const v = from?.version ?? state.version - 1n;
        table.apply(r, registered(r.machine, v, timeout));
        r = table.record(id);
        if (r.machine.phase === "Registering") table.apply(r, registrationStands(r.machine, v, timeout));
        r = table.record(id);
      }
      table.apply(r, progressed(r.machine, state, timeout));
      this.ctx.emit({ type: "progressed", channelID: id, version: state.version, timeout });
    });
  }

  /**
   * Clock tick from the watcher with the chain time: concludes disputes whose
   * timeout passed, and final states the peer did not conclude.
   */
  async tick(now: bigint): Promise<void> {
    const { table } = this.ctx;
    const disputes = this.roles.disputes;
    for (const rec of table.all()) {
      const duty = chainDuty(rec.machine, now, {
        nowMs: Date.now(),
        finalAtMs: Number(rec.meta.finalAt ?? 0),
        graceMs: this.ctx.timing.graceMs,
      });
      if (duty === "conclude") await disputes.concludeOnChain(rec);
      else if (duty === "retryRegistration") await disputes.retryRegistration(rec, now);
      else if (duty === "withdraw") await disputes.withdrawAll(rec.channelID);
      else if (duty === "concludeFinal") await disputes.concludeFinalOnChain(rec);
    }
    await this.roles.virtualEnd.closeExpired(now);
    await this.roles.intermediary.closeExpired(now);
    // A lock that became signed only after its virtual channel went on chain (we held it meanwhile):
    // the ledger channel must follow V to the chain, or V's outcome could never be paid out of it.
    for (const rec of table.all()) {
      const m = rec.machine;
      if (!m.params.ledgerChannel || m.phase !== "Acting") continue;
      const onChain = m.current?.state.outcome.locked.find((l) => this.roles.subStates.seenOnChain(l.ID));
      if (onChain) this.followToChain(rec, onChain.ID);
    }
    this.roles.intermediary.forgetEnded(now);
  }

  /**
   * Disputes ledger channel `rec`, which locks virtual channel `vID` now on chain. Both members see V in
   * the same block: participant 0 registers at once, participant 1 only if nothing is on chain after a
   * back-off (one registration is enough; a second would cost ~79k gas for nothing).
   */
  followToChain(rec: ChannelRecord, vID: Hex): void {
    const { table, deps } = this.ctx;
    const id = rec.channelID;
    void this.roles.disputes
      .once(`follow:${id.toLowerCase()}`, async () => {
        if (rec.machine.idx !== 0) await sleep(this.ctx.timing.chainBackoffMs);
        const d = await deps.chain.dispute(id);
        if (d && d.phase !== DisputePhase.CONCLUDED) return; // on chain already: the watcher takes it from there
        if (!["Acting", "Signing", "Final"].includes(table.record(id).machine.phase)) return;
        this.ctx.log("info", "virtual channel on chain: disputing our ledger channel that locks it", {
          virtual: vID,
          ledger: id,
        });
        await this.roles.disputes.dispute(id);
      })
      .catch((e) => this.ctx.logError(id, e));
  }

  /**
   * A virtual channel one of our ledger channels locks went on chain: dispute every ledger channel of
   * ours that still locks it, so V is settled there too with its on-chain outcome (an intermediary's net
   * stays the fee; an end gets its share out).
   */
  private async defendIntermediated(vID: Hex): Promise<void> {
    const { table, deps } = this.ctx;
    for (const rec of table.all()) {
      if (!rec.machine.params.ledgerChannel || !locksSubChannel(rec.machine.current?.state, vID)) continue;
      if (["Acting", "Signing", "Final"].includes(rec.machine.phase)) this.followToChain(rec, vID);
    }
    // A stale state of V on chain (say, the ends collude: one unlocked with the final state, the other
    // registers an old one) is refuted with the newest we know, through any ledger channel of ours that
    // still locks V: otherwise the two ledgers would settle V differently and we would pay the gap.
    const onChain = await deps.chain.dispute(vID);
    const newest = this.roles.subStates.known(vID)[0];
    if (
      onChain &&
      newest &&
      onChain.phase === DisputePhase.DISPUTE &&
      newest.state.version > onChain.version &&
      (await deps.chain.now()) < onChain.timeout
    ) {
      const parent = table
        .all()
        .find((r) => r.machine.params.ledgerChannel && locksSubChannel(r.machine.current?.state, vID));
      if (parent) {
        this.ctx.log("warn", "stale virtual channel state on chain: refuting", {
          virtual: vID,
          registered: `${onChain.version}`,
          ours: `${newest.state.version}`,
        });
        this.ctx.emit({
          type: "refuted",
          channelID: vID,
          stale: onChain.version,
          ours: newest.state.version,
        });
        await this.roles.disputes.registerOnChain(parent);
      }
    }
  }
}
