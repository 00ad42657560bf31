/**
 * `perun chain`: runs the embedded EVM (Hardhat EDR) and serves it over
 * JSON-RPC on 127.0.0.1 so that several processes can share one chain;
 * optionally deploys the Perun contracts and the example apps and prints their addresses.
 */
import { connectChain } from "../chain/connection.js";
import { deployApps, deployPerun } from "../chain/deploy.js";
import { createEmbeddedChain, devKey } from "../chain/embedded.js";
import { serveJsonRpc } from "../chain/rpc-server.js";
import { UsageError } from "./usage-error.js";

export async function chainCommand(opts: { port?: string; host?: string; deploy?: boolean }): Promise<void> {
  const port = opts.port === undefined ? 8545 : Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port must be an integer from 0 to 65535, got "${opts.port}".`);
  }
  const host = opts.host ?? "127.0.0.1";
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") {
    throw new UsageError(`--host must be a loopback address (127.0.0.1, localhost, ::1), got "${host}".`);
  }
  const embedded = await createEmbeddedChain();
  const server = await serveJsonRpc(embedded.provider, { host, port });
  const out: Record<string, unknown> = { rpcUrl: server.url, chainId: embedded.chainId };
  if (opts.deploy) {
    const conn = await connectChain({ embedded });
    const perun = await deployPerun(conn, devKey(0));
    const apps = await deployApps(conn, devKey(0));
    // `apps` as a node config's contracts.apps takes it.
    out.contracts = { ...perun, apps: { tictactoe: apps.ticTacToeApp } };
  }
  out.devKeys = embedded.accounts;
  // One JSON line on stdout: scripts and tests read the URL and addresses from it.
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.close();
}
