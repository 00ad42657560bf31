/**
 * Funding a ledger channel (design.md section 4, "Funding"): deposit our share of version 0, wait for
 * every deposit, and recover ours by dispute if the peer does not fund before the funding deadline.
 * One run per channel: whoever asks again (the proposal's answer, a sync, a restart) joins the running
 * one, so no two runs can read "nothing deposited yet" and both deposit. A virtual channel is funded by
 * locks in ledger channels (the VirtualChannelEnd role), never here.
 */
import { fundingId } from "../channel/hash.js";
import { funded } from "../channel/machine.js";
import type { Asset, Hex } from "../channel/types.js";
import type { ChannelRecord } from "../store/store.js";
import type { ClientContext } from "./context.js";
import { depositsToSend } from "./decisions.js";
import { FundingTimeoutError } from "./errors.js";
import type { Roles } from "./roles.js";
import { sleep } from "./util.js";

export class Funding {
  /** The one funding run of each ledger channel in Funding, however many messages ask for it. */
  private readonly runs = new Map<string, Promise<void>>();

  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /** Deposits our share (if not yet on chain) and waits for every deposit, or recovers ours. */
  fundAndWait(channelID: Hex): Promise<void> {
    const key = channelID.toLowerCase();
    const running = this.runs.get(key);
    if (running) return running;
    const run = this.fund(channelID).finally(() => this.runs.delete(key));
    this.runs.set(key, run);
    return run;
  }

  private async fund(channelID: Hex): Promise<void> {
    const { table, deps, address } = this.ctx;
    const rec0 = table.record(channelID);
    if (rec0.machine.phase !== "Funding" || !rec0.machine.params.ledgerChannel) return;
    const deadline = await table.inQueue(channelID, async () => {
      const r = table.record(channelID);
      if (r.fundingDeadline !== null) return r.fundingDeadline;
      const d = (await deps.chain.now()) + BigInt(String(r.meta.fundingTimeout ?? 600));
      table.persist({ ...r, fundingDeadline: d });
      return d;
    });
    const rec = table.record(channelID);
    const me = rec.machine.idx;
    const fid = fundingId(channelID, address);
    const assets = assetsOf(rec);
    const holdings: bigint[] = [];
    for (const asset of assets) holdings.push(await deps.chain.holdings(asset, fid));
    const plan = depositsToSend({
      want: deposits(rec).map((row) => row[me] ?? 0n),
      have: holdings,
      sent: (table.record(channelID).meta.depositSent as boolean[] | undefined) ?? [],
    });
    for (const step of plan) {
      if (step.kind === "pending") {
        // A deposit of ours went out before a restart and is not (yet) on chain: sending another could
        // pay twice, and an excess deposit is lost on conclusion. Wait for it, or recover at the deadline.
        this.ctx.log("warn", "a deposit of ours may still be pending; not depositing again", {
          channelID,
          asset: step.asset,
        });
        continue;
      }
      await table.inQueue(channelID, async () => {
        const r = table.record(channelID);
        const marks = [...((r.meta.depositSent as boolean[] | undefined) ?? [])];
        marks[step.asset] = true;
        table.persist({ ...r, meta: { ...r.meta, depositSent: marks } });
      });
      await deps.chain.deposit(assets[step.asset] as Asset, fid, step.amount);
    }
    for (;;) {
      if (this.ctx.closed) return;
      if (table.record(channelID).machine.phase !== "Funding") return; // funded meanwhile (a peer's update)
      if (await this.allDeposited(channelID)) {
        await table.inQueue(channelID, async () => this.markFunded(channelID));
        return;
      }
      if ((await deps.chain.now()) >= deadline) break;
      await sleep(this.ctx.timing.pollMs);
    }
    if (table.record(channelID).machine.phase !== "Funding") return;
    // Fund recovery: the signed version 0 goes on chain; underfunded, the asset
    // holders refund every deposit, ours included.
    this.ctx.emit({ type: "fundingTimeout", channelID });
    this.ctx.log("warn", "funding timed out; recovering our deposit", { channelID });
    const closedP = table.waitClosed(channelID);
    await this.roles.disputes.dispute(channelID);
    await closedP;
    throw new FundingTimeoutError(channelID, true);
  }

  /** Whether every participant's deposit of every asset of version 0 is on chain. */
  async allDeposited(channelID: Hex): Promise<boolean> {
    const { table, deps } = this.ctx;
    const rec = table.record(channelID);
    if (!rec.machine.current) return false;
    const want = deposits(rec);
    for (const [a, asset] of assetsOf(rec).entries()) {
      for (const [p, part] of rec.machine.params.participants.entries()) {
        const amount = want[a]?.[p] ?? 0n;
        if (
          amount > 0n &&
          (await deps.chain.holdings(asset, fundingId(channelID, part.ethAddress))) < amount
        ) {
          return false;
        }
      }
    }
    return true;
  }

  /** Funding -> Acting (call inside the channel queue). */
  markFunded(channelID: Hex): void {
    const { table } = this.ctx;
    const r = table.record(channelID);
    if (r.machine.phase !== "Funding") return;
    table.apply({ ...r, fundingDeadline: null }, funded(r.machine));
    this.ctx.emit({ type: "funded", channelID });
  }
}

/** What each participant deposits per asset: the initial state's balances (later states move them). */
function deposits(rec: ChannelRecord): readonly (readonly bigint[])[] {
  const saved = rec.meta.deposits as bigint[][] | undefined;
  return saved ?? rec.machine.current?.state.outcome.balances ?? [];
}

function assetsOf(rec: ChannelRecord): readonly Asset[] {
  return rec.machine.current?.state.outcome.assets ?? [];
}
