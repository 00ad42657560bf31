/**
 * Bindings of the asset holders: deposit to a funding id, withdraw with a
 * signed withdrawal authorisation, read holdings. ETH and ERC20 share the
 * interface; ERC20 deposits approve the holder first.
 */
import type { Abi, TransactionReceipt } from "viem";
import { erc20Abi } from "viem";
import type { Address, Hex, WithdrawalAuth } from "../channel/types.js";
import type { ChainConnection } from "./connection.js";
import { AssetHolderERC20Abi, AssetHolderETHAbi } from "./generated/index.js";
import { transact, transactSequence } from "./transact.js";

const ethAbi = AssetHolderETHAbi as Abi;
const erc20HolderAbi = AssetHolderERC20Abi as Abi;

export class EthAssetHolder {
  constructor(
    readonly conn: ChainConnection,
    readonly address: Address,
    /** ERC20 token held, or undefined for ETH. */
    readonly token?: Address,
  ) {}

  get abi(): Abi {
    return this.token === undefined ? ethAbi : erc20HolderAbi;
  }

  async deposit(key: Hex, fundingID: Hex, amount: bigint): Promise<TransactionReceipt> {
    if (this.token === undefined) {
      return transact(this.conn, key, {
        address: this.address,
        abi: this.abi,
        functionName: "deposit",
        args: [fundingID, amount],
        value: amount,
      });
    }
    const [, receipt] = await transactSequence(this.conn, key, [
      {
        req: {
          address: this.token,
          abi: erc20Abi as Abi,
          functionName: "approve",
          args: [this.address, amount],
        },
        operation: "ERC20.approve",
      },
      {
        req: { address: this.address, abi: this.abi, functionName: "deposit", args: [fundingID, amount] },
        operation: "deposit",
      },
    ]);
    return receipt as TransactionReceipt;
  }

  withdraw(key: Hex, auth: WithdrawalAuth, sig: Hex): Promise<TransactionReceipt> {
    return transact(this.conn, key, {
      address: this.address,
      abi: this.abi,
      functionName: "withdraw",
      args: [auth, sig],
    });
  }

  async holdings(fundingID: Hex): Promise<bigint> {
    return (await this.conn.publicClient.readContract({
      address: this.address,
      abi: this.abi,
      functionName: "holdings",
      args: [fundingID],
    })) as bigint;
  }

  async settled(channelID: Hex): Promise<boolean> {
    return (await this.conn.publicClient.readContract({
      address: this.address,
      abi: this.abi,
      functionName: "settled",
      args: [channelID],
    })) as boolean;
  }

  /** On-chain balance of `owner` in this holder's asset (ETH or the token). */
  async balanceOf(owner: Address): Promise<bigint> {
    if (this.token === undefined) return this.conn.publicClient.getBalance({ address: owner });
    return (await this.conn.publicClient.readContract({
      address: this.token,
      abi: erc20Abi,
      functionName: "balanceOf",
      args: [owner],
    })) as bigint;
  }
}
