/**
 * Dev-chain controls (hardhat/EDR and anvil understand them): move time by
 * mining blocks with a later timestamp - tests never sleep - and isolate tests
 * with snapshot/revert.
 */
import type { ChainConnection } from "./connection.js";

export async function increaseTime(conn: ChainConnection, seconds: number | bigint): Promise<void> {
  await conn.provider.request({ method: "evm_increaseTime", params: [Number(seconds)] } as never);
  await conn.provider.request({ method: "evm_mine", params: [] } as never);
}

export async function mine(conn: ChainConnection): Promise<void> {
  await conn.provider.request({ method: "evm_mine", params: [] } as never);
}

export async function snapshot(conn: ChainConnection): Promise<string> {
  return (await conn.provider.request({ method: "evm_snapshot", params: [] } as never)) as string;
}

export async function revertTo(conn: ChainConnection, id: string): Promise<void> {
  const ok = await conn.provider.request({ method: "evm_revert", params: [id] } as never);
  if (ok !== true) throw new Error(`evm_revert(${id}) failed`);
}

export async function latestTimestamp(conn: ChainConnection): Promise<bigint> {
  const block = await conn.publicClient.getBlock({ blockTag: "latest" });
  return block.timestamp;
}
