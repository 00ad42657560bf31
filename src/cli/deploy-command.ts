/** `perun deploy`: deploys the Perun contracts and the example apps to any JSON-RPC chain and prints their addresses. */

import { connectChain } from "../chain/connection.js";
import { deployApps, deployPerun } from "../chain/deploy.js";
import { devKey } from "../chain/embedded.js";
import type { Hex } from "../channel/types.js";
import { UsageError } from "./usage-error.js";

export async function deployCommand(opts: { rpc?: string; key?: string }): Promise<void> {
  if (!opts.rpc) throw new UsageError("`perun deploy` needs --rpc <url> (e.g. http://127.0.0.1:8545).");
  const key = (opts.key ?? process.env.PERUN_DEPLOYER_KEY ?? devKey(0)) as Hex;
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) {
    throw new UsageError("--key (or PERUN_DEPLOYER_KEY) must be a 32-byte hex private key starting with 0x.");
  }
  const conn = await connectChain({ rpcUrl: opts.rpc });
  const deployment = await deployPerun(conn, key);
  const apps = await deployApps(conn, key);
  // `apps` as a node config's contracts.apps takes it.
  process.stdout.write(
    `${JSON.stringify({ chainId: conn.chainId, ...deployment, apps: { tictactoe: apps.ticTacToeApp } })}\n`,
  );
}
