/**
 * The twin agrees with the contract: random positions and random moves (most of them broken on
 * purpose: wrong turn, two cells, a taken cell, a wrong mark, wrong finality, balances moved, bad
 * bytes, three players) go through `ticTacToeRules.validTransition` and through
 * `TicTacToeApp.validTransition` on the EVM; both must say valid, or both invalid. A node signs what
 * the twin allows, so a move the contract would refuse on chain is never signed, and a move the
 * contract would force on chain is never refused.
 */
import fc from "fast-check";
import { type Abi, encodeFunctionData } from "viem";
import { beforeAll, describe, expect, it } from "vitest";
import { TicTacToeAppAbi } from "../../src/chain/generated/index.js";
import type { Params, State } from "../../src/channel/index.js";
import {
  decodeTicTacToe,
  encodeTicTacToe,
  ticTacToeMove,
  ticTacToeRules,
  ticTacToeStart,
  ticTacToeView,
} from "../../src/channel/tictactoe.js";
import { assetOf, ETH, makeParams, makeState } from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain } from "../fixtures/perun-chain.js";

type Mutation =
  | "none"
  | "actor"
  | "nextActor"
  | "extraCell"
  | "takenCell"
  | "wrongMark"
  | "finality"
  | "balances"
  | "length"
  | "garbageFrom"
  | "threePlayers"
  | "randomData";

const MUTATIONS: Mutation[] = [
  "none",
  "none",
  "none",
  "actor",
  "nextActor",
  "extraCell",
  "takenCell",
  "wrongMark",
  "finality",
  "balances",
  "length",
  "garbageFrom",
  "threePlayers",
  "randomData",
];

describe("TicTacToe twin and TicTacToeApp", () => {
  let f: PerunChainFixture;
  beforeAll(async () => {
    f = await perunChain();
  });

  /** The contract's verdict: valid unless validTransition reverts. */
  async function onChain(params: Params, from: State, to: State, actor: number): Promise<boolean> {
    const data = encodeFunctionData({
      abi: TicTacToeAppAbi as Abi,
      functionName: "validTransition",
      args: [params, from, to, BigInt(actor)],
    });
    try {
      await f.conn.publicClient.call({ to: f.apps.ticTacToe, data });
      return true;
    } catch {
      return false;
    }
  }

  it("give the same verdict on every move, valid or not", async () => {
    const seen = { valid: 0, invalid: 0, draws: 0 };
    const byMutation = new Map<Mutation, { valid: number; invalid: number }>();
    await fc.assert(
      fc.asyncProperty(
        // The order of play: every cell once, so long games and draws come up often.
        fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7, 8]),
        fc.nat(8),
        fc.constantFrom(...MUTATIONS),
        fc.nat(255),
        fc.nat(8),
        fc.array(fc.bigInt({ min: 0n, max: 10n * ETH }), { minLength: 2, maxLength: 4 }),
        fc.constantFrom(0, 1),
        async (cells, cell, mutation, noise, otherCell, amounts, first) => {
          const players = mutation === "threePlayers" ? [f.alice, f.bob, f.ingrid] : [f.alice, f.bob];
          const params = makeParams(players, { app: f.apps.ticTacToe });
          const balances = [amounts.slice(0, 2), ...(amounts.length === 4 ? [amounts.slice(2, 4)] : [])];
          const assets = balances.map(() => assetOf(f.ethHolder));
          let from = makeState(
            params,
            assets,
            balances.map((r) => (players.length === 3 ? [...r, 0n] : r)),
            { appData: ticTacToeStart(first) },
          );
          // A game played so far: the valid moves among `cells`, until it would end.
          for (const c of cells) {
            const b = decodeTicTacToe(from.appData);
            if (b === undefined || b.grid[c] !== 0) continue;
            const n = ticTacToeMove(makeParams([f.alice, f.bob]), from, b.nextActor, c);
            if (n.isFinal) break;
            from = n;
          }
          const board = decodeTicTacToe(from.appData);
          if (board === undefined) return;
          const empty = board.grid.flatMap((c, i) => (c === 0 ? [i] : []));
          if (empty.length === 0) return;
          let actor = board.nextActor;
          const target = empty[cell % empty.length] as number;
          let to = ticTacToeMove(makeParams([f.alice, f.bob]), from, actor, target);
          const grid = [...(decodeTicTacToe(to.appData)?.grid ?? [])];
          switch (mutation) {
            case "actor":
              actor = [1 - actor, 2, 7][noise % 3] as number;
              break;
            case "nextActor":
              to = {
                ...to,
                appData: encodeTicTacToe({
                  nextActor: actor === 0 ? ([0, 2][noise % 2] as number) : ([1, 3][noise % 2] as number),
                  grid,
                }),
              };
              break;
            case "extraCell": {
              const second = empty.find((i) => i !== target);
              if (second !== undefined) grid[second] = actor + 1;
              to = { ...to, appData: encodeTicTacToe({ nextActor: 1 - actor, grid }) };
              break;
            }
            case "takenCell": {
              const taken = board.grid.findIndex((c) => c !== 0);
              if (taken >= 0) grid[taken] = actor + 1;
              to = { ...to, appData: encodeTicTacToe({ nextActor: 1 - actor, grid }) };
              break;
            }
            case "wrongMark":
              grid[target] = [0, 2 - actor, 3, noise][noise % 4] as number;
              to = { ...to, appData: encodeTicTacToe({ nextActor: 1 - actor, grid }) };
              break;
            case "finality":
              to = { ...to, isFinal: !to.isFinal };
              break;
            case "balances": {
              const row = to.outcome.balances[0] as readonly bigint[];
              const moved = [(row[0] as bigint) + 1n, (row[1] as bigint) - 1n + (row[1] === 0n ? 2n : 0n)];
              to = { ...to, outcome: { ...to.outcome, balances: [moved, ...to.outcome.balances.slice(1)] } };
              break;
            }
            case "length":
              to = {
                ...to,
                appData: noise % 2 === 0 ? `${to.appData}00` : (to.appData.slice(0, -2) as `0x${string}`),
              };
              break;
            case "garbageFrom": {
              // Cells the contract does not look at unless they change: any byte value.
              const g = [...board.grid];
              if (otherCell !== target && g[otherCell] === 0) g[otherCell] = noise;
              from = { ...from, appData: encodeTicTacToe({ nextActor: board.nextActor, grid: g }) };
              break;
            }
            case "randomData":
              to = {
                ...to,
                appData: encodeTicTacToe({
                  nextActor: noise % 3,
                  grid: grid.map((c, i) => (i === otherCell ? noise : c)),
                }),
              };
              break;
            default:
              break;
          }
          const twin = ticTacToeRules.validTransition(params, from, to, actor).valid;
          const chain = await onChain(params, from, to, actor);
          const counts = byMutation.get(mutation) ?? { valid: 0, invalid: 0 };
          counts[chain ? "valid" : "invalid"]++;
          byMutation.set(mutation, counts);
          seen[chain ? "valid" : "invalid"]++;
          if (to.isFinal && decodeTicTacToe(to.appData) !== undefined && ticTacToeView(to).draw) seen.draws++;
          expect({ mutation, from: from.appData, to: to.appData, final: to.isFinal, actor, twin }).toEqual({
            mutation,
            from: from.appData,
            to: to.appData,
            final: to.isFinal,
            actor,
            twin: chain,
          });
        },
      ),
      { numRuns: 400 },
    );
    // Both verdicts were exercised, and the unbroken moves were valid.
    expect(seen.valid).toBeGreaterThan(60);
    expect(seen.invalid).toBeGreaterThan(150);
    expect(byMutation.get("none")?.invalid ?? 0).toBe(0);
    expect(seen.draws).toBeGreaterThan(0);
  });
});
