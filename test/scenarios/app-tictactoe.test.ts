/**
 * Tic-tac-toe between two node processes on one `perun chain`, played with the `perun app` commands:
 *  a. Alice opens a game, both move, `perun app show` prints the board; the winner closes and the pot
 *     is paid out on chain.
 *  b. Bob's node is killed (kill -9) on Alice's turn: Alice disputes, the registration stands, her
 *     next `perun app move` goes on chain (progress) and wins; her node concludes and withdraws the
 *     pot; Bob's restarted node follows the chain to the end.
 */
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Hex } from "../../src/channel/types.js";
import { killAll, type NodeProcess, type PerunRun, runPerun } from "./processes.js";
import { crash, nodePair, runNode, type Scene, startScene, until } from "./scenario-helpers.js";

const CHALLENGE = 60;
let scene: Scene;

beforeAll(async () => {
  scene = await startScene();
}, 120_000);

afterAll(async () => {
  scene?.chain.kill("SIGTERM");
  await killAll();
});

function perun(node: NodeProcess, args: string[]): Promise<PerunRun> {
  return runPerun([...args, "--api", node.apiUrl, "--api-secret-file", node.apiSecretFile]);
}

async function ok(node: NodeProcess, args: string[]): Promise<string> {
  const r = await perun(node, args);
  if (r.code !== 0) throw new Error(`perun ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function openGame(alice: NodeProcess, bob: NodeProcess): Promise<Hex> {
  const id = (
    await ok(alice, [
      "app",
      "open",
      "tictactoe",
      "--peer",
      bob.address,
      "--deposit",
      "1",
      "--challenge-duration",
      `${CHALLENGE}`,
    ])
  ).trim() as Hex;
  await until(async () => (await bob.api.channel(id)).phase === "Acting", "Bob sees the game funded");
  return id;
}

describe("perun app: tic-tac-toe between node processes", () => {
  it("is played with the CLI and the winner's pot is paid out on chain", async () => {
    const [aSpec, bSpec] = await nodePair(scene, ["alice", 1], ["bob", 2]);
    const [alice, bob] = await Promise.all([runNode(scene, aSpec), runNode(scene, bSpec)]);
    const id = await openGame(alice, bob);
    expect(await ok(bob, ["app", "show", "--channel", id])).toContain("X to move (the peer's turn)");
    await ok(alice, ["app", "move", "--channel", id, "--cell", "4"]);
    const out = await perun(alice, ["app", "move", "--channel", id, "--cell", "0"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/player 1's turn/);
    const usage = await perun(alice, ["app", "move", "--channel", id, "--cell", "9"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--cell must be 0..8/);
    for (const [node, cell] of [
      [bob, 0],
      [alice, 2],
      [bob, 1],
      [alice, 6],
    ] as const)
      await ok(node, ["app", "move", "--channel", id, "--data", JSON.stringify({ cell })]);
    const shown = await ok(bob, ["app", "show", "--channel", id]);
    expect(shown).toContain("  O O X\n  . X .\n  X . .\n");
    expect(shown).toContain("you are O; X (the peer) won; pot 2");
    expect(await ok(alice, ["close", "--channel", id])).toContain("our funds are withdrawn");
    expect(await scene.withdrawn(id, alice.address)).toEqual([parseEther("2")]);
    await until(async () => (await bob.api.channel(id)).phase === "Withdrawn", "Bob's side settled");
    expect(await scene.holdings(id, bob.address)).toBe(0n);
  });

  it("the peer is killed on our turn: we win on chain with progress; the peer's node follows when back", async () => {
    const [aSpec, bSpec] = await nodePair(scene, ["alice2", 3], ["bob2", 4]);
    const [alice, bob0] = await Promise.all([runNode(scene, aSpec), runNode(scene, bSpec)]);
    const id = await openGame(alice, bob0);
    for (const [node, cell] of [
      [alice, 0],
      [bob0, 4],
      [alice, 1],
      [bob0, 8],
    ] as const)
      await ok(node, ["app", "move", "--channel", id, "--cell", `${cell}`]);
    await crash(bob0);
    expect(await ok(alice, ["dispute", "--channel", id])).toContain("dispute started");
    await until(async () => (await alice.api.channel(id)).phase === "Registered", "registered", 30_000);
    const early = await perun(alice, ["app", "move", "--channel", id, "--cell", "2"]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/before the registration times out/);
    await scene.advance(CHALLENGE + 1);
    await ok(alice, ["app", "move", "--channel", id, "--cell", "2"]);
    await until(async () => (await alice.api.channel(id)).phase === "Withdrawn", "Alice concluded", 30_000);
    expect(await scene.withdrawn(id, alice.address)).toEqual([parseEther("2")]);
    expect(await ok(alice, ["app", "show", "--channel", id])).toContain("X (you) won");

    const bob = await runNode(scene, bSpec);
    await until(async () => (await bob.api.channel(id)).phase === "Withdrawn", "Bob followed", 30_000);
    expect(await scene.holdings(id, bob.address)).toBe(0n);
  });
});
