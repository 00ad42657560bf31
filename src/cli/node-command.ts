/**
 * `perun node --config file`: runs the node daemon (src/node/node.ts) until SIGTERM or SIGINT, then
 * stops it gracefully (API, watcher, client, transport, store). Prints one JSON line on stdout once
 * it is up ({address, chainId, apiUrl, apiSecretFile, wireUrl}), so scripts and tests can find its
 * ports and where its API secret is (the path only: the file is readable by the node's user alone);
 * the log goes to stderr as JSON lines.
 */
import { loadConfig } from "../node/config.js";
import { startNode } from "../node/node.js";
import { UsageError } from "./usage-error.js";

export async function nodeCommand(opts: { config?: string }): Promise<void> {
  if (opts.config === undefined) throw new UsageError("perun node needs --config <file>.");
  const config = loadConfig(opts.config);
  const node = await startNode(config);
  process.stdout.write(
    `${JSON.stringify({
      address: node.address,
      chainId: node.chainId,
      apiUrl: node.apiUrl,
      apiSecretFile: node.apiSecretFile,
      wireUrl: node.wireUrl,
    })}\n`,
  );
  const failed = await new Promise<Error | undefined>((resolve) => {
    node.failed.then(resolve);
    const stop = () => {
      // A second signal while stopping means "now": the store is consistent at every write.
      process.once("SIGINT", () => process.exit(130));
      process.once("SIGTERM", () => process.exit(143));
      resolve(undefined);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await node.stop();
  if (failed !== undefined) throw failed;
}
