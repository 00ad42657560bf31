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

/**
 * Transactions of one key go out one at a time: concurrent sends (say, two
 * channels withdrawing at once) would otherwise race for the same nonce.
 */
const perKey = new Map<string, Promise<unknown>>();

function serialized<T>(key: Hex, fn: () => Promise<T>): Promise<T> {
  const prev = perKey.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  perKey.set(key, tail);
  void tail.then(() => {
    if (perKey.get(key) === tail) perKey.delete(key);
  });
  return run;
}

export function transact(
  conn: ChainConnection,
  key: Hex,
  req: TxRequest,
  operation = req.functionName,
): Promise<TransactionReceipt> {
  return serialized(key, () => send(conn, key, req, operation));
}

/**
 * Sends `reqs` one after the other with no other transaction of `key` in
 * between (e.g. ERC20 approve + deposit: another approve in between would
 * overwrite the allowance). Returns the receipts.
 */
export function transactSequence(
  conn: ChainConnection,
  key: Hex,
  reqs: readonly { req: TxRequest; operation: string }[],
): Promise<TransactionReceipt[]> {
  return serialized(key, async () => {
    const out: TransactionReceipt[] = [];
    for (const { req, operation } of reqs) out.push(await send(conn, key, req, operation));
    return out;
  });
}

async function send(
  conn: ChainConnection,
  key: Hex,
  req: TxRequest,
  operation: string,
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

export function deploy(
  conn: ChainConnection,
  key: Hex,
  abi: Abi,
  bytecode: Hex,
  args: readonly unknown[] = [],
): Promise<{ address: Address; receipt: TransactionReceipt }> {
  return serialized(key, () => deployNow(conn, key, abi, bytecode, args));
}

async function deployNow(
  conn: ChainConnection,
  key: Hex,
  abi: Abi,
  bytecode: Hex,
  args: readonly unknown[],
): Promise<{ address: Address; receipt: TransactionReceipt }> {
  const wallet = conn.wallet(key);
  const hash = await wallet.deployContract({ abi, bytecode, args } as never);
  const receipt = await conn.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success" || !receipt.contractAddress) {
    throw new ContractRevertError("deploy", "DeploymentFailed", [hash]);
  }
  return { address: getAddress(receipt.contractAddress), receipt };
}
