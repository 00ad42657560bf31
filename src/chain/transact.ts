/**
 * Sends one contract transaction and waits for its receipt; a revert comes
 * back as a ContractRevertError naming the contract's custom error.
 */
import { type Abi, type Address, getAddress, type TransactionReceipt } from "viem";
import type { Hex } from "../channel/types.js";
import type { ChainConnection } from "./connection.js";
import { ContractRevertError, decodeRevert, perunErrorsAbi } from "./errors.js";

export interface TxRequest {
  readonly address: Address;
  readonly abi: Abi;
  readonly functionName: string;
  readonly args: readonly unknown[];
  readonly value?: bigint;
}

export async function transact(
  conn: ChainConnection,
  key: Hex,
  req: TxRequest,
  operation = req.functionName,
): Promise<TransactionReceipt> {
  const wallet = conn.wallet(key);
  let hash: Hex;
  try {
    // simulate first: a revert then carries its reason instead of a bare failed receipt
    const { request } = await conn.publicClient.simulateContract({
      account: wallet.account,
      address: req.address,
      abi: req.abi,
      functionName: req.functionName,
      args: req.args,
      ...(req.value === undefined ? {} : { value: req.value }),
    } as never);
    hash = await wallet.writeContract(request as never);
  } catch (err) {
    // Errors may come from a called contract (an app, a token holder): decode with all of ours.
    throw decodeRevert(operation, err, [...req.abi, ...perunErrorsAbi]);
  }
  const receipt = await conn.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") {
    throw new ContractRevertError(operation, "TransactionFailed", [hash]);
  }
  return receipt;
}

export async function deploy(
  conn: ChainConnection,
  key: Hex,
  abi: Abi,
  bytecode: Hex,
  args: readonly unknown[] = [],
): Promise<{ address: Address; receipt: TransactionReceipt }> {
  const wallet = conn.wallet(key);
  const hash = await wallet.deployContract({ abi, bytecode, args } as never);
  const receipt = await conn.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success" || !receipt.contractAddress) {
    throw new ContractRevertError("deploy", "DeploymentFailed", [hash]);
  }
  return { address: getAddress(receipt.contractAddress), receipt };
}
