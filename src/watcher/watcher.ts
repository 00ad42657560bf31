/**
 * The watcher (design.md section 2): follows the Adjudicator's ChannelUpdate
 * events and the chain clock, and hands both to the client, which refutes
 * stale registrations with the newest state, concludes disputes after their
 * timeout and withdraws. The last processed block is kept in the store, so a
 * restarted watcher replays what it missed (handlers are idempotent).
 */
import type { ChainPort, ChannelUpdateEvent } from "../chain/chain-port.js";
import type { Store } from "../store/store.js";

export interface WatcherHandlers {
  onChainUpdate(ev: ChannelUpdateEvent): Promise<void>;
  tick(now: bigint): Promise<void>;
}

export interface WatcherOptions {
  readonly pollMs?: number;
  /** Largest block range per log query (public nodes limit it). */
  readonly maxRange?: bigint;
  readonly log?: (level: "warn" | "error", message: string, details?: Record<string, unknown>) => void;
}

const BLOCK_KEY = "watcher.lastBlock";

export class Watcher {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly chain: ChainPort,
    private readonly store: Store,
    private readonly handlers: WatcherHandlers,
    private readonly options: WatcherOptions = {},
  ) {}

  /** Starts following the chain; the first start begins at the current block. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.store.getMeta(BLOCK_KEY) === undefined) {
      this.store.setMeta(BLOCK_KEY, String((await this.chain.blockNumber()) - 1n));
    }
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** One round: new events in block order, then a clock tick. Exposed for tests and the node. */
  async poll(): Promise<void> {
    const last = BigInt(this.store.getMeta(BLOCK_KEY) ?? "0");
    const head = await this.chain.blockNumber();
    const maxRange = this.options.maxRange ?? 5_000n;
    for (let from = last + 1n; from <= head; from += maxRange) {
      const to = from + maxRange - 1n < head ? from + maxRange - 1n : head;
      const events = await this.chain.channelUpdates(from, to);
      for (const ev of events) await this.handlers.onChainUpdate(ev);
      this.store.setMeta(BLOCK_KEY, String(to));
    }
    await this.handlers.tick(await this.chain.now());
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.poll();
      } catch (err) {
        this.options.log?.("warn", "watcher round failed; retrying", { error: String(err) });
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.options.pollMs ?? 250);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}
