/**
 * Tic-tac-toe rules, one per case (test/contracts/tictactoe-twin.test.ts checks them against the
 * contract on the EVM with random moves).
 */
import { describe, expect, it } from "vitest";
import {
  decodeTicTacToe,
  encodeTicTacToe,
  TicTacToeMoveError,
  ticTacToeApp,
  ticTacToeMove,
  ticTacToeRules,
  ticTacToeStart,
  ticTacToeView,
} from "./tictactoe.js";
import type { Address, Hex, Params, State } from "./types.js";

const A = "0x00000000000000000000000000000000000000a1" as Address;
const B = "0x00000000000000000000000000000000000000b2" as Address;
const C = "0x00000000000000000000000000000000000000c3" as Address;
const part = (a: Address) => ({ ethAddress: a, ccAddress: "0x" as Hex });
const params = (n = 2): Params => ({
  challengeDuration: 60n,
  nonce: 1n,
  participants: [A, B, C].slice(0, n).map(part),
  app: "0x00000000000000000000000000000000000000ff",
  ledgerChannel: true,
  virtualChannel: false,
});
const asset = { chainID: 1n, ethHolder: A, ccHolder: "0x" as Hex };
const P = params();

function game(grid: number[], nextActor: number, balances: bigint[][] = [[5n, 3n]], isFinal = false): State {
  return {
    channelID: `0x${"11".repeat(32)}`,
    version: 7n,
    outcome: { assets: balances.map(() => asset), backends: balances.map(() => 0n), balances, locked: [] },
    appData: encodeTicTacToe({ nextActor, grid }),
    isFinal,
  };
}
const E = [0, 0, 0, 0, 0, 0, 0, 0, 0];
const verdict = (from: State, to: State, actor: number, p = P) =>
  ticTacToeRules.validTransition(p, from, to, actor);
const reason = (from: State, to: State, actor: number, p = P) => {
  const v = verdict(from, to, actor, p);
  return v.valid ? "valid" : v.reason;
};

describe("tic-tac-toe app data", () => {
  it("is the player to move then the 9 cells, one byte each", () => {
    expect(ticTacToeStart()).toBe("0x00000000000000000000");
    expect(ticTacToeStart(1)).toBe("0x01000000000000000000");
    expect(decodeTicTacToe("0x01020100000000000002")).toEqual({
      nextActor: 1,
      grid: [2, 1, 0, 0, 0, 0, 0, 0, 2],
    });
    expect(decodeTicTacToe("0x010201000000000000")).toBeUndefined();
    expect(decodeTicTacToe("0x0102010000000000000200")).toBeUndefined();
  });
});

describe("ticTacToeRules.validTransition", () => {
  const from = game(E, 0);
  it("allows the player to move to mark one empty cell and pass the turn", () => {
    expect(reason(from, game([0, 0, 0, 0, 1, 0, 0, 0, 0], 1), 0)).toBe("valid");
    expect(reason(game([0, 0, 0, 0, 1, 0, 0, 0, 0], 1), game([2, 0, 0, 0, 1, 0, 0, 0, 0], 0), 1)).toBe(
      "valid",
    );
  });
  it("refuses two players only", () => {
    expect(reason(from, game([1, 0, 0, 0, 0, 0, 0, 0, 0], 1), 0, params(3))).toMatch(/two players/);
    expect(ticTacToeRules.validInit?.(params(3), from).valid).toBe(false);
  });
  it("refuses app data of another length", () => {
    const to = game([1, 0, 0, 0, 0, 0, 0, 0, 0], 1);
    expect(reason({ ...from, appData: `${from.appData}00` }, to, 0)).toMatch(/not a tic-tac-toe/);
    expect(reason(from, { ...to, appData: "0x0001" }, 0)).toMatch(/not a tic-tac-toe/);
  });
  it("refuses a move out of turn, and actors beyond 1", () => {
    expect(reason(from, game([2, 0, 0, 0, 0, 0, 0, 0, 0], 0), 1)).toMatch(/not player 1's turn/);
    const odd = game(E, 2);
    expect(reason(odd, game([3, 0, 0, 0, 0, 0, 0, 0, 0], 1), 2)).toMatch(/not player 2's turn/);
  });
  it("refuses a turn that does not pass to the other player", () => {
    expect(reason(from, game([1, 0, 0, 0, 0, 0, 0, 0, 0], 0), 0)).toMatch(/other player's turn/);
    expect(reason(from, game([1, 0, 0, 0, 0, 0, 0, 0, 0], 2), 0)).toMatch(/other player's turn/);
  });
  it("refuses a taken cell, another mark, a cleared cell, two cells or none", () => {
    const one = game([0, 0, 0, 0, 2, 0, 0, 0, 0], 0);
    expect(reason(one, game([0, 0, 0, 0, 1, 0, 0, 0, 0], 1), 0)).toMatch(/cell 4 cannot change from 2 to 1/);
    expect(reason(from, game([2, 0, 0, 0, 0, 0, 0, 0, 0], 1), 0)).toMatch(/cell 0 cannot change from 0 to 2/);
    expect(reason(one, game([1, 0, 0, 0, 0, 0, 0, 0, 0], 1), 0)).toMatch(/cell 0|cell 4/);
    expect(reason(from, game([1, 1, 0, 0, 0, 0, 0, 0, 0], 1), 0)).toMatch(/exactly one cell, not 2/);
    expect(reason(from, game(E, 1), 0)).toMatch(/exactly one cell, not 0/);
  });
  it("ignores cells that do not change, whatever their byte", () => {
    const odd = game([9, 0, 0, 0, 0, 0, 0, 0, 0], 0);
    expect(reason(odd, game([9, 1, 0, 0, 0, 0, 0, 0, 0], 1), 0)).toBe("valid");
  });
  it("makes a line final, with the whole pot of every asset to the winner", () => {
    const two = game([1, 1, 0, 2, 2, 0, 0, 0, 0], 0, [
      [5n, 3n],
      [1n, 2n],
    ]);
    const won = (bal: bigint[][], isFinal = true) => game([1, 1, 1, 2, 2, 0, 0, 0, 0], 1, bal, isFinal);
    expect(
      reason(
        two,
        won([
          [8n, 0n],
          [3n, 0n],
        ]),
        0,
      ),
    ).toBe("valid");
    expect(
      reason(
        two,
        won(
          [
            [8n, 0n],
            [3n, 0n],
          ],
          false,
        ),
        0,
      ),
    ).toMatch(/must be final/);
    expect(
      reason(
        two,
        won([
          [7n, 1n],
          [3n, 0n],
        ]),
        0,
      ),
    ).toMatch(/whole pot of asset 0/);
    expect(
      reason(
        two,
        won([
          [8n, 0n],
          [2n, 1n],
        ]),
        0,
      ),
    ).toMatch(/whole pot of asset 1/);
    // Player 1's line: player 0 ends with nothing.
    const o = game([1, 1, 0, 2, 2, 0, 1, 0, 0], 1);
    expect(reason(o, game([1, 1, 0, 2, 2, 2, 1, 0, 0], 0, [[0n, 8n]], true), 1)).toBe("valid");
    expect(reason(o, game([1, 1, 0, 2, 2, 2, 1, 0, 0], 0, [[8n, 0n]], true), 1)).toMatch(/whole pot/);
  });
  it("finds every line: rows, columns and diagonals", () => {
    const lines = [
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
      [0, 3, 6],
      [1, 4, 7],
      [2, 5, 8],
      [0, 4, 8],
      [2, 4, 6],
    ];
    for (const [a, b, c] of lines as [number, number, number][]) {
      const before = E.map((_, i) => (i === a || i === b ? 1 : 0));
      const after = before.map((x, i) => (i === c ? 1 : x));
      expect(reason(game(before, 0), game(after, 1, [[8n, 0n]], true), 0)).toBe("valid");
      // Without the win the stakes stay and the game goes on.
      expect(reason(game(before, 0), game(after, 1, [[5n, 3n]], false), 0)).toMatch(/pot|final/);
    }
  });
  it("ends a full board without a line as a draw: final, stakes unchanged", () => {
    const eight = game([1, 2, 1, 1, 2, 2, 2, 1, 0], 0);
    const full = (bal: bigint[][], isFinal: boolean) => game([1, 2, 1, 1, 2, 2, 2, 1, 1], 1, bal, isFinal);
    expect(reason(eight, full([[5n, 3n]], true), 0)).toBe("valid");
    expect(reason(eight, full([[5n, 3n]], false), 0)).toMatch(/must be final/);
    expect(reason(eight, full([[6n, 2n]], true), 0)).toMatch(/stay until a win/);
    expect(reason(eight, full([[5n, 4n]], true), 0)).toMatch(/stay until a win/);
    expect(reason(eight, full([[6n, 3n]], true), 0)).toMatch(/stay until a win/);
  });
  it("keeps the stakes and the game open before the end", () => {
    const to = (bal: bigint[][], isFinal = false) => game([1, 0, 0, 0, 0, 0, 0, 0, 0], 1, bal, isFinal);
    expect(reason(from, to([[5n, 3n]], true), 0)).toMatch(/goes on/);
    expect(reason(from, to([[4n, 4n]]), 0)).toMatch(/stay until a win/);
    expect(reason(from, to([[5n]]), 0)).toMatch(/no balance for both/);
    expect(
      reason(
        game(E, 0, [
          [5n, 3n],
          [1n, 1n],
        ]),
        to([[5n, 3n]]),
        0,
      ),
    ).toMatch(/asset 1 has no balance/);
  });
});

describe("ticTacToeRules.validInit", () => {
  const init = (s: State) => ticTacToeRules.validInit?.(P, s).valid;
  it("wants an empty board, player 0 or 1 to move, not final", () => {
    expect(init(game(E, 0))).toBe(true);
    expect(init(game(E, 1))).toBe(true);
    expect(init(game(E, 2))).toBe(false);
    expect(init(game([0, 0, 0, 0, 1, 0, 0, 0, 0], 1))).toBe(false);
    expect(init(game(E, 0, [[5n, 3n]], true))).toBe(false);
    expect(init({ ...game(E, 0), appData: "0x" })).toBe(false);
  });
});

describe("ticTacToeMove", () => {
  it("marks the cell, passes the turn and bumps the version", () => {
    const s = ticTacToeMove(P, game(E, 0), 0, 4);
    expect(decodeTicTacToe(s.appData)).toEqual({ nextActor: 1, grid: [0, 0, 0, 0, 1, 0, 0, 0, 0] });
    expect(s.version).toBe(8n);
    expect(s.isFinal).toBe(false);
    expect(s.outcome.balances).toEqual([[5n, 3n]]);
  });
  it("gives the winner every asset's pot and ends the game", () => {
    const s = ticTacToeMove(
      P,
      game([2, 2, 0, 1, 1, 0, 0, 0, 0], 1, [
        [5n, 3n],
        [0n, 4n],
      ]),
      1,
      2,
    );
    expect(s.isFinal).toBe(true);
    expect(s.outcome.balances).toEqual([
      [0n, 8n],
      [0n, 4n],
    ]);
    expect(ticTacToeView(s)).toEqual({ board: ["OOO", "XX.", "..."], nextActor: 0, winner: 1, draw: false });
  });
  it("gives player 0 the pot for her line", () => {
    const s = ticTacToeMove(P, game([1, 1, 0, 2, 2, 0, 0, 0, 0], 0), 0, 2);
    expect(s.isFinal).toBe(true);
    expect(s.outcome.balances).toEqual([[8n, 0n]]);
  });
  it("a line on the last cell is a win, not a draw", () => {
    const s = ticTacToeMove(P, game([1, 2, 1, 2, 1, 2, 2, 1, 0], 0), 0, 8);
    expect(ticTacToeView(s)).toMatchObject({ winner: 0, draw: false });
    expect(s.outcome.balances).toEqual([[8n, 0n]]);
  });
  it("ends a full board as a draw with the stakes where they were", () => {
    const s = ticTacToeMove(P, game([1, 2, 1, 1, 2, 2, 2, 1, 0], 0), 0, 8);
    expect(s.isFinal).toBe(true);
    expect(s.outcome.balances).toEqual([[5n, 3n]]);
    expect(ticTacToeView(s)).toMatchObject({ winner: null, draw: true });
  });
  it("refuses, saying why: out of turn, taken, off the board, after the end, no game", () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(TicTacToeMoveError);
        expect((e as TicTacToeMoveError).details?.reason).toBe(
          (e as Error).message.split("move: ")[1]?.split(".\n")[0],
        );
        return (e as Error).message;
      }
      return "no error";
    };
    const one = game([0, 0, 0, 0, 1, 0, 0, 0, 0], 1);
    expect(err(() => ticTacToeMove(P, one, 0, 0))).toMatch(/player 1's turn/);
    expect(err(() => ticTacToeMove(P, one, 1, 4))).toMatch(/cell 4 is taken/);
    expect(err(() => ticTacToeMove(P, one, 1, 9))).toMatch(/cell 9 is not 0..8/);
    expect(err(() => ticTacToeMove(P, one, 1, -1))).toMatch(/not 0..8/);
    expect(err(() => ticTacToeMove(P, one, 1, 1.5))).toMatch(/not 0..8/);
    expect(err(() => ticTacToeMove(P, { ...one, isFinal: true }, 1, 0))).toMatch(/game is over/);
    expect(err(() => ticTacToeMove(P, { ...one, appData: "0x" }, 1, 0))).toMatch(/no tic-tac-toe position/);
    expect(err(() => ticTacToeMove(params(3), one, 1, 0))).toMatch(/two players/);
    expect(err(() => ticTacToeView({ ...one, appData: "0x00" }))).toMatch(/no tic-tac-toe position/);
  });
  it("shows the board in rows, X for player 0 and O for player 1", () => {
    expect(ticTacToeView(game([1, 0, 2, 0, 1, 0, 0, 0, 0], 1))).toEqual({
      board: ["X.O", ".X.", "..."],
      nextActor: 1,
      winner: null,
      draw: false,
    });
  });
});

describe("ticTacToeApp (what a client registers)", () => {
  it("starts a game with player 0 or 1 to move, and refuses anyone else", () => {
    expect(ticTacToeApp.name).toBe("tictactoe");
    expect(ticTacToeApp.rules).toBe(ticTacToeRules);
    expect(ticTacToeApp.initialData(undefined)).toBe(ticTacToeStart(0));
    expect(ticTacToeApp.initialData({})).toBe(ticTacToeStart(0));
    expect(ticTacToeApp.initialData({ first: 1 })).toBe(ticTacToeStart(1));
    expect(() => ticTacToeApp.initialData({ first: 2 })).toThrow(/player 2 cannot start: 0 or 1/);
    expect(() => ticTacToeApp.initialData({ first: "1" })).toThrow(TicTacToeMoveError);
  });
  it("takes a move as {cell}", () => {
    const s = ticTacToeApp.move(P, game(E, 0), 0, { cell: 4 });
    expect(s).toEqual(ticTacToeMove(P, game(E, 0), 0, 4));
    for (const bad of [null, undefined, 4, {}, { cell: "4" }]) {
      expect(() => ticTacToeApp.move(P, game(E, 0), 0, bad)).toThrow(/names a cell/);
    }
    expect(ticTacToeApp.view(s)).toEqual(ticTacToeView(s));
  });
  it("lists the moves of the player to move: one per empty cell, none for the other or after the end", () => {
    const from = game([1, 0, 0, 0, 2, 0, 0, 0, 1], 1);
    const next = ticTacToeApp.successors?.(P, from, 1) ?? [];
    expect(
      next.map((n) =>
        decodeTicTacToe(n.appData)?.grid.findIndex((c, i) => c !== [1, 0, 0, 0, 2, 0, 0, 0, 1][i]),
      ),
    ).toEqual([1, 2, 3, 5, 6, 7]);
    expect(next[0]).toEqual(ticTacToeMove(P, from, 1, 1));
    expect(ticTacToeApp.successors?.(P, from, 0)).toEqual([]);
    expect(ticTacToeApp.successors?.(P, { ...from, isFinal: true }, 1)).toEqual([]);
    expect(ticTacToeApp.successors?.(P, { ...from, appData: "0x" }, 1)).toEqual([]);
  });
});
