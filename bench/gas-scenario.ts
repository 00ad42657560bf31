/**
 * Gas benchmark scenario: one fixed sequence of Perun operations (deposit,
 * cooperative close, dispute, refute, app progress, conclude, withdraw, and the
 * cooperative close that pays out in the same transaction) on a fresh embedded
 * EVM, returning each operation's receipt gasUsed.
 *
 * Only the contract bytecodes are parameters: the ABIs are ours, and the
 * reference implementation (perun-eth-contracts v1.0.0) is ABI-identical, so
 * the same scenario measures both and the figures compare like with like.
 * concludeFinalAndPayout is ours only (an addition to that ABI): pass
 * `withPayout: false` for the reference.
 * Every step's effect is asserted, so a broken contract cannot yield figures.
 */
import {
  type AbiParameterToPrimitiveType,
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  encodeAbiParameters,
  getAbiItem,
  type Hex,
  keccak256,
  type PublicClient,
  type Transport,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createEmbeddedChain, devKey } from "../src/chain/embedded.js";
import {
  AdjudicatorAbi,
  AssetHolderERC20Abi,
  AssetHolderETHAbi,
  TestTokenAbi,
  TrivialAppAbi,
} from "../src/chain/generated/index.js";

/** Creation bytecodes of the contracts under test (token and app are shared by both sides). */
export interface GasArtifacts {
  readonly adjudicator: Hex;
  readonly assetHolderETH: Hex;
  readonly assetHolderERC20: Hex;
  /** TestToken: constructor(address[] holders, uint256 amountEach). */
  readonly token: Hex;
  readonly trivialApp: Hex;
}

/** Receipt gasUsed per operation, plus two lifecycle sums. */
export interface GasRecord {
  /** First deposit into a fresh funding slot (ETH). */
  depositETH: number;
  /** First deposit into a fresh funding slot (ERC20), after approve. */
  depositERC20: number;
  /** Cooperative close of a 2-party, 1-asset ledger channel. */
  concludeFinal: number;
  /** First registration of a non-final state (2 signatures). */
  register: number;
  /** Registration of a newer state during the dispute. */
  refute: number;
  /** App channel: one forced move after the dispute timeout. */
  progress: number;
  /** Conclusion of a registered (payment) channel after its timeout. */
  conclude: number;
  /** ETH withdrawal of a participant's whole outcome. */
  withdraw: number;
  deployAdjudicator: number;
  deployAssetHolderETH: number;
  /** 2 * depositETH + concludeFinal + 2 * withdraw. */
  cooperative: number;
  /** register + refute + conclude + 2 * withdraw. */
  dispute: number;
  /** Cooperative close that also pays both participants (ETH), no withdrawals after it. */
  concludeFinalAndPayout?: number;
  /** 2 * depositETH + concludeFinalAndPayout: the whole cooperative lifecycle. */
  cooperativeWithPayout?: number;
}

export interface MeasureGasOptions {
  /** Progress lines ("register: 123456"), e.g. console.log. */
  readonly log?: (line: string) => void;
  /** Measure concludeFinalAndPayout too (default true; false for contracts without it). */
  readonly withPayout?: boolean;
}

const ETH = 10n ** 18n;
const CHALLENGE_DURATION = 60n;
const PHASE = { DISPUTE: 0, FORCEEXEC: 1, CONCLUDED: 2 } as const;

// The struct types come from the ABI itself, so the encoding is exactly what the contracts decode.
const paramsType = getAbiItem({ abi: AdjudicatorAbi, name: "channelID" }).inputs[0];
const stateType = getAbiItem({ abi: AdjudicatorAbi, name: "hashState" }).inputs[0];
const authType = getAbiItem({ abi: AssetHolderETHAbi, name: "withdraw" }).inputs[0];
const disputeOutputs = getAbiItem({ abi: AdjudicatorAbi, name: "disputes" }).outputs;

type Params = AbiParameterToPrimitiveType<typeof paramsType>;
type State = AbiParameterToPrimitiveType<typeof stateType>;
type WithdrawalAuth = AbiParameterToPrimitiveType<typeof authType>;

export async function measureGas(
  artifacts: GasArtifacts,
  options: MeasureGasOptions = {},
): Promise<GasRecord> {
  const log = options.log ?? (() => {});
  const embedded = await createEmbeddedChain();
  const chain: Chain = defineChain({
    id: embedded.chainId,
    name: "embedded",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [] } },
  });
  const transport = custom(embedded.provider);
  const pub: PublicClient<Transport, Chain> = createPublicClient({ chain, transport });
  const walletOf = (key: Hex) =>
    createWalletClient({ account: privateKeyToAccount(key), chain, transport, pollingInterval: 10 });
  const deployer = walletOf(devKey(0));
  const alice = walletOf(devKey(1));
  const bob = walletOf(devKey(2));
  const chainID = BigInt(embedded.chainId);

  /** Waits for the receipt; a failed transaction is a broken scenario, never a figure. */
  const mined = async (what: string, hash: Promise<Hex>) => {
    const receipt = await pub.waitForTransactionReceipt({ hash: await hash, pollingInterval: 10 });
    if (receipt.status !== "success")
      throw new Error(`gas scenario: ${what} reverted (tx ${receipt.transactionHash})`);
    return receipt;
  };
  const gasOf = async (what: string, hash: Promise<Hex>): Promise<number> => {
    const gas = Number((await mined(what, hash)).gasUsed);
    log(`${what}: ${gas}`);
    return gas;
  };
  const deployed = async (what: string, hash: Promise<Hex>) => {
    const receipt = await mined(`deploy ${what}`, hash);
    if (!receipt.contractAddress) throw new Error(`gas scenario: deploy ${what} created no contract`);
    log(`deploy ${what}: ${receipt.gasUsed}`);
    return { address: receipt.contractAddress, gas: Number(receipt.gasUsed) };
  };
  const expect = (what: string, actual: unknown, expected: unknown) => {
    if (actual !== expected) {
      throw new Error(`gas scenario: ${what}: expected ${String(expected)}, got ${String(actual)}`);
    }
  };
  const increaseTime = async (seconds: number) => {
    await embedded.provider.request({ method: "evm_increaseTime", params: [seconds] } as never);
    await embedded.provider.request({ method: "evm_mine", params: [] } as never);
  };

  // --- deployment ---
  const adj = await deployed(
    "Adjudicator",
    deployer.deployContract({ abi: AdjudicatorAbi, bytecode: artifacts.adjudicator }),
  );
  const ethHolder = await deployed(
    "AssetHolderETH",
    deployer.deployContract({
      abi: AssetHolderETHAbi,
      bytecode: artifacts.assetHolderETH,
      args: [adj.address],
    }),
  );
  const token = await deployed(
    "TestToken",
    deployer.deployContract({
      abi: TestTokenAbi,
      bytecode: artifacts.token,
      args: [[alice.account.address, bob.account.address], 10n * ETH],
    }),
  );
  const erc20Holder = await deployed(
    "AssetHolderERC20",
    deployer.deployContract({
      abi: AssetHolderERC20Abi,
      bytecode: artifacts.assetHolderERC20,
      args: [adj.address, token.address],
    }),
  );
  const app = await deployed(
    "TrivialApp",
    deployer.deployContract({ abi: TrivialAppAbi, bytecode: artifacts.trivialApp }),
  );

  // --- channel helpers (all computed off-chain, cross-checked against the contract once) ---
  const participants = [alice, bob].map((w) => ({ ethAddress: w.account.address, ccAddress: "0x" as Hex }));
  const paramsFor = (nonce: bigint, appAddr: Address = zeroAddress): Params => ({
    challengeDuration: CHALLENGE_DURATION,
    nonce,
    participants,
    app: appAddr,
    ledgerChannel: true,
    virtualChannel: false,
  });
  const channelIdOf = (params: Params): Hex => keccak256(encodeAbiParameters([paramsType], [params]));
  const fundingIdOf = (channelID: Hex, who: Address): Hex =>
    keccak256(encodeAbiParameters([{ type: "bytes32" }, { type: "address" }], [channelID, who]));
  const stateOf = (
    params: Params,
    version: bigint,
    balances: readonly [bigint, bigint],
    isFinal: boolean,
    holder: Address = ethHolder.address,
  ): State => ({
    channelID: channelIdOf(params),
    version,
    outcome: {
      assets: [{ chainID, ethHolder: holder, ccHolder: "0x" }],
      backends: [0n],
      balances: [[...balances]],
      locked: [],
    },
    appData: "0x",
    isFinal,
  });
  const hashOf = (state: State): Hex => keccak256(encodeAbiParameters([stateType], [state]));
  type Wallet = typeof alice;
  const sign = (w: Wallet, hash: Hex): Promise<Hex> => w.account.signMessage({ message: { raw: hash } });
  const signAll = (state: State) => Promise.all([alice, bob].map((w) => sign(w, hashOf(state))));

  const holdings = (holder: Address, id: Hex) =>
    pub.readContract({ address: holder, abi: AssetHolderETHAbi, functionName: "holdings", args: [id] });
  const settled = (holder: Address, id: Hex) =>
    pub.readContract({ address: holder, abi: AssetHolderETHAbi, functionName: "settled", args: [id] });
  const dispute = async (id: Hex) => {
    const out = (await pub.readContract({
      address: adj.address,
      abi: AdjudicatorAbi,
      functionName: "disputes",
      args: [id],
    })) as readonly unknown[];
    // Read fields by their ABI names: both implementations name them alike, whatever their order.
    const field = (name: string) => out[disputeOutputs.findIndex((o) => o.name === name)];
    return { version: field("version"), phase: Number(field("phase")) };
  };
  const expectHoldings = async (what: string, params: Params, expected: readonly [bigint, bigint]) => {
    const id = channelIdOf(params);
    for (const [i, w] of [alice, bob].entries()) {
      expect(
        `${what}: holdings of participant ${i}`,
        await holdings(ethHolder.address, fundingIdOf(id, w.account.address)),
        expected[i],
      );
    }
  };
  const deposit = (w: Wallet, params: Params, amount: bigint) =>
    w.writeContract({
      address: ethHolder.address,
      abi: AssetHolderETHAbi,
      functionName: "deposit",
      args: [fundingIdOf(channelIdOf(params), w.account.address), amount],
      value: amount,
    });
  const fund = async (params: Params) => {
    await mined("deposit alice", deposit(alice, params, ETH));
    await mined("deposit bob", deposit(bob, params, ETH));
    await expectHoldings("after funding", params, [ETH, ETH]);
  };
  /** Withdraws a participant's whole outcome to itself and checks the ETH arrived. */
  const withdraw = async (w: Wallet, params: Params, amount: bigint): Promise<number> => {
    const channelID = channelIdOf(params);
    const auth: WithdrawalAuth = {
      channelID,
      participant: { ethAddress: w.account.address, ccAddress: "0x" },
      receiver: w.account.address,
      amount,
    };
    const sig = await sign(w, keccak256(encodeAbiParameters([authType], [auth])));
    const before = await pub.getBalance({ address: w.account.address });
    const receipt = await mined(
      "withdraw",
      w.writeContract({
        address: ethHolder.address,
        abi: AssetHolderETHAbi,
        functionName: "withdraw",
        args: [auth, sig],
      }),
    );
    const after = await pub.getBalance({ address: w.account.address });
    expect("withdraw: received amount", after - before + receipt.gasUsed * receipt.effectiveGasPrice, amount);
    expect(
      "withdraw: holdings left",
      await holdings(ethHolder.address, fundingIdOf(channelID, w.account.address)),
      0n,
    );
    return Number(receipt.gasUsed);
  };
  const register = (w: Wallet, params: Params, state: State, sigs: readonly Hex[]) =>
    w.writeContract({
      address: adj.address,
      abi: AdjudicatorAbi,
      functionName: "register",
      args: [{ params, state, sigs }, []],
    });
  const conclude = (w: Wallet, params: Params, state: State) =>
    w.writeContract({
      address: adj.address,
      abi: AdjudicatorAbi,
      functionName: "conclude",
      args: [params, state, []],
    });

  // --- channel A: fund, cooperative close, withdraw ---
  const paramsA = paramsFor(1n);
  const idA = channelIdOf(paramsA);
  const onChainId = await pub.readContract({
    address: adj.address,
    abi: AdjudicatorAbi,
    functionName: "channelID",
    args: [paramsA],
  });
  expect("channelID(params) on chain vs off chain", onChainId, idA);
  const finalA = stateOf(paramsA, 1n, [(4n * ETH) / 10n, (16n * ETH) / 10n], true);
  const onChainHash = await pub.readContract({
    address: adj.address,
    abi: AdjudicatorAbi,
    functionName: "hashState",
    args: [finalA],
  });
  expect("hashState(state) on chain vs off chain", onChainHash, hashOf(finalA));

  const depositETH = await gasOf("depositETH", deposit(alice, paramsA, ETH));
  await mined("deposit bob", deposit(bob, paramsA, ETH));
  await expectHoldings("A funded", paramsA, [ETH, ETH]);

  const concludeFinal = await gasOf(
    "concludeFinal",
    alice.writeContract({
      address: adj.address,
      abi: AdjudicatorAbi,
      functionName: "concludeFinal",
      args: [paramsA, finalA, await signAll(finalA)],
    }),
  );
  expect("A settled", await settled(ethHolder.address, idA), true);
  expect("A phase", (await dispute(idA)).phase, PHASE.CONCLUDED);
  await expectHoldings("A concluded", paramsA, [(4n * ETH) / 10n, (16n * ETH) / 10n]);

  const withdrawGas = await withdraw(alice, paramsA, (4n * ETH) / 10n);
  log(`withdraw: ${withdrawGas}`);
  await withdraw(bob, paramsA, (16n * ETH) / 10n);

  // --- channel A': ERC20 deposit ---
  const paramsA2 = paramsFor(2n);
  const fidA2 = fundingIdOf(channelIdOf(paramsA2), alice.account.address);
  await mined(
    "approve",
    alice.writeContract({
      address: token.address,
      abi: TestTokenAbi,
      functionName: "approve",
      args: [erc20Holder.address, ETH],
    }),
  );
  const depositERC20 = await gasOf(
    "depositERC20",
    alice.writeContract({
      address: erc20Holder.address,
      abi: AssetHolderERC20Abi,
      functionName: "deposit",
      args: [fidA2, ETH],
    }),
  );
  expect("A' ERC20 holdings", await holdings(erc20Holder.address, fidA2), ETH);
  const held = await pub.readContract({
    address: token.address,
    abi: TestTokenAbi,
    functionName: "balanceOf",
    args: [erc20Holder.address],
  });
  expect("A' tokens held by the asset holder", held, ETH);

  // --- channel B: register, refute, conclude, withdraw ---
  const paramsB = paramsFor(3n);
  const idB = channelIdOf(paramsB);
  await fund(paramsB);
  const b1 = stateOf(paramsB, 1n, [(9n * ETH) / 10n, (11n * ETH) / 10n], false);
  const registerGas = await gasOf("register", register(alice, paramsB, b1, await signAll(b1)));
  let d = await dispute(idB);
  expect("B registered: phase", d.phase, PHASE.DISPUTE);
  expect("B registered: version", d.version, 1n);
  const b2 = stateOf(paramsB, 2n, [(8n * ETH) / 10n, (12n * ETH) / 10n], false);
  const refute = await gasOf("refute", register(bob, paramsB, b2, await signAll(b2)));
  d = await dispute(idB);
  expect("B refuted: phase", d.phase, PHASE.DISPUTE);
  expect("B refuted: version", d.version, 2n);
  await increaseTime(Number(CHALLENGE_DURATION) + 1);
  const concludeGas = await gasOf("conclude", conclude(alice, paramsB, b2));
  expect("B settled", await settled(ethHolder.address, idB), true);
  expect("B phase", (await dispute(idB)).phase, PHASE.CONCLUDED);
  await expectHoldings("B concluded", paramsB, [(8n * ETH) / 10n, (12n * ETH) / 10n]);
  await withdraw(alice, paramsB, (8n * ETH) / 10n);
  await withdraw(bob, paramsB, (12n * ETH) / 10n);

  // --- channel C: app channel, register, progress after the timeout, conclude ---
  const paramsC = paramsFor(4n, app.address);
  const idC = channelIdOf(paramsC);
  await fund(paramsC);
  const c1 = stateOf(paramsC, 1n, [ETH, ETH], false);
  await mined("register C", register(alice, paramsC, c1, await signAll(c1)));
  expect("C registered: phase", (await dispute(idC)).phase, PHASE.DISPUTE);
  await increaseTime(Number(CHALLENGE_DURATION) + 1);
  const c2 = stateOf(paramsC, 2n, [(9n * ETH) / 10n, (11n * ETH) / 10n], false);
  const progress = await gasOf(
    "progress",
    alice.writeContract({
      address: adj.address,
      abi: AdjudicatorAbi,
      functionName: "progress",
      args: [paramsC, c1, c2, 0n, await sign(alice, hashOf(c2))],
    }),
  );
  d = await dispute(idC);
  expect("C progressed: phase", d.phase, PHASE.FORCEEXEC);
  expect("C progressed: version", d.version, 2n);
  await increaseTime(Number(CHALLENGE_DURATION) + 1);
  await mined("conclude C", conclude(bob, paramsC, c2));
  expect("C settled", await settled(ethHolder.address, idC), true);
  expect("C phase", (await dispute(idC)).phase, PHASE.CONCLUDED);
  await expectHoldings("C concluded", paramsC, [(9n * ETH) / 10n, (11n * ETH) / 10n]);

  // --- channel D: fund, cooperative close paying both out in the same transaction ---
  let payout: Pick<GasRecord, "concludeFinalAndPayout" | "cooperativeWithPayout"> = {};
  if (options.withPayout ?? true) {
    const paramsD = paramsFor(5n);
    const idD = channelIdOf(paramsD);
    await fund(paramsD);
    const shares = [(3n * ETH) / 10n, (17n * ETH) / 10n] as const;
    const finalD = stateOf(paramsD, 1n, shares, true);
    const sigsD = await signAll(finalD);
    const before = await Promise.all([alice, bob].map((w) => pub.getBalance({ address: w.account.address })));
    const receipt = await mined(
      "concludeFinalAndPayout",
      alice.writeContract({
        address: adj.address,
        abi: AdjudicatorAbi,
        functionName: "concludeFinalAndPayout",
        args: [paramsD, finalD, sigsD],
      }),
    );
    const after = await Promise.all([alice, bob].map((w) => pub.getBalance({ address: w.account.address })));
    expect("D phase", (await dispute(idD)).phase, PHASE.CONCLUDED);
    expect("D settled", await settled(ethHolder.address, idD), true);
    await expectHoldings("D paid out", paramsD, [0n, 0n]);
    const fee = receipt.gasUsed * receipt.effectiveGasPrice;
    expect("D: alice received", (after[0] as bigint) - (before[0] as bigint) + fee, shares[0]);
    expect("D: bob received", (after[1] as bigint) - (before[1] as bigint), shares[1]);
    const gas = Number(receipt.gasUsed);
    log(`concludeFinalAndPayout: ${gas}`);
    payout = { concludeFinalAndPayout: gas, cooperativeWithPayout: 2 * depositETH + gas };
  }

  return {
    depositETH,
    depositERC20,
    concludeFinal,
    register: registerGas,
    refute,
    progress,
    conclude: concludeGas,
    withdraw: withdrawGas,
    deployAdjudicator: adj.gas,
    deployAssetHolderETH: ethHolder.gas,
    cooperative: 2 * depositETH + concludeFinal + 2 * withdrawGas,
    dispute: registerGas + refute + concludeGas + 2 * withdrawGas,
    ...payout,
  };
}
