/**
 * Which on-chain state a node adopts after a progress: only valid moves by its rules, and moves it
 * cannot read found by the recorded hash up to several moves ahead.
 */
import { describe, expect, it } from "vitest";
import type { AppDefinition } from "./app.js";
import { findProgressed, isValidMove, MAX_CANDIDATES } from "./app-progress.js";
import { channelId, hashState } from "./hash.js";
import { ticTacToeApp, ticTacToeMove, ticTacToeStart } from "./tictactoe.js";
import type { Address, Hex, Params, State } from "./types.js";

const A = "0x00000000000000000000000000000000000000a1" as Address;
const B = "0x00000000000000000000000000000000000000b2" as Address;
const params: Params = {
  challengeDuration: 60n,
  nonce: 7n,
  participants: [A, B].map((a) => ({ ethAddress: a, ccAddress: "0x" as Hex })),
  app: "0x00000000000000000000000000000000000000ff",
  ledgerChannel: true,
  virtualChannel: false,
};
const id = channelId(params);
const asset = { chainID: 1n, ethHolder: A, ccHolder: "0x" as Hex };
const start: State = {
  channelID: id,
  version: 3n,
  outcome: { assets: [asset], backends: [0n], balances: [[5n, 5n]], locked: [] },
  appData: ticTacToeStart(0),
  isFinal: false,
};
const play = (s: State, ...cells: number[]) =>
  cells.reduce((cur, c, i) => ticTacToeMove(params, cur, (Number(s.appData.slice(2, 4)) + i) % 2, c), s);

describe("isValidMove", () => {
  it("takes a move by either player that our rules allow", () => {
    expect(isValidMove(params, id, start, play(start, 4), ticTacToeApp)).toBe(true);
    const o = play(start, 4);
    expect(isValidMove(params, id, o, play(o, 0), ticTacToeApp)).toBe(true);
  });
  it("refuses what the contract might let through but our rules do not", () => {
    const m = play(start, 4);
    expect(
      isValidMove(params, id, start, { ...m, outcome: { ...m.outcome, backends: [1n] } }, ticTacToeApp),
    ).toBe(false);
    expect(
      isValidMove(params, id, start, { ...m, outcome: { ...m.outcome, backends: [0n, 0n] } }, ticTacToeApp),
    ).toBe(false);
    expect(isValidMove(params, id, start, { ...m, version: 5n }, ticTacToeApp)).toBe(false);
    expect(isValidMove(params, id, start, { ...m, channelID: `0x${"12".repeat(32)}` }, ticTacToeApp)).toBe(
      false,
    );
    expect(isValidMove(params, id, start, { ...m, appData: start.appData }, ticTacToeApp)).toBe(false);
  });
});

describe("findProgressed", () => {
  const at = (s: State) => ({ version: s.version, stateHash: hashState(s) });
  it("finds one move, or several in a row, by the recorded hash", () => {
    const one = play(start, 4);
    expect(findProgressed(params, ticTacToeApp, start, at(one))).toEqual(one);
    const three = play(start, 4, 0, 8);
    expect(findProgressed(params, ticTacToeApp, start, at(three))).toEqual(three);
    expect(
      findProgressed(params, ticTacToeApp, start, { ...at(three), stateHash: `0x${"00".repeat(32)}` }),
    ).toBe(undefined);
  });
  it("looks only ahead, and only as far as MAX_CANDIDATES states", () => {
    expect(findProgressed(params, ticTacToeApp, start, at(start))).toBeUndefined();
    const four = play(start, 4, 0, 8, 2);
    expect(findProgressed(params, ticTacToeApp, start, at(four))).toEqual(four);
    // Five moves: 9 + 72 + 504 + 3,024 + 15,120 = 18,729 states tried; a sixth adds 60,480: too far.
    expect(MAX_CANDIDATES).toBe(20_000);
    const five = play(start, 4, 0, 8, 2, 6);
    expect(findProgressed(params, ticTacToeApp, start, at(five))).toEqual(five);
    expect(findProgressed(params, ticTacToeApp, start, at(play(start, 4, 0, 8, 2, 6, 3)))).toBeUndefined();
  });
  it("tries at most maxCandidates states: nine first moves fit in nine, not in eight", () => {
    const one = play(start, 4);
    expect(findProgressed(params, ticTacToeApp, start, at(one), 9)).toEqual(one);
    expect(findProgressed(params, ticTacToeApp, start, at(one), 8)).toBeUndefined();
  });
  it("needs the app to list its moves", () => {
    const { successors: _, ...blind } = ticTacToeApp;
    expect(findProgressed(params, blind as AppDefinition, start, at(play(start, 4)))).toBeUndefined();
  });
});
