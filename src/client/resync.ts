/**
 * Re-sync (design.md section 4, "Restart and re-sync"): when a peer connects, and after a restart,
 * each side sends its newest fully signed state of every active channel they share; the machine keeps
 * the newer one and voids a proposal the peer never signed. A peer that proposes a version we already
 * hold is behind: it gets our newest state.
 */
import type { Machine } from "../channel/machine.js";
import type { Address, Hex } from "../channel/types.js";
import type { ChannelRecord } from "../store/store.js";
import type { ClientContext } from "./context.js";
import { sameAddress } from "./util.js";

export const ACTIVE: readonly Machine["phase"][] = ["InitSigning", "Funding", "Acting", "Signing", "Final"];

export class Resync {
  constructor(private readonly ctx: ClientContext) {}

  /** A peer (re)connected: every active channel with it is synced. */
  async syncWith(peer: Address): Promise<void> {
    const { table } = this.ctx;
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
