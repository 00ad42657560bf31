/**
 * Disputes (design.md section 6; Perun's "register, refute, conclude" with the Adjudicator): register
 * our newest fully signed state (with the states of the sub-channels it locks), send a registration
 * again that did not land, conclude once the timeout passed (after every sub-channel's own timeout),
 * conclude a final state, and withdraw what the asset holders hold for us. The ChainFollower role
 * decides when; this role only talks to the chain, and never sends a transaction that would change
 * nothing there.
 */
import { DisputePhase } from "../chain/adjudicator.js";
import { fundingId, hashState } from "../channel/hash.js";
import { register, registrationStands, withdrawn } from "../channel/machine.js";
import { signWithdrawalAuth } from "../channel/sig.js";
import type { Hex, State } from "../channel/types.js";
import { locksSubChannel } from "../channel/virtual.js";
import { PerunError } from "../errors.js";
import type { ChannelRecord } from "../store/store.js";
import type { ClientContext } from "./context.js";
import { chainTurn, registrationChangesChain, subChannelConcludableAt } from "./decisions.js";
import type { Roles } from "./roles.js";
import type { SignedSub } from "./types.js";
import { errorText } from "./util.js";

const DISPUTED: readonly string[] = [
  "Registering",
  "Registered",
  "Progressing",
  "Progressed",
  "Withdrawing",
  "Withdrawn",
];

export class Disputes {
  /** Chain requests under way, by `${kind}:${channel}`: one of each at a time. */
  private readonly busy = new Set<string>();
  /** When we first found a channel ready to conclude (participant 1 waits `chainBackoffMs` more). */
  private readonly concludeDueAt = new Map<string, number>();
  /** Chain requests retried from the tick wait until then (ms since the epoch), not every poll. */
  private readonly retryAfter = new Map<string, number>();

  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /** Runs `go` unless a task of the same key runs; the key is free again once it ended. */
  once(key: string, go: () => Promise<void>): Promise<void> {
    if (this.busy.has(key)) return Promise.resolve();
    this.busy.add(key);
    return go().finally(() => this.busy.delete(key));
  }

  /** Starts a dispute: registers our latest fully signed state on chain. The watcher does the rest. */
  async dispute(channelID: Hex): Promise<void> {
    const { table } = this.ctx;
    const signed = await table.inQueue(channelID, async () => {
      const rec = table.record(channelID);
      if (DISPUTED.includes(rec.machine.phase)) return null;
      const t = register(rec.machine);
      table.apply(rec, t);
      return t.effects.find((e) => e.type === "register");
    });
    if (signed && signed.type === "register") await this.registerOnChain(table.record(channelID));
  }

  /** Registers channel `rec0` (a virtual channel: through our ledger channel that locks it) with its sub-channels. */
  async registerOnChain(rec0: ChannelRecord): Promise<void> {
    const { table, deps } = this.ctx;
    // A virtual channel is registered as a sub-channel of our ledger channel with the intermediary.
    const rec = rec0.machine.params.virtualChannel
      ? table.find((rec0.meta.virtual as { ledger: Hex }).ledger)
      : rec0;
    const cur = rec?.machine.current;
    if (!rec || !cur) return;
    // A virtual channel already unlocked from our ledger channel is none of that channel's business.
    if (rec0.machine.params.virtualChannel && !locksSubChannel(cur.state, rec0.channelID)) return;
    return this.once(`register:${rec.channelID.toLowerCase()}`, async () => {
      const subs: SignedSub[] = [];
      for (const sa of cur.state.outcome.locked) {
        const sub = await this.roles.subStates.toRegister(sa.ID);
        if (!sub)
          throw new PerunError("UNKNOWN_SUBCHANNEL", `No signed state of sub-channel ${sa.ID} is known.`);
        subs.push(sub);
      }
      // Several paths lead here for one event (our dispute, a refutation of V, V's own record): send
      // only what changes something on chain (~79k gas per registration that would not).
      const onChain = await deps.chain.dispute(rec.channelID);
      const subsOnChain = [];
      if (onChain && onChain.phase !== DisputePhase.CONCLUDED && onChain.version >= cur.state.version) {
        for (const sub of subs)
          subsOnChain.push({
            onChain: await deps.chain.dispute(sub.state.channelID),
            ours: sub.state.version,
          });
      }
      if (!registrationChangesChain(onChain, cur.state.version, subsOnChain)) return;
      await deps.chain.register(
        { params: rec.machine.params, state: cur.state, sigs: cur.sigs as Hex[] },
        subs,
      );
    }).catch((err) =>
      // Someone registered the same or a newer state first, or the dispute moved on: the watcher's
      // events tell us what is on chain.
      this.ctx.log("warn", "register failed", { channelID: rec.channelID, error: errorText(err) }),
    );
  }

  /**
   * A channel still Registering: our registration or refutation has not shown up on chain. If the
   * chain holds a registration whose refutation window has passed, it stands (we move on to conclude
   * it); if the chain holds nothing, ours failed and is sent again.
   */
  async retryRegistration(rec: ChannelRecord, now: bigint): Promise<void> {
    const { table, deps } = this.ctx;
    const id = rec.channelID;
    const key = `register:${id.toLowerCase()}`;
    if (this.busy.has(key) || Date.now() < (this.retryAfter.get(key) ?? 0)) return;
    this.retryAfter.set(key, Date.now() + this.ctx.timing.chainBackoffMs);
    const d = await deps.chain.dispute(id).catch(() => undefined);
    if (!d) {
      await this.registerOnChain(rec);
      return;
    }
    if (d.phase === DisputePhase.DISPUTE && now >= d.timeout) {
      await table.inQueue(id, async () => {
        const r = table.record(id);
        if (r.machine.phase !== "Registering") return;
        this.ctx.log("warn", "our refutation did not land in time: the registered state stands", {
          channelID: id,
          registered: `${d.version}`,
        });
        table.apply(r, registrationStands(r.machine, d.version, d.timeout));
      });
    }
  }

  /** Concludes the registered state of `rec` (with its sub-channels) once every timeout passed. */
  async concludeOnChain(rec: ChannelRecord): Promise<void> {
    const { deps } = this.ctx;
    const key = `conclude:${rec.channelID}`;
    if (this.busy.has(key)) return;
    const turn = chainTurn(
      rec.machine.idx,
      this.concludeDueAt.get(key),
      Date.now(),
      this.ctx.timing.chainBackoffMs,
    );
    if (turn === "wait") {
      if (!this.concludeDueAt.has(key)) this.concludeDueAt.set(key, Date.now());
      return;
    }
    return this.once(key, async () => {
      const d = await deps.chain.dispute(rec.channelID);
      if (!d || d.phase === DisputePhase.CONCLUDED) return;
      const m = rec.machine;
      const candidates = [
        m.dispute?.state,
        m.current?.state,
        m.pending?.state,
        // A registration that stood against our refutation: its state is known from its calldata.
        ...this.roles.subStates.learned(rec.channelID).map((c) => c.state),
      ].filter((s): s is State => !!s);
      const state = candidates.find((s) => s.version === d.version);
      if (!state) {
        this.ctx.log("error", "cannot conclude: the registered state is unknown to us", {
          channelID: rec.channelID,
          version: `${d.version}`,
        });
        return;
      }
      const subStates: State[] = [];
      const now = await deps.chain.now();
      for (const sa of state.outcome.locked) {
        const onChain = await deps.chain.dispute(sa.ID);
        // A sub-channel is force-concluded with its parent only once its own timeout passed (the
        // Adjudicator refuses earlier: it could still be refuted); try again on a later tick.
        if (onChain && onChain.phase !== DisputePhase.CONCLUDED && now < subChannelConcludableAt(onChain))
          return;
        const match = [
          ...this.roles.subStates.known(sa.ID).map((c) => c.state),
          ...this.roles.subStates.progressed(sa.ID),
        ].find((c) => onChain && hashState(c) === onChain.stateHash);
        if (!match)
          throw new PerunError(
            "UNKNOWN_SUBCHANNEL",
            `The registered state of sub-channel ${sa.ID} is unknown.`,
          );
        subStates.push(match);
      }
      await deps.chain.conclude(m.params, state, subStates);
    }).catch((err) =>
      this.ctx.log("warn", "conclude failed (will retry)", {
        channelID: rec.channelID,
        error: errorText(err),
      }),
    );
  }

  /**
   * Concludes a final state signed by both (no dispute, no waiting). Without sub-channels it also
   * pays both of us in the same transaction (concludeFinalAndPayout: one transaction instead of
   * three); withdrawAll then finds nothing left, or what a failed payment left credited. An
   * Adjudicator without it (perun-eth-contracts v1.0.0) gets concludeFinal: transact simulates
   * first, so the failed attempt sends nothing. A final state that still locks sub-channels goes
   * to concludeFinal, which refuses it as before.
   */
  async concludeFinalOnChain(rec: ChannelRecord): Promise<void> {
    const { deps } = this.ctx;
    return this.once(`concludeFinal:${rec.channelID}`, async () => {
      const d = await deps.chain.dispute(rec.channelID);
      if (d && d.phase === DisputePhase.CONCLUDED) return; // the peer was first; the watcher will see it
      const cur = rec.machine.current;
      if (!cur || !cur.state.isFinal) return;
      const { params } = rec.machine;
      const sigs = cur.sigs as Hex[];
      if (cur.state.outcome.locked.length > 0) return deps.chain.concludeFinal(params, cur.state, sigs);
      await deps.chain
        .concludeFinalAndPayout(params, cur.state, sigs)
        .catch(() => deps.chain.concludeFinal(params, cur.state, sigs));
    }).catch((err) =>
      this.ctx.log("warn", "concludeFinal failed (will retry)", {
        channelID: rec.channelID,
        error: errorText(err),
      }),
    );
  }

  /** Withdraws whatever the asset holders hold for us in this concluded channel. */
  async withdrawAll(channelID: Hex): Promise<void> {
    const { table, deps, address } = this.ctx;
    return this.once(`withdraw:${channelID}`, async () => {
      const rec = table.record(channelID);
      if (rec.machine.phase !== "Withdrawing") return;
      const state = (rec.machine.current?.state ?? rec.machine.pending?.state) as State;
      const fid = fundingId(channelID, address);
      const amounts: bigint[] = [];
      for (const [a, asset] of state.outcome.assets.entries()) {
        const amount = await deps.chain.holdings(asset, fid);
        if (amount === 0n) {
          amounts.push(await this.paidInConclusion(channelID, state, a, rec.machine.idx));
          continue;
        }
        amounts.push(amount);
        const auth = {
          channelID,
          participant: { ethAddress: address, ccAddress: "0x" as Hex },
          receiver: address,
          amount,
        };
        await deps.chain.withdraw(asset, auth, signWithdrawalAuth(auth, deps.signer));
      }
      await table.inQueue(channelID, async () => {
        const r = table.record(channelID);
        if (r.machine.phase === "Withdrawing") table.apply(r, withdrawn(r.machine));
      });
      this.ctx.emit({ type: "withdrawn", channelID, amounts });
      table.closedNow(channelID);
    }).catch((err) =>
      this.ctx.log("warn", "withdraw failed (will retry)", { channelID, error: errorText(err) }),
    );
  }

  /**
   * What we got of asset `a` when nothing is left to withdraw: our balance in `state` if the channel
   * was concluded with it as a final state without sub-channels (concludeFinalAndPayout paid it, or
   * we withdrew it before a restart), else 0.
   */
  private async paidInConclusion(channelID: Hex, state: State, a: number, idx: number): Promise<bigint> {
    if (!state.isFinal || state.outcome.locked.length > 0) return 0n;
    const d = await this.ctx.deps.chain.dispute(channelID);
    if (!d || d.phase !== DisputePhase.CONCLUDED || d.version !== state.version) return 0n;
    return state.outcome.balances[a]?.[idx] ?? 0n;
  }
}
