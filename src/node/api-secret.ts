/**
 * The local API's secret (design.md section 7: "the local API requires a secret from a file only the
 * node's user can read"), after bitcoind's cookie file and lnd's macaroons.
 *
 * Node side: at first start the node writes 32 random bytes (64 hex digits) to its secret file,
 * `<dataDir>/<db name>.api-secret` (src/node/config.ts: e.g. alice.db -> alice.api-secret, so that two
 * nodes with their databases in one directory still have a secret each), created with mode 0600 from the start (a temporary file opened O_CREAT|O_EXCL with 0600, then
 * hard-linked into place, so the file is never readable by others and never seen half written), and
 * reuses it on every restart. An existing file that others may read, that another user owns, or that is
 * a symbolic link stops the node: the secret may have leaked, or someone else chose it.
 *
 * Discovery side (the CLI, scripts, tests): the node also writes a pointer file, with no secret in it,
 * `<runDir>/api-<host>-<port>` = {"secretFile": <absolute path>, "pid": <node pid>}, where runDir is
 * per user: $PERUN_RUN_DIR, else $XDG_RUNTIME_DIR/perun, else ~/.perun/run (mode 0700). Given only the
 * API URL, a client finds the pointer of that port, checks that the pointer is its own and that the
 * node process it names is alive and ours, and reads the secret file; that read fails with EACCES for
 * any other Unix user, which is the point. The pid check keeps the CLI from handing the secret to
 * whatever listens on the port after the node is gone (another user's process squatting it).
 *
 * @example
 * const { secret, file } = loadOrCreateApiSecret("/var/lib/perun/alice.api-secret"); // node
 * const found = discoverApiSecret("http://127.0.0.1:5001");               // CLI, same Unix user
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { userInfo } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { ApiSecretError } from "./errors.js";

/** Environment variable naming the secret file for clients (same as `--api-secret-file`). */
export const SECRET_FILE_ENV = "PERUN_API_SECRET_FILE";

/** Environment variable overriding the per-user directory of pointer files. */
export const RUN_DIR_ENV = "PERUN_RUN_DIR";

export interface ApiSecret {
  /** 64 lower-case hex digits. */
  readonly secret: string;
  /** Absolute path of the file it is in. */
  readonly file: string;
}

const SECRET = /^[0-9a-f]{64}$/;

/** Our uid, or undefined where there are none (Windows): the ownership and mode checks then do not apply. */
function uid(): number | undefined {
  return typeof process.getuid === "function" ? process.getuid() : undefined;
}

/**
 * The node's secret in `secretFile` (its directory, the data directory, created 0700 if missing): read
 * if the file exists, else created. Throws ApiSecretError if the existing file is unsafe (readable or
 * writable by group/others, owned by another user, not a regular file) or does not hold 64 hex digits.
 */
export function loadOrCreateApiSecret(secretFile: string): ApiSecret {
  const file = resolve(secretFile);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = readOwnSecret(file);
    if (existing !== undefined) return existing;
    if (createSecret(file)) return readOwnSecret(file) as ApiSecret;
    // Another process created it between our two steps: read theirs.
  }
  throw new ApiSecretError("API_SECRET_UNSAFE", `Cannot create the API secret file ${file}.`, {
    file,
    hint: "Something keeps creating and removing it; check the data directory.",
  });
}

/** The secret in `file` after the node's checks; undefined if there is no such file. */
function readOwnSecret(file: string): ApiSecret | undefined {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted in its place must not block the start (it then fails the isFile check).
    fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") {
      throw new ApiSecretError("API_SECRET_UNSAFE", `The API secret file ${file} is a symbolic link.`, {
        file,
        hint: `Delete it (rm ${file}); the node then creates a new secret file in its place.`,
      });
    }
    throw new ApiSecretError("API_SECRET_UNSAFE", `Cannot read the API secret file ${file}: ${code}.`, {
      file,
      hint: "Run the node as the user who owns its data directory.",
      cause: err,
    });
  }
  try {
    // fstat of the open descriptor: the file checked is the file read (no swap in between).
    const st = fstatSync(fd);
    const me = uid();
    const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
    if (!st.isFile()) {
      throw new ApiSecretError("API_SECRET_UNSAFE", `The API secret file ${file} is not a regular file.`, {
        file,
        hint: `Remove it; the node then creates a new secret file in its place.`,
      });
    }
    if (me !== undefined && st.uid !== me) {
      throw new ApiSecretError(
        "API_SECRET_UNSAFE",
        `The API secret file ${file} belongs to uid ${st.uid}, not to the node's user (uid ${me}).`,
        {
          file,
          hint: `Someone else chose this secret. Delete the file (rm ${file}) and restart: the node creates a new one.`,
        },
      );
    }
    if (me !== undefined && (st.mode & 0o077) !== 0) {
      throw new ApiSecretError(
        "API_SECRET_UNSAFE",
        `The API secret file ${file} has mode ${mode}: users other than the node's may read or change it.`,
        {
          file,
          hint: `Consider the secret leaked: delete the file (rm ${file}) and restart; the node creates a new one with mode 0600.`,
        },
      );
    }
    const buf = Buffer.alloc(128);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const secret = buf.subarray(0, n).toString("utf8").trim();
    if (!SECRET.test(secret)) {
      throw new ApiSecretError("API_SECRET_INVALID", `The API secret file ${file} does not hold a secret.`, {
        file,
        hint: `It must hold 64 hex digits. Delete it (rm ${file}) and restart: the node creates a new one.`,
      });
    }
    return { secret, file };
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a new secret to `file`, mode 0600 from the first byte on: a temporary file created exclusively
 * with 0600 (fchmod too: a umask can only take bits away, but an odd one could take ours), written and
 * synced, then hard-linked to `file`, which fails if `file` appeared meanwhile. False if it did.
 */
function createSecret(file: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
  const fd = openSync(tmp, flags, 0o600);
  try {
    try {
      require0600(fd);
      writeSync(fd, `${randomBytes(32).toString("hex")}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    }
    syncDir(dirname(file));
    return true;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

function require0600(fd: number): void {
  if (uid() !== undefined) fchmodSync(fd, 0o600);
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not every platform can fsync a directory; the file itself is synced.
  }
}

// ---------------------------------------------------------------------------------------------
// Pointer files: where a node's secret is, by API endpoint, in a per-user directory.

/** What a pointer file holds: no secret, just where it is and which process serves the port. */
export interface ApiPointer {
  readonly secretFile: string;
  readonly pid: number;
}

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1"];

/**
 * The per-user directories of pointer files, the one a node writes to first: $PERUN_RUN_DIR alone if
 * set; else $XDG_RUNTIME_DIR/perun (if set) and ~/.perun/run, both searched by clients, since a daemon
 * (a system service) and a login shell do not always agree on XDG_RUNTIME_DIR.
 */
export function runDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const own = env[RUN_DIR_ENV];
  if (own !== undefined && own !== "") return [resolve(own)];
  const dirs: string[] = [];
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg !== undefined && isAbsolute(xdg)) dirs.push(join(xdg, "perun"));
  dirs.push(join(homeDir(env), ".perun", "run"));
  return dirs;
}

function homeDir(env: NodeJS.ProcessEnv): string {
  if (env.HOME !== undefined && env.HOME !== "") return env.HOME;
  try {
    return userInfo().homedir;
  } catch {
    return resolve(".");
  }
}

/** `api-<host>-<port>`, the host as in the URL without brackets (`::1`), lower case. */
export function pointerName(host: string, port: number | string): string {
  return `api-${host.replace(/^\[|\]$/g, "").toLowerCase()}-${port}`;
}

/**
 * Writes the pointer of the API at host:port to the first run directory (created 0700), atomically
 * (temporary file, rename). Returns its path. Throws ApiSecretError if the run directory is not ours
 * or others may write to it (a pointer planted there could send our CLI's secret elsewhere).
 */
export function writeApiPointer(
  host: string,
  port: number,
  secretFile: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const dir = runDirs(env)[0] as string;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const problem = runDirProblem(dir);
  if (problem !== undefined) {
    throw new ApiSecretError("API_SECRET_UNSAFE", `Not writing the API pointer file to ${dir}: ${problem}.`, {
      file: dir,
      hint: `Make it yours and private (chmod 700 ${dir}), or set ${RUN_DIR_ENV} to a private directory.`,
    });
  }
  const file = join(dir, pointerName(host, port));
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const pointer: ApiPointer = { secretFile, pid: process.pid };
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, `${JSON.stringify(pointer)}\n`);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return file;
}

/** Removes the pointer at `file` if it is still ours (this process wrote it); never throws. */
export function removeApiPointer(file: string): void {
  try {
    const p = JSON.parse(readFileSync(file, "utf8")) as Partial<ApiPointer>;
    if (p.pid === process.pid) unlinkSync(file);
  } catch {
    // gone already, or another node's now
  }
}

/** Why a run directory must not be trusted, or undefined if it may. */
function runDirProblem(dir: string): string | undefined {
  const me = uid();
  if (me === undefined) return undefined;
  const st = lstatSync(dir);
  if (!st.isDirectory()) return "not a directory";
  if (st.uid !== me) return `it belongs to uid ${st.uid}, not to us (uid ${me})`;
  if ((st.mode & 0o022) !== 0) return `others may write to it (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

export interface DiscoverOptions {
  /** The secret file, given explicitly (`--api-secret-file`). */
  readonly secretFile?: string;
  /** Where $PERUN_API_SECRET_FILE, $PERUN_RUN_DIR, $XDG_RUNTIME_DIR and $HOME are read (process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Only the pointer file: for the other nodes a command talks to (`--via-api`, `--directory`), to
   * which the secret file named for `--api`'s node does not belong.
   */
  readonly onlyPointer?: boolean;
}

/**
 * The secret for the node API at `apiUrl`, for a client: from `secretFile` (`--api-secret-file`) if
 * given, else from $PERUN_API_SECRET_FILE, else through the node's pointer file in our run
 * directories. Throws ApiSecretError saying which file and why when there is none or it cannot be read.
 *
 * @example
 * const client = new ApiClient(url, { secret: discoverApiSecret(url).secret });
 */
export function discoverApiSecret(apiUrl: string, options: DiscoverOptions = {}): ApiSecret {
  const env = options.env ?? process.env;
  if (options.secretFile !== undefined)
    return readSecretFile(resolve(options.secretFile), "--api-secret-file");
  const fromEnv = options.onlyPointer ? undefined : env[SECRET_FILE_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return readSecretFile(resolve(fromEnv), `$${SECRET_FILE_ENV}`);
  const found = findPointer(apiUrl, env);
  if ("pointer" in found) return readSecretFile(found.pointer.secretFile, `the pointer file ${found.file}`);
  const me = uid();
  throw new ApiSecretError(
    "API_SECRET_UNAVAILABLE",
    `No API secret for ${apiUrl}: ${found.looked.join("; ")}.`,
    {
      hint:
        `Is \`perun node\` running as this user${me === undefined ? "" : ` (uid ${me})`} with its API there? ` +
        `Otherwise give the node's secret file (<dataDir>/<db name>.api-secret; its path is in the node's first output line) with --api-secret-file or ${SECRET_FILE_ENV}; only the node's user can read it.`,
    },
  );
}

/** The first live pointer for the URL's port, or what was looked at and why each did not do. */
function findPointer(
  apiUrl: string,
  env: NodeJS.ProcessEnv,
): { pointer: ApiPointer; file: string } | { looked: string[] } {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    return { looked: [`"${apiUrl}" is not a URL`] };
  }
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port === "" ? "80" : url.port;
  // The node binds one loopback name; the user may type another (localhost for 127.0.0.1).
  const hosts = LOOPBACK_NAMES.includes(host) ? [host, ...LOOPBACK_NAMES.filter((h) => h !== host)] : [host];
  const looked: string[] = [];
  for (const dir of runDirs(env)) {
    const dirProblem = existsDir(dir) ? runDirProblem(dir) : "no such directory";
    if (dirProblem !== undefined) {
      looked.push(`${dir}: ${dirProblem}`);
      continue;
    }
    for (const h of hosts) {
      const file = join(dir, pointerName(h, port));
      const r = readPointer(file);
      if ("pointer" in r) return { pointer: r.pointer, file };
      if (h === host || r.why !== "no such file") looked.push(`${file}: ${r.why}`);
    }
  }
  return { looked };
}

function existsDir(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function readPointer(file: string): { pointer: ApiPointer } | { why: string } {
  let text: string;
  try {
    const st = lstatSync(file);
    const me = uid();
    if (!st.isFile()) return { why: "not a regular file" };
    if (me !== undefined && st.uid !== me) return { why: `belongs to uid ${st.uid}, not to us` };
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { why: code === "ENOENT" ? "no such file" : `unreadable (${code})` };
  }
  let p: Partial<ApiPointer>;
  try {
    p = JSON.parse(text) as Partial<ApiPointer>;
  } catch {
    return { why: "not a pointer file (no JSON)" };
  }
  if (
    typeof p !== "object" ||
    p === null ||
    typeof p.secretFile !== "string" ||
    !isAbsolute(p.secretFile) ||
    typeof p.pid !== "number" ||
    !Number.isSafeInteger(p.pid) ||
    p.pid <= 0
  ) {
    return { why: "not a pointer file ({secretFile, pid} expected)" };
  }
  // The node that wrote it must still run, as us: else whatever now listens on the port is not it.
  try {
    process.kill(p.pid, 0);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      why:
        code === "EPERM"
          ? `stale: pid ${p.pid} now belongs to another user`
          : `stale: the node (pid ${p.pid}) is not running`,
    };
  }
  return { pointer: { secretFile: p.secretFile, pid: p.pid } };
}

/** Reads a secret file as a client; `via` says who named it, for the error. */
export function readSecretFile(file: string, via: string): ApiSecret {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") {
      let owner = "";
      try {
        owner = ` (it belongs to uid ${statSync(file).uid})`;
      } catch {
        // the directory is closed to us as well
      }
      const me = uid();
      throw new ApiSecretError(
        "API_SECRET_UNAVAILABLE",
        `Cannot read the API secret file ${file} (named by ${via}): permission denied${owner}${me === undefined ? "" : `; we are uid ${me}`}.`,
        {
          file,
          hint: "Only the node's user may read it: run this command as the node's user.",
          cause: err,
        },
      );
    }
    throw new ApiSecretError(
      "API_SECRET_UNAVAILABLE",
      `Cannot read the API secret file ${file} (named by ${via}): ${code === "ENOENT" ? "no such file" : code}.`,
      {
        file,
        hint: 'The node writes it at first start to <dataDir>/<db name>.api-secret (dataDir: the config\'s "dataDir", by default the directory of its "db"; e.g. alice.db -> alice.api-secret; with a Postgres store, named after the config file: hub.json -> hub.api-secret).',
        cause: err,
      },
    );
  }
  const secret = text.trim();
  if (!SECRET.test(secret)) {
    throw new ApiSecretError(
      "API_SECRET_INVALID",
      `The file ${file} (named by ${via}) does not hold an API secret (64 hex digits).`,
      { file, hint: "Point at the node's <dataDir>/<db name>.api-secret." },
    );
  }
  return { secret, file };
}
