/**
 * Serves an EIP-1193 provider (the embedded chain) as a JSON-RPC endpoint over
 * HTTP on 127.0.0.1, so that several processes (nodes, CLI, tests) share one
 * chain. Requests are validated; oversize or malformed bodies get JSON-RPC
 * errors, never a crash.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { EIP1193Provider } from "viem";

const MAX_BODY = 16 * 1024 * 1024;

export interface RpcServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

interface RpcRequest {
  jsonrpc?: string;
  id?: unknown;
  method?: unknown;
  params?: unknown;
}

/**
 * Serves `provider` as a JSON-RPC endpoint over HTTP (host default 127.0.0.1; port 0: any free port).
 *
 * @example
 * const chain = await createEmbeddedChain();
 * const server = await serveJsonRpc(chain.connection.provider, { port: 8545 });
 * // other processes: connectChain({ rpcUrl: server.url, contracts: chain.contracts })
 * await server.close();
 */
export async function serveJsonRpc(
  provider: EIP1193Provider,
  options: { host?: string; port?: number } = {},
): Promise<RpcServer> {
  const host = options.host ?? "127.0.0.1";
  // EDR handles one request at a time anyway; serialising keeps nonces and
  // evm_* time jumps in the order the clients sent them.
  let queue: Promise<unknown> = Promise.resolve();
  const call = (req: RpcRequest): Promise<unknown> => {
    const run = queue.then(() => handleOne(provider, req));
    queue = run.catch(() => undefined);
    return run;
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "OPTIONS") return send(res, 204, "");
    if (req.method !== "POST") return send(res, 405, JSON.stringify(rpcError(null, -32600, "use POST")));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        send(res, 413, JSON.stringify(rpcError(null, -32600, "request too large")));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", async () => {
      if (res.writableEnded) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return send(res, 200, JSON.stringify(rpcError(null, -32700, "parse error")));
      }
      const out = Array.isArray(body)
        ? await Promise.all(body.map((r) => call(r as RpcRequest)))
        : await call(body as RpcRequest);
      send(
        res,
        200,
        JSON.stringify(out, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8545, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handleOne(provider: EIP1193Provider, req: RpcRequest): Promise<unknown> {
  const id = req?.id ?? null;
  if (typeof req !== "object" || req === null || typeof req.method !== "string") {
    return rpcError(id, -32600, "invalid request: expected {jsonrpc, id, method, params}");
  }
  const params = req.params === undefined ? [] : req.params;
  if (!Array.isArray(params) && typeof params !== "object") {
    return rpcError(id, -32602, "invalid params: expected an array or object");
  }
  try {
    const result = await provider.request({ method: req.method, params } as never);
    return { jsonrpc: "2.0", id, result: result ?? null };
  } catch (err) {
    const e = err as { code?: number; message?: string; data?: unknown };
    return {
      jsonrpc: "2.0",
      id,
      error: {
        code: typeof e.code === "number" ? e.code : -32603,
        message: e.message ?? String(err),
        data: e.data,
      },
    };
  }
}

function rpcError(id: unknown, code: number, message: string) {
  return { jsonrpc: "2.0", id, error: { code, message } };
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    "content-type": "application/json",
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "content-type",
  });
  res.end(body);
}
