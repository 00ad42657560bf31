/**
 * App channels (Foundations of State Channel Networks, eprint 2018/320: a state channel runs a
 * contract): a channel whose params name an app contract we know runs that app's rules. A move is an
 * update proposed by the player whose turn it is, built by the app (`AppDefinition.move`) and checked
 * by its rules before we sign it; a peer's move is checked by the same rules when it arrives
 * (LedgerChannels.receiveProposal) and signed if valid, since a valid move is what the peer could
 * force on chain anyway. Everything else (queueing, delivery, re-sync, close) is the ledger channel's.
 * In a dispute (our peer stopped answering, or registered), moves go on chain with `progress`.
 */
import type { AppDefinition } from "../channel/app.js";
import { InvalidPhaseError } from "../channel/errors.js";
import { progress, progressed, progressFailed } from "../channel/machine.js";
import type { Hex, State } from "../channel/types.js";
import type { ClientContext } from "./context.js";
import { NotAnAppChannelError } from "./errors.js";
import type { Roles } from "./roles.js";

export class AppChannels {
  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /** The app channel `channelID` runs; throws if none we know. */
  definition(channelID: Hex): AppDefinition {
    const rec = this.ctx.table.record(channelID);
    const def = this.ctx.table.app(rec.machine.params);
    if (def === undefined) throw new NotAnAppChannelError(rec.channelID, rec.machine.params.app);
    return def;
  }

  /**
   * Makes our move `move` (as the app documents it) and resolves with the new state once the peer
   * signed it. A move the app does not allow us now throws the app's error and sends nothing.
   */
  async move(channelID: Hex, move: unknown): Promise<State> {
    const def = this.definition(channelID);
    const phase = this.ctx.table.record(channelID).machine.phase;
    if (ON_CHAIN.includes(phase)) return this.moveOnChain(channelID, def, move);
    const state = await this.roles.ledger.update(channelID, (current) => {
      const { machine } = this.ctx.table.record(channelID);
      return def.move(machine.params, current, machine.idx, move);
    });
    if (state.isFinal) this.roles.ledger.finalSigned(channelID);
    return state;
  }

  /**
   * In a dispute the game goes on on chain: our move is built on the state the chain holds and sent
   * with `progress`, signed by us alone. Resolves once the transaction landed; the chain event then
   * makes it the channel's state (ChainFollower). Refused, sending nothing, while the registration
   * can still be refuted or once the peer's time to move is over (the channel then only concludes).
   */
  private async moveOnChain(channelID: Hex, def: AppDefinition, move: unknown): Promise<State> {
    const { table, deps } = this.ctx;
    const now = await deps.chain.now();
    const sent = await table.inQueue(channelID, async () => {
      const r = table.record(channelID);
      const m = r.machine;
      if (!ON_CHAIN.includes(m.phase) || m.dispute === null) {
        throw new InvalidPhaseError("move on chain", m.phase, ON_CHAIN);
      }
      const from = m.dispute.state ?? (m.current?.state as State);
      const next = def.move(m.params, from, m.idx, move);
      const t = progress(m, next, deps.signer, now, def.rules);
      table.apply(r, t);
      const effect = t.effects.find((e) => e.type === "progress");
      return { from, next, sig: (effect as { sig: Hex }).sig, params: m.params, idx: m.idx };
    });
    try {
      await deps.chain.progress(sent.params, sent.from, sent.next, sent.idx, sent.sig);
      // Mined: our move is the chain's state now. Adopted at once (the chain event, when it comes, is
      // then seen already), so that a next request finds the channel Progressed, not in between.
      const d = await deps.chain.dispute(channelID);
      await table.inQueue(channelID, async () => {
        const r = table.record(channelID);
        if (r.machine.phase === "Progressing" && d?.version === sent.next.version) {
          table.apply(r, progressed(r.machine, sent.next, d.timeout));
          this.ctx.emit({
            type: "progressed",
            channelID: r.channelID,
            version: d.version,
            timeout: d.timeout,
          });
        }
      });
    } catch (err) {
      await table.inQueue(channelID, async () => {
        const r = table.record(channelID);
        if (r.machine.phase === "Progressing") table.apply(r, progressFailed(r.machine));
      });
      throw err;
    }
    return sent.next;
  }
}

/** Phases in which a move goes on chain (`progress`): the registration stood, or the game moved there. */
const ON_CHAIN: readonly string[] = ["Registered", "Progressed"];
