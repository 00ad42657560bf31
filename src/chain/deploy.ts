/**
 * Deploys the Perun contracts (Adjudicator and asset holders, example apps)
 * from the compiler output in ./generated.
 */
import type { Address, Hex } from "../channel/types.js";
import type { ChainConnection } from "./connection.js";
import {
  AdjudicatorAbi,
  AdjudicatorBytecode,
  AssetHolderERC20Abi,
  AssetHolderERC20Bytecode,
  AssetHolderETHAbi,
  AssetHolderETHBytecode,
  PaymentAppAbi,
  PaymentAppBytecode,
  TicTacToeAppAbi,
  TicTacToeAppBytecode,
} from "./generated/index.js";
import { deploy } from "./transact.js";

export interface PerunDeployment {
  readonly adjudicator: Address;
  readonly assetHolderETH: Address;
}

/**
 * Deploys the Adjudicator and an AssetHolderETH for it, paid by `deployerKey`.
 *
 * @example
 * const { adjudicator, assetHolderETH } = await deployPerun(chain.connection, deployerKey);
 */
export async function deployPerun(conn: ChainConnection, deployerKey: Hex): Promise<PerunDeployment> {
  const adj = await deploy(conn, deployerKey, AdjudicatorAbi, AdjudicatorBytecode);
  const eth = await deploy(conn, deployerKey, AssetHolderETHAbi, AssetHolderETHBytecode, [adj.address]);
  return { adjudicator: adj.address, assetHolderETH: eth.address };
}

/**
 * Deploys an asset holder for the ERC20 token `token`, answering to `adjudicator`.
 *
 * @example
 * const holder = await deployAssetHolderERC20(chain.connection, deployerKey, chain.contracts.adjudicator, token);
 */
export async function deployAssetHolderERC20(
  conn: ChainConnection,
  deployerKey: Hex,
  adjudicator: Address,
  token: Address,
): Promise<Address> {
  return (
    await deploy(conn, deployerKey, AssetHolderERC20Abi, AssetHolderERC20Bytecode, [adjudicator, token])
  ).address;
}

/**
 * Deploys the example apps (PaymentApp, TicTacToeApp).
 *
 * @example
 * const { paymentApp, ticTacToeApp } = await deployApps(chain.connection, deployerKey);
 */
export async function deployApps(
  conn: ChainConnection,
  deployerKey: Hex,
): Promise<{ paymentApp: Address; ticTacToeApp: Address }> {
  const payment = await deploy(conn, deployerKey, PaymentAppAbi, PaymentAppBytecode);
  const ttt = await deploy(conn, deployerKey, TicTacToeAppAbi, TicTacToeAppBytecode);
  return { paymentApp: payment.address, ticTacToeApp: ttt.address };
}
