/**
 * The library's chains on the real embedded EVM: reached as an EIP-1193 provider and, served over
 * JSON-RPC, by URL; contracts deployed by `deployContracts` and checked by `connectChain` (no code, a
 * holder of another adjudicator); a client on a provider-connected chain opens and settles a channel.
 */
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PerunError } from "../errors.js";
import { createPerunClient } from "../library/perun-client.js";
import {
  connectChain,
  createEmbeddedChain,
  deployContracts,
  type EmbeddedPerunChain,
} from "./perun-chain.js";
import { type RpcServer, serveJsonRpc } from "./rpc-server.js";

let chain: EmbeddedPerunChain;
let server: RpcServer;
beforeAll(async () => {
  chain = await createEmbeddedChain({ accounts: 3 });
  server = await serveJsonRpc(chain.connection.provider, { port: 0 });
});
afterAll(() => server.close());

async function failure(p: Promise<unknown>): Promise<PerunError> {
  const e = await p.then(
    () => new Error("resolved"),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PerunError);
  return e as PerunError;
}

describe("createEmbeddedChain", () => {
  it("deploys the contracts and funds the dev accounts", async () => {
    expect(chain.dev).toBe(true);
    expect(chain.url).toBe("embedded");
    expect(chain.accounts).toHaveLength(3);
    expect(Object.keys(chain.contracts.assets)).toEqual(["ETH"]);
    const code = await chain.connection.publicClient.getCode({ address: chain.contracts.adjudicator });
    expect(code?.length).toBeGreaterThan(2);
    const t0 = (await chain.connection.publicClient.getBlock()).timestamp;
    await chain.increaseTime(100);
    expect((await chain.connection.publicClient.getBlock()).timestamp).toBeGreaterThanOrEqual(t0 + 100n);
  });

  it("checks its options", async () => {
    expect((await failure(createEmbeddedChain({ accounts: 0 }))).message).toMatch(
      /accounts: expected an integer from 1/,
    );
    expect((await failure(createEmbeddedChain({ balance: 1 as never }))).message).toMatch(/balance/);
    expect((await failure(createEmbeddedChain({ acounts: 2 } as never))).code).toBe("INVALID_ARGUMENT");
  });
});

describe("connectChain and deployContracts", () => {
  it("connects through an EIP-1193 provider and by JSON-RPC URL to the same contracts", async () => {
    const viaProvider = await connectChain({
      provider: chain.connection.provider,
      pollingMs: 20,
      contracts: chain.contracts,
    });
    expect(viaProvider).toMatchObject({ chainId: 31337, url: "eip1193", dev: false });
    const viaUrl = await connectChain({ rpcUrl: server.url, contracts: chain.contracts });
    expect(viaUrl.url).toBe(server.url);
    const [, a] = chain.accounts;
    const address = chain.connection.wallet(a as `0x${string}`).account.address;
    expect(await viaUrl.balance(address)).toBe(await chain.balance(address));
  });

  it("deploys on a chain reached by URL; a client there opens and settles a channel", async () => {
    const contracts = await deployContracts({
      rpcUrl: server.url,
      privateKey: chain.accounts[0] as `0x${string}`,
    });
    expect(contracts.adjudicator).not.toBe(chain.contracts.adjudicator);
    const other = await connectChain({ provider: chain.connection.provider, pollingMs: 20, contracts });
    const common = {
      chain: other,
      store: "memory",
      log: () => {},
      pollMs: 20,
      // Not a dev chain to the library: the mainnet-safe defaults apply unless relaxed.
      policy: { challengeDuration: { min: 10, max: 3600 }, fundingTimeout: { min: 10, max: 3600 } },
    } as const;
    const bob = await createPerunClient({
      ...common,
      signer: chain.accounts[2] as `0x${string}`,
      listen: { port: 0 },
      acceptProposals: true,
    });
    const alice = await createPerunClient({
      ...common,
      signer: chain.accounts[1] as `0x${string}`,
      peers: [bob],
    });
    try {
      // The mainnet default (at least an hour) is refused by our own policy first.
      const strict = await createPerunClient({
        ...common,
        policy: {},
        signer: chain.accounts[1] as `0x${string}`,
      });
      const refused = await failure(
        strict.openChannel({ peer: bob.address, deposit: 1n, challengeDuration: 60 }),
      );
      expect(refused.code).toBe("POLICY_REFUSED");
      await strict.close();

      const id = await alice.openChannel({
        peer: bob.address,
        deposit: parseEther("1"),
        challengeDuration: 10,
        fundingTimeout: 60,
      });
      await alice.pay(id, parseEther("0.25"));
      await alice.settle(id);
      expect(alice.channel(id)).toMatchObject({
        phase: "Withdrawn",
        balances: [[parseEther("0.75"), parseEther("0.25")]],
      });
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  it("refuses contracts that are not there or do not belong together", async () => {
    const nowhere = "0x000000000000000000000000000000000000dEaD";
    const noCode = await failure(
      connectChain({
        provider: chain.connection.provider,
        contracts: { adjudicator: nowhere, assets: { ETH: nowhere } },
      }),
    );
    expect(noCode.code).toBe("CONTRACTS_MISSING");
    expect(noCode.hint).toMatch(/deployContracts/);
    const other = await deployContracts({
      provider: chain.connection.provider,
      privateKey: chain.accounts[0] as `0x${string}`,
    });
    const mixed = await failure(
      connectChain({
        provider: chain.connection.provider,
        contracts: {
          adjudicator: chain.contracts.adjudicator,
          assets: { ETH: other.assets.ETH as `0x${string}` },
        },
      }),
    );
    expect(mixed.message).toMatch(/expected an asset holder of adjudicator/);
    expect(mixed.hint).toMatch(/same deployment/);
  });

  it("checks its options", async () => {
    const contracts = chain.contracts;
    const cases: [() => Promise<unknown>, string | RegExp][] = [
      [() => connectChain({ contracts } as never), /exactly one of rpcUrl .* and provider/],
      [
        () => connectChain({ rpcUrl: server.url, provider: chain.connection.provider, contracts } as never),
        /exactly one/,
      ],
      [() => connectChain({ rpcUrl: "127.0.0.1:8545", contracts }), /an http\(s\):\/\/ or ws\(s\):\/\/ URL/],
      [() => connectChain({ provider: {} as never, contracts }), /an EIP-1193 provider/],
      [
        () => connectChain({ rpcUrl: server.url, contracts: { ...contracts, adjudicator: "0x12" } }),
        /contracts\.adjudicator/,
      ],
      [
        () => connectChain({ rpcUrl: server.url, contracts: { ...contracts, assets: {} } }),
        /at least one asset holder/,
      ],
      [
        () => connectChain({ rpcUrl: server.url, contracts, dev: true } as never),
        /only the fields rpcUrl, contracts/,
      ],
      [() => deployContracts({ rpcUrl: server.url, privateKey: "0x01" as never }), /privateKey/],
    ];
    for (const [p, message] of cases) expect((await failure(p())).message).toMatch(message);
    const unreachable = await failure(connectChain({ rpcUrl: "http://127.0.0.1:1", contracts }));
    expect(unreachable.code).toBe("CHAIN_UNREACHABLE");
  });
});
