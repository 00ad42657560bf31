/**
 * The fully signed states we know of each channel that may be a sub-channel of ours (a virtual
 * channel locked in our ledger channels): our own, the context and final state an intermediary keeps
 * (./virtual-records.ts), and those learned from registrations on chain (read from their calldata).
 * A dispute registers and concludes a parent with exactly these (design.md section 6).
 */

import { findProgressed } from "../channel/app-progress.js";
import { hashState } from "../channel/hash.js";
import type { Hex, State } from "../channel/types.js";
import type { ClientContext } from "./context.js";
import { subStateToRegister } from "./decisions.js";
import type { Roles } from "./roles.js";
import type { SignedSub } from "./types.js";
import { errorText } from "./util.js";

export class SubChannelStates {
  /** Fully signed states learned from registrations on chain, by channel id. */
  private readonly fromChain = new Map<string, SignedSub[]>();
  /** The state an app (sub-)channel was last progressed to on chain (signed by its mover only), by id. */
  private readonly movedTo = new Map<string, State>();

  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /** States of `id` learned from the chain. */
  learned(id: Hex): SignedSub[] {
    return this.fromChain.get(id.toLowerCase()) ?? [];
  }

  /** Whether some registration on chain showed us a state of `id`. */
  seenOnChain(id: Hex): boolean {
    return this.fromChain.has(id.toLowerCase());
  }

  /** Every fully signed state we know of channel `id`, newest first. */
  known(id: Hex): SignedSub[] {
    const out: SignedSub[] = [...this.learned(id)];
    const cur = this.ctx.table.find(id)?.machine;
    if (cur?.current?.sigs.every((x) => x !== null)) {
      out.push({ params: cur.params, state: cur.current.state, sigs: cur.current.sigs as Hex[] });
    }
    const fin = this.roles.virtual.final(id);
    if (fin) out.push({ params: fin.params, state: fin.state, sigs: fin.sigs });
    const ctx = this.roles.virtual.context(id);
    if (ctx) out.push({ params: ctx.params, state: ctx.initial, sigs: ctx.sigs });
    return out.sort((a, b) =>
      a.state.version > b.state.version ? -1 : a.state.version < b.state.version ? 1 : 0,
    );
  }

  /**
   * The states of `id` a parent's conclusion may need besides the fully signed ones: what it was
   * progressed to on chain (a virtual app channel moved in a dispute), as we followed it.
   */
  progressed(id: Hex): State[] {
    const out: State[] = [];
    const own = this.ctx.table.find(id)?.machine.dispute?.state;
    if (own) out.push(own);
    const seen = this.movedTo.get(id.toLowerCase());
    if (seen) out.push(seen);
    return out;
  }

  /**
   * Remembers the state a progress transaction moved channel `id` to (for a channel we hold or
   * intermediate): from the Adjudicator's `Progressed` events, or, from an Adjudicator without them,
   * found among the app's moves from the newest state we know by the hash it records.
   */
  async learnProgressed(id: Hex, txHash: Hex): Promise<void> {
    const { deps, table } = this.ctx;
    const base = [...this.progressed(id), ...this.known(id).map((k) => k.state)].sort((a, b) =>
      a.version > b.version ? -1 : a.version < b.version ? 1 : 0,
    )[0];
    const params = this.known(id)[0]?.params ?? table.find(id)?.machine.params;
    if (base === undefined || params === undefined) return;
    try {
      // The Adjudicator's own events say it, in order, however the calls reached it.
      const moved = await deps.chain.progressedStates(txHash, id);
      const last = moved[moved.length - 1];
      if (last !== undefined) {
        if (last.version > (this.movedTo.get(id.toLowerCase())?.version ?? -1n)) {
          this.movedTo.set(id.toLowerCase(), last);
        }
        return;
      }
      const onChain = await deps.chain.dispute(id);
      if (onChain === undefined) return;
      const def = table.app(params);
      const state = def === undefined ? undefined : findProgressed(params, def, base, onChain);
      if (state === undefined) {
        this.ctx.log("error", "cannot tell the state a sub-channel was progressed to", {
          channelID: id,
          txHash,
        });
        return;
      }
      this.movedTo.set(id.toLowerCase(), state);
    } catch (err) {
      this.ctx.log("warn", "cannot read a progress", { channelID: id, txHash, error: errorText(err) });
    }
  }

  /**
   * The sub-channel state to register with its parent: our newest, unless the chain already holds a
   * state of it that can no longer be refuted (then exactly that one, or the registration would fail).
   */
  async toRegister(id: Hex): Promise<SignedSub | undefined> {
    const { deps } = this.ctx;
    const onChain = await deps.chain.dispute(id);
    return subStateToRegister(this.known(id), onChain, onChain ? await deps.chain.now() : 0n);
  }

  /** Remembers the signed states a registration put on chain, for channels we hold or intermediate. */
  async learnRegistered(txHash: Hex): Promise<void> {
    let states: SignedSub[];
    try {
      states = await this.ctx.deps.chain.registeredStates(txHash);
      // A virtual channel registered through another contract: its state from the Adjudicator's event
      // (without signatures: registering a parent with the very state on record needs none), its params
      // from what we know of it (we are one of its ends or an intermediary of it, or it is none of our
      // business).
      for (const v of await this.ctx.deps.chain.registeredVirtualStates(txHash)) {
        if (states.some((x) => x.state.channelID.toLowerCase() === v.channelID.toLowerCase())) continue;
        const params = this.known(v.channelID)[0]?.params ?? this.ctx.table.find(v.channelID)?.machine.params;
        if (params !== undefined) states.push({ params, state: v.state, sigs: [] });
      }
    } catch (err) {
      this.ctx.log("warn", "cannot read a registration", { txHash, error: errorText(err) });
      return;
    }
    // A registration of a channel of ours keeps every state it carries (its sub-channels' too, which we
    // need to conclude it even after we forgot a V that ended for us); others only those we have a part in.
    const ours = (id: Hex) => this.ctx.table.has(id) || this.roles.virtual.context(id) !== undefined;
    const parentIsOurs = states[0] !== undefined && ours(states[0].state.channelID);
    for (const st of states) {
      const id = st.state.channelID;
      if (!parentIsOurs && !ours(id)) continue;
      const key = id.toLowerCase();
      const list = this.fromChain.get(key) ?? [];
      if (!list.some((x) => hashState(x.state) === hashState(st.state))) list.push(st);
      this.fromChain.set(key, list);
    }
  }
}
