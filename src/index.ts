/**
 * perun-ts: Perun state channels (ledger and virtual channels) for EVM chains.
 *
 * The library's surface (README "Use it as a library"): get a chain with the Perun contracts
 * (`createEmbeddedChain`, `connectChain`), create a client on it (`createPerunClient`), then open,
 * pay, settle and dispute channels, open virtual channels through intermediaries, and follow events.
 * Every failure is a `PerunError` with a stable `code`, a `message` and a `hint`. The channel core is
 * `perun-ts/channel`, the chain backend `perun-ts/chain`. Nothing runs on import.
 *
 * @example
 * import { createEmbeddedChain, createPerunClient, parseEther } from "perun-ts";
 * const chain = await createEmbeddedChain();
 * const bob = await createPerunClient({
 *   signer: chain.accounts[2], chain, store: "memory", listen: { port: 0 }, acceptProposals: true,
 * });
 * const alice = await createPerunClient({ signer: chain.accounts[1], chain, store: "memory", peers: [bob] });
 * const id = await alice.openChannel({ peer: bob.address, deposit: parseEther("1") });
 * await alice.pay(id, parseEther("0.1"));
 * await alice.settle(id);
 */
export { formatEther, parseEther } from "viem";
export type {
  ChainEndpoint,
  ConnectChainOptions,
  DeployContractsOptions,
  EmbeddedChainOptions,
  EmbeddedPerunChain,
  PerunChain,
  PerunContracts,
} from "./chain/perun-chain.js";
export { connectChain, createEmbeddedChain, deployContracts } from "./chain/perun-chain.js";
export type { RentalTerms } from "./channel/fees.js";
export { rentalFee } from "./channel/fees.js";
export { DEV_CHAIN_BOUNDS } from "./channel/policy.js";
export type { Address, Hex } from "./channel/types.js";
export type { ChannelInfo, ClientEvent, Logger } from "./client/client.js";
export { InvalidArgumentError, PerunError } from "./errors.js";
export type {
  AcceptOption,
  ChannelProposal,
  PeerOption,
  PerunClientOptions,
  PolicyOptions,
  SignerOption,
  StoreOption,
} from "./library/client-options.js";
export { encryptKeystore } from "./library/keystore.js";
export type {
  OpenChannelOptions,
  OpenVirtualOptions,
  PerunClient,
  VirtualDirectory,
  VirtualRoute,
} from "./library/perun-client.js";
export { createPerunClient } from "./library/perun-client.js";
export type { KeystoreV3, ScryptParams } from "./node/keystore.js";
export type { DirectoryLedger, DirectoryNode } from "./node/path-discovery.js";
