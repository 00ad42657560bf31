/**
 * The `perun` binary as a user runs it: separate OS processes over loopback.
 * One process serves the embedded chain over JSON-RPC (`perun chain`), another
 * runs the demo against it; bad arguments get a clear message and exit code 2.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPerun } from "./scenarios/processes.js";

const BIN = join(import.meta.dirname, "..", "dist", "src", "cli", "main.js");

const run = (args: string[]) => runPerun(args);

describe("perun CLI", () => {
  let chain: ChildProcess;
  let info: { rpcUrl: string; chainId: number; contracts: { adjudicator: string; assetHolderETH: string } };

  beforeAll(async () => {
    chain = spawn(process.execPath, [BIN, "chain", "--port", "0", "--deploy"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    chain.stdout?.on("data", (d) => {
      out += d;
    });
    while (!out.includes("\n")) {
      const [, exited] = await Promise.race([
        once(chain.stdout as NodeJS.ReadableStream, "data").then(() => [true, false] as const),
        once(chain, "exit").then(() => [false, true] as const),
      ]);
      if (exited) throw new Error("perun chain exited before printing its URL");
    }
    info = JSON.parse(out.split("\n")[0] as string);
  });

  afterAll(async () => {
    if (chain && chain.exitCode === null) {
      chain.kill("SIGTERM");
      await once(chain, "exit");
    }
  });

  it("`perun chain` serves the embedded chain on loopback with the contracts deployed", () => {
    expect(info.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.chainId).toBe(31337);
    expect(info.contracts.adjudicator).toMatch(/^0x[0-9a-fA-F]{40}$/);
  });

  it("`perun demo --rpc` runs open -> payments -> close in another process and the balances check out", async () => {
    const r = await run(["demo", "--rpc", info.rpcUrl, "--payments", "30"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("30 off-chain payments");
    expect(r.stdout).toContain("check: every wallet");
  });

  it("`perun deploy --rpc` deploys to a running chain and prints the addresses", async () => {
    const r = await run(["deploy", "--rpc", info.rpcUrl]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { chainId: number; adjudicator: string; assetHolderETH: string };
    expect(out.chainId).toBe(31337);
    expect(out.adjudicator).not.toBe(info.contracts.adjudicator);
  });

  it.each([
    [["frobnicate"], /Unknown command "frobnicate"/],
    [["demo", "--payments", "many"], /--payments must be an integer/],
    [["demo", "--bogus"], /Unknown option '--bogus'/],
    [["chain", "--port", "99999"], /--port must be an integer from 0 to 65535/],
    [["chain", "--host", "0.0.0.0"], /--host must be a loopback address/],
    [["deploy"], /needs --rpc/],
    [["deploy", "--rpc", "http://127.0.0.1:1", "--key", "0x12"], /32-byte hex private key/],
    [["demo", "extra"], /Unexpected argument "extra"/],
  ])("rejects %j with a clear message and exit code 2", async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("perun help");
  });

  it("says clearly when the chain is unreachable (exit code 1)", async () => {
    const r = await run(["demo", "--rpc", "http://127.0.0.1:1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Cannot reach the chain at http:\/\/127\.0\.0\.1:1/);
  });

  it("prints the usage for `perun help`", async () => {
    const r = await run(["help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("perun chain");
  });
});
