/**
 * The intermediary (Ingrid; design.md section 5, Perun's virtual channel protocol over a path): she
 * keeps the context of every virtual channel V she serves, signs a lock of V in her ledger channels
 * only so that she never holds one of her two locks without the other, passes V's final state along
 * the path and unlocks towards Bob, takes her right ledger channel to the chain when her left one is
 * disputed while she holds its lock, and closes V through her ledger channels once it expired. Her net
 * is her fee whatever V's outcome (`intermediaryLocksMatch`), and the lock covers her terms (the
 * signing policy's `checkIntermediaryLock`). Her records live in ./virtual-records.ts; an end keeps V's
 * final state there too (it arrives through `handleVirtualFinal`).
 */
import { channelId, hashState } from "../channel/hash.js";
import { hopLockArgs, lockPosition, type PathHop, pathLocks } from "../channel/path.js";
import { checkIntermediaryLock, checkPathSender, enforce } from "../channel/policy.js";
import type { Address, Hex, State } from "../channel/types.js";
import {
  assertVirtualParams,
  assertVirtualState,
  checkLock,
  intermediaryLocksMatch,
  lockInLedger,
  locksSubChannel,
  unlockFromLedger,
} from "../channel/virtual.js";
import { PerunError } from "../errors.js";
import { encodeJson } from "../store/json.js";
import type { ChannelRecord } from "../store/store.js";
import type { VirtualFinalMsg, VirtualFundingMsg } from "../wire/messages.js";
import type { ClientContext } from "./context.js";
import { feeCovers, lastIntermediaryDecision, virtualRecordsEnded } from "./decisions.js";
import type { Roles } from "./roles.js";
import type { Decision, VirtualInfo } from "./types.js";
import { asDecision, errorText, requireAllSigned, sameAddress } from "./util.js";

/** Most virtual-channel contexts an intermediary keeps while no lock of them exists (flooding). */
export const MAX_PENDING_CONTEXTS = 1_000;

interface PendingLock {
  prev: State;
  next: State;
  params: ChannelRecord["machine"]["params"];
  decide: (d: Decision) => void;
}

export class Intermediary {
  /** The last intermediary's lock proposals waiting for their twin, by V id and hop. */
  private readonly pendingLocks = new Map<string, Map<number, PendingLock>>();
  /** Ledger channels being unlocked or disputed because a virtual channel they lock expired. */
  private readonly closingExpired = new Set<string>();

  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /**
   * V's context (path, ledger channels, fees, expiry, initial state with both signatures) from a
   * neighbour on V's path, checked and kept for the locks. A context never replaces another one of the
   * same V: a reused id is refused.
   */
  handleVirtualFunding(from: Address, msg: VirtualFundingMsg): void {
    const { deps, table, address } = this.ctx;
    if (!deps.options?.intermediary)
      throw new PerunError("NOT_AN_INTERMEDIARY", "We do not offer virtual channels.");
    const me = this.ctx.pathIndex(msg.path);
    if (me < 1 || me > msg.path.length - 2) {
      throw new PerunError("VIRTUAL_PATH", "We are not an intermediary of this path.");
    }
    enforce(checkPathSender(msg.path, address, from));
    if (msg.ledgerIDs.length !== msg.path.length - 1) {
      throw new PerunError("VIRTUAL_PATH", "The path needs one ledger channel per hop.");
    }
    // Only a peer we already share the path's ledger channel with can make us keep a context: anyone
    // else could fill our store with made-up virtual channels.
    const hopWithSender = sameAddress(msg.path[me - 1], from) ? me - 1 : me;
    const shared = table.find(msg.ledgerIDs[hopWithSender] as Hex);
    if (!shared?.machine.params.ledgerChannel || !sameAddress(table.peerOf(shared), from)) {
      throw new PerunError(
        "VIRTUAL_PATH",
        "The path's ledger channel between us and the sender is not ours.",
      );
    }
    const id = channelId(msg.params);
    if (id !== msg.initial.channelID)
      throw new PerunError("VIRTUAL_PARAMS", "Params do not match the state.");
    assertVirtualParams(msg.params);
    assertVirtualState(msg.initial, "virtualFunding.initial");
    // V's ends are the path's ends: the signatures below then come from the parties the path serves.
    const [va, vb] = msg.params.participants;
    if (
      !sameAddress(va?.ethAddress, msg.path[0]) ||
      !sameAddress(vb?.ethAddress, msg.path[msg.path.length - 1])
    ) {
      throw new PerunError("VIRTUAL_PATH", "The virtual channel's participants are not the path's ends.");
    }
    requireAllSigned(msg.params, msg.initial, msg.sigs);
    pathLocks(msg.path, msg.initial, msg.fees); // throws on a malformed path or fees
    // No await before the context is kept: the lock update right behind it on the same connection
    // must find it. Expiry is checked when the lock is decided.
    const known = this.roles.virtual.context(id);
    if (known) {
      if (encodeJson(contextKey(known)) !== encodeJson(contextKey(msg))) {
        throw new PerunError(
          "VIRTUAL_ID_REUSED",
          `We already intermediate virtual channel ${id} on other terms.`,
          {
            hint: "A virtual channel's id (its params, with a fresh nonce) must be new.",
          },
        );
      }
      return;
    }
    // Contexts whose lock nobody proposed yet cost us storage only: a bounded number of them.
    const unlocked =
      this.roles.virtual.contextCount() < MAX_PENDING_CONTEXTS
        ? 0
        : this.roles.virtual.allContexts().filter((c) => !this.locksAnywhere(c.initial.channelID)).length;
    if (unlocked >= MAX_PENDING_CONTEXTS) {
      throw new PerunError("VIRTUAL_BUSY", `We hold ${unlocked} virtual channels that are not locked yet.`, {
        hint: "Try again once pending virtual channels are locked or have expired.",
      });
    }
    this.roles.virtual.putContext(msg);
  }

  /**
   * V's final state (both signatures): it lets us accept the unlock of V in any ledger channel. An
   * intermediary passes it on along the path (each one only once) and, unless it is the last one,
   * proposes the unlock in its ledger channel towards Bob; the ends unlock their own hops.
   */
  async handleVirtualFinal(from: Address, msg: VirtualFinalMsg): Promise<void> {
    const { table, deps, address } = this.ctx;
    const id = channelId(msg.params);
    if (id !== msg.state.channelID || !msg.state.isFinal) {
      throw new PerunError("VIRTUAL_FINAL", "Not a final state of the given virtual channel.");
    }
    // Stored only for a virtual channel we intermediate or hold, and only from our neighbour on its
    // path: a final state of anything else is none of our business (and would fill our store).
    const ctx = this.roles.virtual.context(id);
    const own = table.find(id)?.meta.virtual as VirtualInfo | undefined;
    const path = ctx?.path ?? own?.path;
    if (!path) throw new PerunError("VIRTUAL_FINAL", `We have no part in virtual channel ${id}.`);
    enforce(checkPathSender(path, address, from));
    assertVirtualState(msg.state, "virtualFinal.state");
    requireAllSigned(msg.params, msg.state, msg.sigs);
    if (this.roles.virtual.final(id)) return;
    this.roles.virtual.putFinal(msg);
    if (!ctx) return;
    const me = this.ctx.pathIndex(ctx.path);
    if (me < 1 || me > ctx.path.length - 2) return;
    // Pass it on first: on each connection it then arrives before our unlock proposal.
    for (const n of [ctx.path[me - 1], ctx.path[me + 1]] as Address[]) {
      if (!sameAddress(n, from)) await deps.transport.send(n, msg).catch(() => undefined);
    }
    if (me < ctx.path.length - 2) {
      const right = ctx.ledgerIDs[me] as Hex;
      void this.roles.virtualEnd.unlockHop(right, msg.state).catch((e) => this.ctx.logError(right, e));
    }
  }

  /**
   * A lock of V `vID` proposed by our neighbour in ledger channel `rec`. Only an intermediary of V's
   * path signs one, and only so that she never holds one of her two locks without the other: the last
   * intermediary holds both proposals (from her left neighbour and from Bob) and signs both or
   * neither; any other proposes her lock towards Bob while holding the one from her left, and signs
   * that exactly when hers was signed.
   */
  async decideLock(rec: ChannelRecord, current: State, next: State, vID: Hex): Promise<Decision> {
    const { deps, table, address } = this.ctx;
    const params = rec.machine.params;
    const terms = deps.options?.intermediary?.terms;
    const ctx = this.roles.virtual.context(vID);
    if (!terms || !ctx) return { accept: false, reason: "no virtual channel context for this lock" };
    const pos = lockPosition(ctx.path, ctx.ledgerIDs, address, rec.channelID, table.peerOf(rec));
    if (!pos.ok) return { accept: false, reason: pos.reason };
    const { me, hop } = pos;
    const ourFee = ctx.fees[me - 1] as bigint[];
    const left = table.find(ctx.ledgerIDs[me - 1] as Hex);
    const right = table.find(ctx.ledgerIDs[me] as Hex);
    for (const [l, peerAt] of [
      [left, me - 1],
      [right, me + 1],
    ] as const) {
      if (!l?.machine.params.ledgerChannel || !sameAddress(table.peerOf(l), ctx.path[peerAt])) {
        return { accept: false, reason: "we have no ledger channel with each neighbour on the path" };
      }
    }
    const now = await deps.chain.now();
    const policyVerdict = checkIntermediaryLock(deps.policy, {
      vParams: ctx.params,
      vInitial: ctx.initial,
      expiry: ctx.expiry,
      now,
      terms,
      fee: ourFee,
      leftChallenge: (left as ChannelRecord).machine.params.challengeDuration,
      rightChallenge: (right as ChannelRecord).machine.params.challengeDuration,
      last: pos.last,
    });
    if (!policyVerdict.ok) return asDecision(policyVerdict);
    if (!pos.last) {
      if (hop !== me - 1) return { accept: false, reason: "the lock towards Bob is ours to propose" };
      return this.forwardLock(rec, current, next, ctx, me);
    }
    const otherID = ctx.ledgerIDs[hop === me ? me - 1 : me] as Hex;
    if (locksSubChannel(table.find(otherID)?.machine.current?.state, vID)) {
      // Our other lock is signed already (a restart came between the two): this one must be exactly the
      // lock the path agreed on.
      try {
        const h = pathLocks(ctx.path, ctx.initial, ctx.fees)[hop] as PathHop;
        checkLock(current, next, params, { v: { id: vID, initial: ctx.initial }, ...hopLockArgs(h, params) });
      } catch (err) {
        return { accept: false, reason: errorText(err) };
      }
      return feeCovers(ourFee, ourFee);
    }
    // The last intermediary: the first lock waits for its twin; the second decides both.
    return new Promise<Decision>((resolve) => {
      const key = vID.toLowerCase();
      const waiting = this.pendingLocks.get(key) ?? new Map<number, PendingLock>();
      waiting.get(hop)?.decide({ accept: false, reason: "replaced by a newer proposal of the same lock" });
      waiting.set(hop, { prev: current, next, params, decide: resolve });
      this.pendingLocks.set(key, waiting);
      const l = waiting.get(me - 1);
      const r = waiting.get(me);
      if (!l || !r) {
        setTimeout(() => {
          if (this.pendingLocks.get(key)?.get(hop)?.decide === resolve) {
            this.pendingLocks.get(key)?.delete(hop);
            resolve({ accept: false, reason: "the matching lock in the other ledger channel never came" });
          }
        }, this.ctx.timing.peerTimeoutMs).unref();
        return;
      }
      this.pendingLocks.delete(key);
      const decision = lastIntermediaryDecision(l, r, ctx.initial, address, ourFee);
      l.decide(decision);
      r.decide(decision);
    });
  }

  /**
   * An intermediary that is not the last of V's path got the lock from its left neighbour: it checks
   * that this lock and its own towards Bob net it its fee, proposes its own (the context first, so the
   * next intermediary can check it), and signs the left lock exactly when the right one was signed. A
   * right lock already signed (we restarted and our left neighbour proposed again) is enough.
   */
  private async forwardLock(
    rec: ChannelRecord,
    current: State,
    next: State,
    ctx: VirtualFundingMsg,
    me: number,
  ): Promise<Decision> {
    const { table, address } = this.ctx;
    const vID = ctx.initial.channelID;
    const ourFee = ctx.fees[me - 1] as bigint[];
    const rightID = ctx.ledgerIDs[me] as Hex;
    const right = table.find(rightID);
    if (!right?.machine.params.ledgerChannel || !sameAddress(table.peerOf(right), ctx.path[me + 1])) {
      return { accept: false, reason: "we have no ledger channel with the next member of the path" };
    }
    const hopInfo = pathLocks(ctx.path, ctx.initial, ctx.fees)[me] as PathHop;
    const { roles, fee } = hopLockArgs(hopInfo, right.machine.params);
    const lock = (cur: State) =>
      lockInLedger(cur, right.machine.params, { id: vID, initial: ctx.initial }, roles, fee);
    const rightCur = right.machine.current?.state as State;
    try {
      if (locksSubChannel(rightCur, vID)) {
        // Our lock towards Bob is signed already (we restarted, and the left neighbour proposed again):
        // the left one must be exactly the lock the path agreed on.
        const leftHop = pathLocks(ctx.path, ctx.initial, ctx.fees)[me - 1] as PathHop;
        checkLock(current, next, rec.machine.params, {
          v: { id: vID, initial: ctx.initial },
          ...hopLockArgs(leftHop, rec.machine.params),
        });
        return feeCovers(ctx.fees[me - 1] as bigint[], ourFee);
      }
      const verdict = intermediaryLocksMatch(
        { prev: current, next, params: rec.machine.params },
        { prev: rightCur, next: lock(rightCur), params: right.machine.params },
        ctx.initial,
        address,
        ctx.fees[me - 1],
      );
      if (!verdict.valid) return { accept: false, reason: verdict.reason };
      const ok = feeCovers(verdict.fee, ourFee);
      if (!ok.accept) return ok;
    } catch (err) {
      return { accept: false, reason: errorText(err) };
    }
    this.ctx.log("info", "holding the lock from the left while proposing ours towards Bob", {
      virtual: vID,
      left: rec.channelID,
      right: rightID,
    });
    let refused: PerunError | null;
    try {
      refused = await this.roles.locks.proposeLock(rightID, vID, lock, {
        to: ctx.path[me + 1] as Address,
        msg: { ...ctx, type: "virtualFunding" },
      });
    } catch (err) {
      // Thrown only before our lock was signed: nothing of ours is out, declining is safe.
      return { accept: false, reason: `cannot lock in the next hop: ${errorText(err)}` };
    }
    if (refused === null) return { accept: true };
    if (table.record(rightID).machine.phase === "Acting") {
      // A rejection is not signed: the next hop still holds our signature on the lock and could sign it
      // later. Two empty updates on top make any state of the lock's version stale for good; only then
      // do we let go of the left lock. Without them we keep holding it (safe, if stuck).
      try {
        for (let i = 0; i < 2; i++)
          await this.roles.ledger.update(rightID, (st) => ({ ...st, version: st.version + 1n }));
      } catch (err) {
        this.ctx.log("warn", "cannot make the next hop's rejection binding: holding the left lock", {
          virtual: vID,
          ledger: rightID,
          error: errorText(err),
        });
        return new Promise<Decision>(() => {});
      }
    }
    return { accept: false, reason: `the next hop did not lock: ${errorText(refused)}` };
  }

  /**
   * Ledger channel `ledgerID` went on chain while we hold a lock proposal in it and our own lock towards
   * Bob is out: we take that channel to the chain too, so its peer must sign our lock there (refute with
   * it) or lose it within its challenge duration, which ends before this one's (see
   * `challengeMarginSeconds`). Then we know, in time, whether to enforce the held lock.
   */
  forceRightDecision(ledgerID: Hex): void {
    const { table } = this.ctx;
    const held = this.roles.virtual.heldIn(ledgerID);
    const cur = table.find(ledgerID)?.machine.current?.state;
    if (!held || !cur) return;
    const sub = held.state.outcome.locked.find((l) => !locksSubChannel(cur, l.ID));
    const ctx = sub && this.roles.virtual.context(sub.ID);
    if (!ctx) return;
    const me = this.ctx.pathIndex(ctx.path);
    if (me < 1 || me >= ctx.path.length - 2) return; // the last intermediary holds both: nothing is out
    const rightID = ctx.ledgerIDs[me] as Hex;
    const right = table.find(rightID);
    if (!right || locksSubChannel(right.machine.current?.state, ctx.initial.channelID)) return;
    if (!["Acting", "Signing"].includes(right.machine.phase)) return;
    this.ctx.log(
      "warn",
      "ledger channel disputed while we hold its lock: taking our lock towards Bob to the chain",
      {
        left: ledgerID,
        right: rightID,
      },
    );
    void this.roles.disputes.dispute(rightID).catch((e) => this.ctx.logError(rightID, e));
  }

  /**
   * Virtual channels we intermediate past their expiry: after `virtualExpiryGraceSeconds` more for the
   * ends to close V, we unlock with V's final state where we know it, and otherwise dispute our ledger
   * channels that still lock V: our collateral is never tied up beyond the time we were paid for.
   */
  async closeExpired(now: bigint): Promise<void> {
    const { deps, table } = this.ctx;
    if (!deps.options?.intermediary) return;
    const grace = deps.options.virtualExpiryGraceSeconds ?? 600n;
    for (const ctx of this.roles.virtual.allContexts()) {
      if (now < ctx.expiry + grace) continue;
      const vID = ctx.initial.channelID;
      const fin = this.roles.virtual.final(vID);
      for (const ledger of table.all()) {
        if (
          !ledger.machine.params.ledgerChannel ||
          ledger.machine.phase !== "Acting" ||
          !locksSubChannel(ledger.machine.current?.state, vID) ||
          this.closingExpired.has(ledger.channelID.toLowerCase())
        ) {
          continue;
        }
        const id = ledger.channelID;
        this.closingExpired.add(id.toLowerCase());
        this.ctx.log(
          "warn",
          "virtual channel expired and still locked: closing it through our ledger channel",
          {
            virtual: vID,
            ledger: id,
          },
        );
        const params = ledger.machine.params;
        const attempt = fin
          ? this.roles.ledger
              .update(id, (st) => unlockFromLedger(st, params, fin.state))
              .then(() => undefined)
          : Promise.reject(new PerunError("VIRTUAL_EXPIRED", "no final state"));
        void attempt
          .catch(() => this.roles.disputes.dispute(id))
          .catch((e) => this.ctx.logError(id, e))
          .finally(() => this.closingExpired.delete(id.toLowerCase()));
      }
    }
  }

  /** Forgets the context and final state of every V that ended for us (see `virtualRecordsEnded`). */
  forgetEnded(now: bigint): void {
    const records = this.roles.virtual;
    const grace = this.ctx.deps.options?.virtualExpiryGraceSeconds ?? 600n;
    for (const vID of records.virtualIDs()) {
      const finalKnown = records.final(vID) !== undefined;
      const expiry = records.context(vID)?.expiry;
      // Cheap tests first: most Vs are live, and `locksAnywhere` reads every channel.
      if (!finalKnown && (expiry === undefined || now < expiry + grace)) continue;
      if (this.ctx.table.find(vID)) continue; // our own V: its final state stays with its record
      const ended = virtualRecordsEnded({
        lockedAnywhere: this.locksAnywhere(vID) || this.pendingLocks.has(vID.toLowerCase()),
        finalKnown,
        expiry,
        now,
        graceSeconds: grace,
      });
      if (ended) records.forget(vID);
    }
  }

  /** Whether any ledger channel of ours locks (or has a held or pending lock of) virtual channel `vID`. */
  private locksAnywhere(vID: Hex): boolean {
    for (const r of this.ctx.table.all()) {
      const m = r.machine;
      if (locksSubChannel(m.current?.state, vID) || locksSubChannel(m.pending?.state, vID)) return true;
    }
    return this.roles.virtual.allHeld().some((h) => locksSubChannel(h.state, vID));
  }
}

/** What two contexts of the same V must agree on. */
function contextKey(c: VirtualFundingMsg): unknown {
  return {
    path: c.path.map((a) => a.toLowerCase()),
    ledgerIDs: c.ledgerIDs.map((l) => l.toLowerCase()),
    fees: c.fees,
    expiry: c.expiry,
    initial: hashState(c.initial),
  };
}
