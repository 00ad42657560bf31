/**
 * The client's roles, one module each (docs/architecture.md): the ledger channel protocol, funding,
 * disputes, following the chain, the sub-channel states we know, re-sync, the virtual channel end,
 * the intermediary, the held lock proposals and app channels. `Client` builds them and fills this object; a role
 * reaches another only through it, at call time, so roles may refer to each other in any order.
 */
import type { AppChannels } from "./app-channel.js";
import type { ChainFollower } from "./chain-follower.js";
import type { Disputes } from "./dispute.js";
import type { Funding } from "./funding.js";
import type { HeldLocks } from "./held-locks.js";
import type { Intermediary } from "./intermediary.js";
import type { LedgerChannels } from "./ledger-channel.js";
import type { LockProposals } from "./lock-proposal.js";
import type { Resync } from "./resync.js";
import type { SubChannelStates } from "./sub-states.js";
import type { VirtualChannelEnd } from "./virtual-end.js";
import type { VirtualRecords } from "./virtual-records.js";

export interface Roles {
  readonly ledger: LedgerChannels;
  readonly funding: Funding;
  readonly disputes: Disputes;
  readonly follower: ChainFollower;
  readonly subStates: SubChannelStates;
  readonly resync: Resync;
  readonly locks: LockProposals;
  readonly heldLocks: HeldLocks;
  readonly virtualEnd: VirtualChannelEnd;
  readonly intermediary: Intermediary;
  readonly virtual: VirtualRecords;
  readonly apps: AppChannels;
}
