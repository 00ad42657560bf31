/**
 * perun-ts/chain: the chain backend (design.md section 2, the Adjudicator and Funder ports): a chain
 * with the Perun contracts (`createEmbeddedChain`, `connectChain`, `deployContracts`), the `ChainPort`
 * a client talks to and its implementation `EthChain`, contract bindings, typed ABIs and bytecode
 * generated from the compiler output, contract errors decoded, development-chain controls and a
 * JSON-RPC server for the embedded chain. Nothing here runs on import.
 *
 * @example
 * import { createEmbeddedChain, increaseTime, AdjudicatorAbi } from "perun-ts/chain";
 * const chain = await createEmbeddedChain();
 * await increaseTime(chain.connection, 60); // one block, a minute later
 */

export type { DisputePhaseValue } from "./adjudicator.js";
export { DisputePhase, EthAdjudicator } from "./adjudicator.js";
export { EthAssetHolder } from "./asset-holder.js";
export type { ChainPort, ChannelUpdateEvent, Dispute, SignedState } from "./chain-port.js";
export { EthChain } from "./chain-port.js";
export type { ChainConnection, Wallet } from "./connection.js";
export type { PerunDeployment } from "./deploy.js";
export { deployApps, deployAssetHolderERC20, deployPerun } from "./deploy.js";
export { increaseTime, latestTimestamp, mine, revertTo, snapshot } from "./devtools.js";
export { devKey, devKeys, EMBEDDED_CHAIN_ID, EMBEDDED_HARDFORK } from "./embedded.js";
export {
  ChainUnreachableError,
  ContractRevertError,
  ContractsMissingError,
  decodeRevert,
  perunErrorsAbi,
} from "./errors.js";
export {
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
  TrivialAppAbi,
  TrivialAppBytecode,
} from "./generated/index.js";
export type {
  ChainEndpoint,
  ConnectChainOptions,
  DeployContractsOptions,
  EmbeddedChainOptions,
  EmbeddedPerunChain,
  PerunChain,
  PerunContracts,
} from "./perun-chain.js";
export { connectChain, createEmbeddedChain, deployContracts } from "./perun-chain.js";
export type { RpcServer } from "./rpc-server.js";
export { serveJsonRpc } from "./rpc-server.js";
