/**
 * Tic-tac-toe, the off-chain twin of contracts/TicTacToeApp.sol: the same verdict on every transition
 * (a property test plays random moves through both, the contract on the EVM), a move builder for the
 * player whose turn it is, and the board in people's terms.
 *
 * App data is 10 bytes: the index of the player to move, then the 9 cells row by row (0 empty, 1 the
 * mark of player 0, 2 the mark of player 1). A winning move takes every asset's whole pot; a draw
 * leaves the stakes where they were; either ends the game (a final state).
 */
import { PerunError } from "../errors.js";
import { type AppDefinition, type AppRules, invalid, VALID } from "./app.js";
import { bytesToHex, hexToBytes } from "./hex.js";
import type { Hex, Params, State } from "./types.js";

const DATA_LEN = 10;
const LINES = [
  [0, 1, 2],
  [3, 4, 5],
  [6, 7, 8],
  [0, 3, 6],
  [1, 4, 7],
  [2, 5, 8],
  [0, 4, 8],
  [2, 4, 6],
] as const;

/** A game's position: whose turn it is and the 9 cells (0 empty, 1 player 0, 2 player 1). */
export interface TicTacToeBoard {
  readonly nextActor: number;
  readonly grid: readonly number[];
}

/** The position in `appData`, or undefined if it is not 10 bytes. */
export function decodeTicTacToe(appData: Hex): TicTacToeBoard | undefined {
  if (appData.length !== 2 + 2 * DATA_LEN) return undefined;
  const bytes = hexToBytes(appData);
  return { nextActor: bytes[0] as number, grid: [...bytes.subarray(1)] };
}

export function encodeTicTacToe(board: TicTacToeBoard): Hex {
  return bytesToHex(Uint8Array.from([board.nextActor, ...board.grid]));
}

/** The app data of a new game, `first` to move. */
export function ticTacToeStart(first: 0 | 1 = 0): Hex {
  return encodeTicTacToe({ nextActor: first, grid: [0, 0, 0, 0, 0, 0, 0, 0, 0] });
}

const hasLine = (grid: readonly number[], mark: number): boolean =>
  LINES.some((l) => l.every((c) => grid[c] === mark));

export const ticTacToeRules: AppRules = {
  validTransition(params, from, to, actor) {
    if (params.participants.length !== 2) return invalid("tic-tac-toe is a game of two players");
    const f = decodeTicTacToe(from.appData);
    const t = decodeTicTacToe(to.appData);
    if (f === undefined || t === undefined) return invalid("the app data is not a tic-tac-toe position");
    if (actor > 1 || f.nextActor !== actor) return invalid(`it is not player ${actor}'s turn`);
    if (t.nextActor !== 1 - actor) return invalid("after a move it is the other player's turn");
    const mark = actor + 1;
    let changed = 0;
    let moves = 0;
    for (let i = 0; i < 9; i++) {
      const o = f.grid[i] as number;
      const c = t.grid[i] as number;
      if (o !== c) {
        if (o !== 0 || c !== mark) return invalid(`cell ${i} cannot change from ${o} to ${c}`);
        changed++;
      }
      if (c !== 0) moves++;
    }
    if (changed !== 1) return invalid(`a move marks exactly one cell, not ${changed}`);
    const won = hasLine(t.grid, mark);
    const done = won || moves === 9;
    if (to.isFinal !== done)
      return invalid(done ? "the game is over: the state must be final" : "the game goes on");
    const other = 1 - actor;
    for (let a = 0; a < from.outcome.balances.length; a++) {
      const o = from.outcome.balances[a] as readonly bigint[];
      const b = to.outcome.balances[a];
      if (b === undefined || b.length < 2) return invalid(`asset ${a} has no balance for both players`);
      if (won ? b[other] !== 0n : b[0] !== o[0] || b[1] !== o[1]) {
        return invalid(
          won ? `the winner takes the whole pot of asset ${a}` : `balances of asset ${a} stay until a win`,
        );
      }
    }
    return VALID;
  },
  validInit(params, state) {
    if (params.participants.length !== 2) return invalid("tic-tac-toe is a game of two players");
    const b = decodeTicTacToe(state.appData);
    if (b === undefined || b.nextActor > 1 || b.grid.some((c) => c !== 0) || state.isFinal) {
      return invalid("a game starts on an empty board, with player 0 or 1 to move, not final");
    }
    return VALID;
  },
};

/** A move that the rules do not allow, in the player's terms. */
export class TicTacToeMoveError extends PerunError {
  constructor(reason: string) {
    super("INVALID_MOVE", `Cannot play this move: ${reason}.`, {
      details: { reason },
      hint: "Look at the board (GET the channel): play an empty cell 0..8, on your turn, while the game goes on.",
    });
  }
}

/**
 * The state after player `actor` marks `cell` (0..8, row by row) in `from`: the turn passes, a line
 * ends the game with the whole pot to the winner, a full board ends it as a draw.
 */
export function ticTacToeMove(params: Params, from: State, actor: number, cell: number): State {
  const b = decodeTicTacToe(from.appData);
  if (b === undefined) throw new TicTacToeMoveError("the channel holds no tic-tac-toe position");
  if (from.isFinal) throw new TicTacToeMoveError("the game is over");
  if (b.nextActor !== actor) throw new TicTacToeMoveError(`it is player ${b.nextActor}'s turn, not ours`);
  if (!Number.isInteger(cell) || cell < 0 || cell > 8)
    throw new TicTacToeMoveError(`cell ${cell} is not 0..8`);
  if (b.grid[cell] !== 0) throw new TicTacToeMoveError(`cell ${cell} is taken`);
  const grid = b.grid.map((c, i) => (i === cell ? actor + 1 : c));
  const won = hasLine(grid, actor + 1);
  const balances = won
    ? from.outcome.balances.map((row) => {
        const pot = row.reduce((s, x) => s + x, 0n);
        return row.map((_, i) => (i === actor ? pot : 0n));
      })
    : from.outcome.balances;
  const next: State = {
    ...from,
    version: from.version + 1n,
    appData: encodeTicTacToe({ nextActor: 1 - actor, grid }),
    outcome: { ...from.outcome, balances },
    isFinal: won || grid.every((c) => c !== 0),
  };
  const verdict = ticTacToeRules.validTransition(params, from, next, actor);
  if (!verdict.valid) throw new TicTacToeMoveError(verdict.reason);
  return next;
}

/** The position in people's terms: rows of "X" (player 0), "O" (player 1) and ".", and the result. */
export function ticTacToeView(state: State): {
  readonly board: readonly string[];
  readonly nextActor: number;
  readonly winner: number | null;
  readonly draw: boolean;
} {
  const b = decodeTicTacToe(state.appData);
  if (b === undefined) throw new TicTacToeMoveError("the channel holds no tic-tac-toe position");
  const sym = (c: number) => (c === 1 ? "X" : c === 2 ? "O" : ".");
  const board = [0, 3, 6].map((r) =>
    b.grid
      .slice(r, r + 3)
      .map(sym)
      .join(""),
  );
  const winner = hasLine(b.grid, 1) ? 0 : hasLine(b.grid, 2) ? 1 : null;
  return { board, nextActor: b.nextActor, winner, draw: winner === null && b.grid.every((c) => c !== 0) };
}

/**
 * Tic-tac-toe as a client plays it: a move is `{ cell: 0..8 }`, the initial options `{ first: 0 | 1 }`
 * (default player 0, who proposed the channel).
 */
export const ticTacToeApp: AppDefinition = {
  name: "tictactoe",
  rules: ticTacToeRules,
  initialData(options) {
    const first = (options as { first?: unknown } | undefined)?.first ?? 0;
    if (first !== 0 && first !== 1)
      throw new TicTacToeMoveError(`player ${String(first)} cannot start: 0 or 1`);
    return ticTacToeStart(first);
  },
  move(params, from, actor, move) {
    const cell = (move as { cell?: unknown } | null)?.cell;
    if (typeof cell !== "number") throw new TicTacToeMoveError("a move names a cell: { cell: 0..8 }");
    return ticTacToeMove(params, from, actor, cell);
  },
  view: ticTacToeView,
  successors(params, from, actor) {
    const b = decodeTicTacToe(from.appData);
    if (b === undefined || from.isFinal || b.nextActor !== actor) return [];
    return b.grid.flatMap((c, cell) => (c === 0 ? [ticTacToeMove(params, from, actor, cell)] : []));
  },
};
