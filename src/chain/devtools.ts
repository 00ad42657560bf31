/**
 * Dev-chain controls (hardhat/EDR and anvil understand them): move time by
 * mining blocks with a later timestamp - tests never sleep - and isolate tests
 * with snapshot/revert.
 */
import type { ChainConnection } from "./connection.js";

/**
 * Mines a block `seconds` later than the latest one.
 *
 * @example
 * await increaseTime(chain.connection, 3600); // an hour later: a challenge duration has run out
 */
export async function increaseTime(conn: ChainConnection, seconds: number | bigint): Promise<void> {
  await conn.provider.request({ method: "evm_increaseTime", params: [Number(seconds)] } as never);
  await conn.provider.request({ method: "evm_mine", params: [] } as never);
}

/**
 * Mines one block.
 *
 * @example
 * await mine(chain.connection);
 */
export async function mine(conn: ChainConnection): Promise<void> {
  await conn.provider.request({ method: "evm_mine", params: [] } as never);
}

/**
 * Takes a snapshot of the chain's state; `revertTo` goes back to it (once).
 *
 * @example
 * const id = await snapshot(chain.connection);
 * // ... a test ...
 * await revertTo(chain.connection, id);
 */
export async function snapshot(conn: ChainConnection): Promise<string> {
  return (await conn.provider.request({ method: "evm_snapshot", params: [] } as never)) as string;
}

/** Goes back to a snapshot (see `snapshot`); throws if the chain refuses. */
export async function revertTo(conn: ChainConnection, id: string): Promise<void> {
  const ok = await conn.provider.request({ method: "evm_revert", params: [id] } as never);
  if (ok !== true) throw new Error(`evm_revert(${id}) failed`);
}

/**
 * Chain time: the latest block's timestamp, seconds.
 *
 * @example
 * const now = await latestTimestamp(chain.connection);
 */
export async function latestTimestamp(conn: ChainConnection): Promise<bigint> {
  const block = await conn.publicClient.getBlock({ blockTag: "latest" });
  return block.timestamp;
}
