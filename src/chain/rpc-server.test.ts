import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../errors.js";
import { connectChain } from "./connection.js";
import { deployPerun } from "./deploy.js";
import { createEmbeddedChain, devKey } from "./embedded.js";
import { ChainUnreachableError } from "./errors.js";
import { type RpcServer, serveJsonRpc } from "./rpc-server.js";

describe("JSON-RPC server over the embedded chain", () => {
  let server: RpcServer;
  beforeAll(async () => {
    const embedded = await createEmbeddedChain();
    server = await serveJsonRpc(embedded.provider, { port: 0 });
  });
  afterAll(() => server.close());

  const post = (body: string) =>
    fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body });

  it("binds to loopback and serves viem clients: deploy and read the contracts over HTTP", async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const conn = await connectChain({ rpcUrl: server.url });
    expect(conn.chainId).toBe(31337);
    const d = await deployPerun(conn, devKey(0));
    const code = await conn.publicClient.getCode({ address: d.adjudicator });
    expect(code?.length ?? 0).toBeGreaterThan(1000);
  });

  it("answers batches in order", async () => {
    const res = await post(
      JSON.stringify([
        { jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] },
        { jsonrpc: "2.0", id: 2, method: "net_version", params: [] },
      ]),
    );
    const out = (await res.json()) as { id: number; result: string }[];
    expect(out.map((r) => r.id)).toEqual([1, 2]);
    expect(out[0]?.result).toBe("0x7a69");
  });

  it("rejects malformed bodies with JSON-RPC errors and keeps serving", async () => {
    const bad = (await (await post("{not json")).json()) as { error: { code: number } };
    expect(bad.error.code).toBe(-32700);
    const noMethod = (await (await post(JSON.stringify({ id: 7 }))).json()) as {
      id: number;
      error: { code: number };
    };
    expect(noMethod).toMatchObject({ id: 7, error: { code: -32600 } });
    const unknown = (await (
      await post(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "no_such" }))
    ).json()) as {
      error: { message: string };
    };
    expect(unknown.error.message).toBeTruthy();
    expect((await fetch(server.url)).status).toBe(405);
    const ok = (await (
      await post(JSON.stringify({ jsonrpc: "2.0", id: 9, method: "eth_chainId" }))
    ).json()) as {
      result: string;
    };
    expect(ok.result).toBe("0x7a69");
  });
});

describe("connectChain", () => {
  it("rejects a URL that is not http(s)/ws(s) with a typed error", async () => {
    await expect(connectChain({ rpcUrl: "localhost:8545" })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("says clearly when nothing listens at the URL", async () => {
    const err = await connectChain({ rpcUrl: "http://127.0.0.1:1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainUnreachableError);
    expect((err as Error).message).toContain("http://127.0.0.1:1");
  });
});
