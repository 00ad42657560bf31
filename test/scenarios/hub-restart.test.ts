/**
 * A hub restarted under load (issue 11): one `perun node` with a ledger channel to each of many peers
 * (two peers processes), every peer paying it one payment after another; the hub is killed with
 * SIGKILL in the middle and started again on its database. Every channel must make payments again
 * without help (re-dial, redelivery, re-sync), and once the load stops both ends of every channel
 * must agree on its version and balances. The bench runs the same code with 1,000 channels
 * (bench/hub.ts, `hub.*` in bench/results/latest.json).
 */
import { describe, expect, it } from "vitest";
import { measureHub } from "../../bench/hub.js";

describe("a hub with many channels, killed and restarted under load", () => {
  it("every channel works again and both ends agree on every channel", async () => {
    const r = await measureHub({ channels: 40, peerProcesses: 2, loadSeconds: 2, recoverWithinSeconds: 60 });
    expect(r.paymentsPerSecond).toBeGreaterThan(0);
    expect(r.stuckAfterRestart).toBe(0);
    expect(r.restartSeconds).toBeLessThan(60);
    expect(r.viewsDiffer).toBe(0);
  }, 180_000);
});
