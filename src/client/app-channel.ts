/**
 * App channels (Foundations of State Channel Networks, eprint 2018/320: a state channel runs a
 * contract): a channel whose params name an app contract we know runs that app's rules. A move is an
 * update proposed by the player whose turn it is, built by the app (`AppDefinition.move`) and checked
 * by its rules before we sign it; a peer's move is checked by the same rules when it arrives
 * (LedgerChannels.receiveProposal) and signed if valid, since a valid move is what the peer could
 * force on chain anyway. Everything else (queueing, delivery, re-sync, close) is the ledger channel's.
 */
import type { AppDefinition } from "../channel/app.js";
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
    return this.roles.ledger.update(channelID, (current) => {
      const { machine } = this.ctx.table.record(channelID);
      return def.move(machine.params, current, machine.idx, move);
    });
  }
}
