/**
 * App channels through the local API of two nodes (real EVM over JSON-RPC, real WebSocket wire,
 * SQLite stores): Bob opens a tic-tac-toe game with Alice (POST /v1/channels {app}), both move
 * (POST /v1/channels/:id/move {data}), GET shows the board, the winner closes and the pot is paid
 * out on chain. Bad requests are refused in the user's terms and change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Hex } from "../channel/types.js";
import { type ApiHarness, startApiHarness } from "./api-harness.testutil.js";
import { ApiError } from "./errors.js";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness();
});
afterAll(async () => {
  await h?.stop();
});

const STAKE = 10n ** 17n;

async function refused(p: Promise<unknown>, status: number, code: string, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  expect({ status: (err as ApiError).status, code: (err as ApiError).code }).toEqual({ status, code });
  expect((err as Error).message).toMatch(message);
}

async function until(pred: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${h.logs.slice(-10).join("\n")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("tic-tac-toe through the node API", () => {
  it("is opened, played and paid out to the winner", async () => {
    expect((await h.b.info()).apps).toEqual({ tictactoe: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/) });
    const { channelID } = await h.b.open({
      peer: h.alice.address,
      deposit: STAKE,
      peerDeposit: STAKE,
      app: "tictactoe",
      appOptions: { first: 1 },
    });
    await until(async () => (await h.a.channel(channelID)).phase === "Acting", "Alice sees the game funded");
    expect((await h.a.channel(channelID)).app).toEqual({
      name: "tictactoe",
      address: (await h.a.info()).apps.tictactoe,
      state: { board: ["...", "...", "..."], nextActor: 1, winner: null, draw: false },
    });
    // Alice is player 1 and moves first.
    await refused(h.b.move(channelID, { cell: 4 }), 409, "INVALID_MOVE", /player 1's turn/);
    await h.a.move(channelID, { cell: 4 });
    await refused(h.b.move(channelID, { cell: 4 }), 409, "INVALID_MOVE", /cell 4 is taken/);
    await refused(h.b.move(channelID, { cell: "corner" }), 409, "INVALID_MOVE", /names a cell/);
    await refused(h.b.move(channelID, undefined), 400, "INVALID_FIELD", /data/);
    expect((await h.b.channel(channelID)).version).toBe("1");
    for (const [api, cell] of [
      [h.b, 0],
      [h.a, 2],
      [h.b, 1],
      [h.a, 6],
    ] as const) {
      await api.move(channelID, { cell });
    }
    const done = await h.b.channel(channelID);
    expect(done.app?.state).toEqual({ board: ["XXO", ".O.", "O.."], nextActor: 0, winner: 1, draw: false });
    expect(done.phase).toBe("Final");
    // Bob (participant 0) staked and lost; Alice has the pot.
    expect(done.balances).toEqual([["0", `${2n * STAKE}`]]);
    await h.a.close(channelID);
    await until(async () => (await h.b.channel(channelID)).phase === "Withdrawn", "Bob's side settled");
    expect(await h.holdings(channelID, h.alice.address)).toBe(0n);
    expect(await h.holdings(channelID, h.bob.address)).toBe(0n);
  });

  it("refuses an unknown app, bad options and moves in a payment channel, changing nothing", async () => {
    const before = (await h.b.channels()).length;
    const open = (extra: Record<string, unknown>) =>
      h.b.open({ peer: h.alice.address, deposit: STAKE, peerDeposit: STAKE, ...extra });
    await refused(open({ app: "chess" }), 400, "INVALID_FIELD", /one of tictactoe/);
    await refused(open({ app: "tictactoe", appOptions: { first: 2 } }), 400, "INVALID_FIELD", /cannot start/);
    await refused(open({ appOptions: { first: 0 } }), 400, "INVALID_FIELD", /absent without app/);
    expect((await h.b.channels()).length).toBe(before);
    await refused(h.b.move(h.channelID as Hex, { cell: 0 }), 409, "NOT_AN_APP_CHANNEL", /payment channel/);
  });
});
