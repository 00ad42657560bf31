/**
 * What a user gets from npm, not what the repository resolves: `npm pack` makes the tarball that
 * `npm publish` would upload, `npm install <tarball>` puts it into a new project outside the
 * repository (its dependencies from the npm registry or the local cache), and there:
 * - the example of README.md's "Use it as a library" section, cut out of README.md itself so the two
 *   cannot drift, runs with plain `node` (ESM) and type-checks with `tsc` (strict, as JavaScript
 *   with checkJs and as TypeScript), and the package's declaration files check on their own;
 * - `perun-ts`, `perun-ts/channel` and `perun-ts/chain` resolve, and importing them runs nothing:
 *   no native addon loaded, no handle left open, no file written;
 * - the SQLite store works (its native addon installed like any user's) and the `perun` binary runs;
 * - the tarball holds the built library, README.md and LICENSE, and no tests, benchmarks or maps.
 *
 * better-sqlite3 installs a prebuilt binary that prebuild-install downloads; this machine has no
 * network beyond the npm registry, where it would compile SQLite from source instead (about two
 * minutes). So the test hands prebuild-install the binary this repository's install built, through
 * its documented offline option (`npm_config_better_sqlite3_local_prebuilds`): the install script
 * still runs as on a user's machine. Reads `dist/` as `npm run build` left it (run first by
 * `npm test`); when the sources are newer, builds first.
 */
import { execFile } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(root, "package.json"));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
  devDependencies: Record<string, string>;
};

let work: string;
let project: string;
let tarball: string;
const timings: Record<string, number> = {};

async function timed<T>(what: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    timings[what] = Math.round(performance.now() - t0) / 1000;
  }
}

/** Runs `cmd` in `cwd`; on failure the error carries its output. */
async function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeout = 300_000) {
  try {
    return await run(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      timeout,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

/** The first ```js block of README.md's "Use it as a library" section. */
function readmeExample(readme: string): string {
  const section = readme.split(/^## /m).find((s) => s.startsWith("Use it as a library"));
  const code = section && /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error('README.md: no ```js block in the section "Use it as a library"');
  return code;
}

function newestMtime(dir: string, match: RegExp): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !match.test(entry.name)) continue;
    newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** A prebuild-install tarball of this repository's better-sqlite3 binary, in a folder of its own. */
function localPrebuilds(): Record<string, string> {
  const sqliteDir = dirname(require.resolve("better-sqlite3/package.json"));
  const binary = join(sqliteDir, "build", "Release", "better_sqlite3.node");
  if (!existsSync(binary)) return {}; // then it compiles, as it would for a user without prebuilds
  const version = (JSON.parse(readFileSync(join(sqliteDir, "package.json"), "utf8")) as { version: string })
    .version;
  const stage = join(work, "prebuild-stage");
  mkdirSync(join(stage, "build", "Release"), { recursive: true });
  copyFileSync(binary, join(stage, "build", "Release", "better_sqlite3.node"));
  const dir = join(work, "prebuilds");
  mkdirSync(dir);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  return { dir, name, stage };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "perun-package-"));
  const built = existsSync(join(root, "dist/src/index.js"))
    ? statSync(join(root, "dist/src/index.js")).mtimeMs
    : 0;
  if (
    built < Math.max(newestMtime(join(root, "src"), /\.ts$/), newestMtime(join(root, "contracts"), /\.sol$/))
  ) {
    await timed("build", () => sh("npm", ["run", "build"], root));
  }
  const packed = await timed("pack", () =>
    sh("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], root),
  );
  const [info] = JSON.parse(packed.stdout) as { filename: string }[];
  tarball = join(work, (info as { filename: string }).filename);

  project = join(work, "app");
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "perun-user", version: "1.0.0", private: true, type: "module" }, null, 2),
  );
  const prebuild = localPrebuilds();
  const env: NodeJS.ProcessEnv = {};
  if (prebuild.dir && prebuild.name && prebuild.stage) {
    await sh("tar", ["-czf", join(prebuild.dir, prebuild.name), "-C", prebuild.stage, "build"], work);
    env.npm_config_better_sqlite3_local_prebuilds = prebuild.dir;
  }
  await timed("install", () =>
    sh(
      "npm",
      [
        "install",
        tarball,
        `typescript@${pkg.devDependencies.typescript}`,
        `@types/node@${pkg.devDependencies["@types/node"]}`,
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
      ],
      project,
      env,
    ),
  );
}, 600_000);

afterAll(() => {
  console.log(`package test timings (s): ${JSON.stringify(timings)}`);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the npm package", () => {
  it("holds the built library, README.md and LICENSE, nothing of tests, benchmarks or source maps", async () => {
    const listing = await sh("tar", ["-tzf", tarball], work);
    const files = listing.stdout
      .trim()
      .split("\n")
      .map((f) => f.replace(/^package\//, ""));
    expect(files).toEqual(
      expect.arrayContaining(["package.json", "README.md", "LICENSE", "dist/src/index.js"]),
    );
    expect(files).toEqual(
      expect.arrayContaining(["dist/src/index.d.ts", "dist/src/chain/index.js", "dist/src/channel/index.js"]),
    );
    // What the embedded chain deploys: the compiled contracts, as modules of the package.
    expect(files).toEqual(
      expect.arrayContaining([
        "dist/src/chain/generated/Adjudicator.js",
        "dist/src/chain/generated/AssetHolderETH.js",
      ]),
    );
    const others = files.filter(
      (f) => !f.startsWith("dist/src/") && !["package.json", "README.md", "LICENSE"].includes(f),
    );
    expect(others).toEqual([]);
    expect(files.filter((f) => /\.test\.|\.testutil\.|\.suite\.|\.map$|(^|\/)bench\//.test(f))).toEqual([]);
    // Every module has its source: nothing stale from a deleted file slipped into dist/.
    const stale = files
      .filter((f) => f.endsWith(".js"))
      .filter((f) => !existsSync(join(root, f.replace(/^dist\//, "").replace(/\.js$/, ".ts"))));
    expect(stale).toEqual([]);
  });

  it("runs the README example with node", async () => {
    const example = readmeExample(readFileSync(join(root, "README.md"), "utf8"));
    expect(example).toMatch(/from "perun-ts"/);
    writeFileSync(join(project, "example.mjs"), example);
    const { stdout, stderr } = await timed("example", () => sh("node", ["example.mjs"], project, {}, 60_000));
    expect(stdout.trim()).toBe("[ [ '0.85', '0.15' ] ]");
    expect(stderr).toBe("");
  }, 120_000);

  it("type-checks the README example with tsc, as JavaScript and as TypeScript; a misuse is an error", async () => {
    const example = readmeExample(readFileSync(join(root, "README.md"), "utf8"));
    writeFileSync(join(project, "example.mjs"), example);
    writeFileSync(join(project, "example-typed.mts"), example);
    // The checker does see the package's types: a wrong option is an error, and the only one.
    writeFileSync(
      join(project, "misuse.mts"),
      'import { createEmbeddedChain, createPerunClient } from "perun-ts";\n' +
        "const chain = await createEmbeddedChain();\n" +
        'await createPerunClient({ signer: "0x01", chain, store: "disk" });\n',
    );
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          exactOptionalPropertyTypes: true,
          allowJs: true,
          checkJs: true,
          noEmit: true,
          types: ["node"],
          // As `tsc --init` has it; our own declaration files are checked on their own, below.
          skipLibCheck: true,
        },
        files: ["example.mjs", "example-typed.mts", "misuse.mts"],
      }),
    );
    const tsc = join(project, "node_modules", "typescript", "bin", "tsc");
    const out = await timed("tsc", () =>
      run("node", [tsc, "-p", "tsconfig.json"], { cwd: project }).then(
        (r) => r.stdout,
        (e: { stdout?: string }) => e.stdout ?? "",
      ),
    );
    const errors = out.split("\n").filter((l) => /error TS\d+/.test(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^misuse\.mts\(3,\d+\): error TS\d+: Type '"disk"' is not assignable/);
  }, 180_000);

  it("ships declaration files that type-check on their own, every import resolved", () => {
    const dist = join(project, "node_modules", "perun-ts", "dist", "src");
    const entries = ["index", "channel/index", "chain/index"].map((f) => join(dist, `${f}.d.ts`));
    const program = ts.createProgram(entries, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      types: ["node"],
      typeRoots: [join(project, "node_modules", "@types")],
    });
    // Only ours: the checker looks into our dependencies' declarations as far as ours use them.
    const ours = program.getSourceFiles().filter((f) => f.fileName.startsWith(dist));
    expect(ours.length).toBeGreaterThan(50);
    const problems = ours
      .flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)])
      .map(
        (d) =>
          `${d.file?.fileName.slice(dist.length + 1)}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`,
      );
    expect(problems).toEqual([]);
  }, 120_000);

  it("resolves perun-ts, perun-ts/channel and perun-ts/chain, and importing them runs nothing", async () => {
    const probe = `
      import { readdirSync } from "node:fs";
      const addons = [];
      const dlopen = process.dlopen;
      process.dlopen = (module, file, ...rest) => { addons.push(file); return dlopen(module, file, ...rest); };
      const before = readdirSync(".").sort();
      const root = await import("perun-ts");
      const channel = await import("perun-ts/channel");
      const chain = await import("perun-ts/chain");
      await new Promise((r) => setImmediate(r));
      console.log(JSON.stringify({
        root: typeof root.createPerunClient,
        channel: typeof channel.hashState,
        chain: typeof chain.EthChain,
        addons,
        resources: process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap"),
        written: readdirSync(".").sort().filter((f) => !before.includes(f)),
      }));
    `;
    writeFileSync(join(project, "probe.mjs"), probe);
    const { stdout } = await sh("node", ["probe.mjs"], project, {}, 30_000);
    expect(JSON.parse(stdout)).toEqual({
      root: "function",
      channel: "function",
      chain: "function",
      addons: [],
      resources: [],
      written: [],
    });
    // Only the three entry points: no deep imports into dist/.
    const deep = await sh(
      "node",
      [
        "-e",
        "import('perun-ts/dist/src/index.js').then(() => console.log('resolved'), (e) => console.log(e.code))",
      ],
      project,
    );
    expect(deep.stdout.trim()).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED");
  }, 120_000);

  it("keeps channels in SQLite (the native addon installed) and ships the perun binary", async () => {
    writeFileSync(
      join(project, "sqlite.mjs"),
      `import { createEmbeddedChain, createPerunClient } from "perun-ts";
       const chain = await createEmbeddedChain({ accounts: 2 });
       const c = await createPerunClient({ signer: chain.accounts[1], chain, store: { file: "alice.db" } });
       await c.close();
       console.log(c.address);`,
    );
    const { stdout } = await sh("node", ["sqlite.mjs"], project, {}, 60_000);
    expect(stdout.trim()).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(statSync(join(project, "alice.db")).size).toBeGreaterThan(0);
    const help = await sh(join(project, "node_modules", ".bin", "perun"), ["help"], project);
    expect(help.stdout).toMatch(/^perun - Perun state channels/);
    expect(relative(project, tarball)).toMatch(/perun-ts-\d+\.\d+\.\d+\.tgz$/);
    expect(tarball).toMatch(new RegExp(`perun-ts-${pkg.version.replace(/\./g, "\\.")}\\.tgz$`));
  }, 120_000);
});
