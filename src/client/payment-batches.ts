/**
 * Concurrent payments of one channel share one update: while our update of a channel runs, the
 * payments asked for meanwhile gather in a batch, proposed as one state once it is their turn
 * (`batchPayments`). Sixty-four payments in flight then cost one round of signatures, not sixty-four
 * queued ones. Each payment still gets its own answer: the state that carried it, or its own error
 * (too much for what the earlier ones left), or the update's error for all of them.
 */
import { batchPayments } from "../channel/payment.js";
import type { Hex, State } from "../channel/types.js";

interface Pending {
  readonly asset: number;
  readonly amount: bigint;
  resolve(s: State): void;
  reject(e: unknown): void;
}

/** Runs one update of `channelID` built from the current state (as LedgerChannels.update does). */
export type Update = (channelID: Hex, build: (current: State) => State) => Promise<State>;

/** Thrown by a batch's build when none of its payments can be made: no update is proposed. */
class NothingToPay extends Error {}

export class PaymentBatches {
  /** The batch still gathering, per channel: it closes when its update starts building. */
  private readonly open = new Map<string, Pending[]>();

  constructor(private readonly update: Update) {}

  /** Pays `amount` of `asset` from participant `me` to the other one in channel `channelID`. */
  pay(channelID: Hex, me: number, asset: number, amount: bigint): Promise<State> {
    const key = channelID.toLowerCase();
    return new Promise<State>((resolve, reject) => {
      let batch = this.open.get(key);
      if (batch === undefined) {
        batch = [];
        this.open.set(key, batch);
        void this.run(channelID, key, me, batch);
      }
      batch.push({ asset, amount, resolve, reject });
    });
  }

  private async run(channelID: Hex, key: string, me: number, batch: Pending[]): Promise<void> {
    let errors: (Error | undefined)[] = [];
    try {
      const state = await this.update(channelID, (current) => {
        // Payments asked for from now on wait for the next update.
        if (this.open.get(key) === batch) this.open.delete(key);
        const r = batchPayments(current, me, 1 - me, batch);
        errors = r.errors;
        if (r.state === null) throw new NothingToPay();
        return r.state;
      });
      for (const [i, p] of batch.entries()) {
        const e = errors[i];
        if (e === undefined) p.resolve(state);
        else p.reject(e);
      }
    } catch (err) {
      if (this.open.get(key) === batch) this.open.delete(key);
      for (const [i, p] of batch.entries()) p.reject(err instanceof NothingToPay ? errors[i] : err);
    }
  }
}
