/**
 * The apps a node can play, by the name its config and API use: the name in `contracts.apps` picks
 * the off-chain rules, the address there is the contract they twin. A name not listed here is a
 * config error (the node cannot check moves of an app it has no rules for).
 */
import type { AppDefinition } from "../channel/app.js";
import { ticTacToeApp } from "../channel/tictactoe.js";
import type { Address } from "../channel/types.js";

export const KNOWN_APPS: Readonly<Record<string, AppDefinition>> = { tictactoe: ticTacToeApp };

/** The client's app map (lowercase contract address -> definition) from the config's name -> address. */
export function appsByAddress(apps: Readonly<Record<string, Address>>): Map<string, AppDefinition> {
  return new Map(
    Object.entries(apps).map(([name, address]) => [address.toLowerCase(), KNOWN_APPS[name] as AppDefinition]),
  );
}
