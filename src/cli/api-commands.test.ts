/**
 * Argument checks of `perun open-virtual` (and the shared ones it reuses): every bad argument is a
 * UsageError naming the flag (exit 2 through `main`), before any request goes out.
 */
import { describe, expect, it, vi } from "vitest";
import { type ApiArgs, apiCommand } from "./api-commands.js";
import { main } from "./run.js";
import { UsageError } from "./usage-error.js";

const BOB = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const INGRID = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const L1 = `0x${"11".repeat(32)}`;
const L2 = `0x${"22".repeat(32)}`;
const good: ApiArgs = {
  api: "http://127.0.0.1:1",
  peer: BOB,
  via: INGRID,
  ledger: L1,
  "peer-ledger": L2,
  deposit: "1",
  "peer-deposit": "1",
  fee: "0.001",
  seconds: "3600",
};

describe("perun open-virtual arguments", () => {
  it.each<[string, Partial<Record<keyof ApiArgs, string | undefined>>, RegExp]>([
    ["no --via", { via: undefined }, /needs --via/],
    ["--via not an address", { via: "ingrid" }, /--via must be an address/],
    ["--via is the peer", { via: BOB }, /--via must be the intermediary, not the peer/],
    ["no --ledger", { ledger: undefined }, /needs --ledger/],
    ["--ledger not an id", { ledger: "0x12" }, /--ledger must be a channel id/],
    ["--peer-ledger not an id", { "peer-ledger": "L2" }, /--peer-ledger must be a channel id/],
    ["--peer-ledger = --ledger", { "peer-ledger": L1 }, /--peer-ledger must be the intermediary's channel/],
    ["no --deposit", { deposit: undefined }, /needs --deposit/],
    ["nothing deposited", { deposit: "0", "peer-deposit": "0" }, /must be positive/],
    ["no --seconds", { seconds: undefined }, /needs --seconds/],
    ["--seconds zero", { seconds: "0" }, /--seconds must be an integer from 1/],
    ["--seconds fractional", { seconds: "1.5" }, /--seconds must be an integer/],
    ["--seconds too big", { seconds: "99999999999" }, /--seconds must be an integer from 1 to 4294967296/],
    ["neither --fee nor --via-api", { fee: undefined }, /needs either --fee <eth> or --via-api/],
    ["both --fee and --via-api", { "via-api": "http://127.0.0.1:2" }, /needs either --fee/],
    ["--fee not ether", { fee: "1e-3" }, /--fee must be an amount in ether/],
    [
      "--via-api not a URL",
      { fee: undefined, "via-api": "127.0.0.1:5003" },
      /--via-api must be a node API URL/,
    ],
  ])("%s -> UsageError", async (_name, patch, message) => {
    const args: Record<string, unknown> = { ...good, ...patch };
    for (const k of Object.keys(args)) if (args[k] === undefined) delete args[k];
    const err = await apiCommand("open-virtual", args as ApiArgs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
  });

  it("exits 2 on bad arguments and on options that do not apply", async () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await main(["open-virtual", "--peer", BOB, "--via", BOB])).toBe(2);
      expect(await main(["open-virtual", "--amount", "1"])).toBe(2);
      expect(String(stderr.mock.calls.at(-1)?.[0])).toContain(
        "--amount does not apply to `perun open-virtual`",
      );
    } finally {
      stderr.mockRestore();
    }
  });
});
