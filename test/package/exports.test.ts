/**
 * The public API, names and kinds, of the three entry points (`perun-ts`, `perun-ts/channel`,
 * `perun-ts/chain`) against a committed snapshot (public-api.txt beside this file): the API changes
 * only on purpose. The TypeScript checker lists every export, types included, with its kind; the
 * modules themselves, imported, must export exactly the values it lists.
 *
 * After a deliberate change: `npx vitest run test/package/exports.test.ts -u`, and review the diff.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const entries = {
  "perun-ts": "src/index.ts",
  "perun-ts/channel": "src/channel/index.ts",
  "perun-ts/chain": "src/chain/index.ts",
} as const;

/** The kind of one exported symbol, as a reader of the API would name it. */
function kindOf(checker: ts.TypeChecker, exported: ts.Symbol): string {
  const s = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const f = s.flags;
  if (f & ts.SymbolFlags.Class) return "class";
  if (f & ts.SymbolFlags.Function) return "function";
  if (f & ts.SymbolFlags.Enum) return "enum";
  if (f & ts.SymbolFlags.Variable) {
    const decl = s.valueDeclaration;
    const constant = decl && ts.getCombinedNodeFlags(decl) & ts.NodeFlags.Const;
    const type = f & (ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Interface) ? " + type" : "";
    return (constant ? "const" : "let") + type;
  }
  if (f & ts.SymbolFlags.Interface) return "interface";
  if (f & ts.SymbolFlags.TypeAlias) return "type";
  return `other(${f})`;
}

function publicApi(): Record<string, { name: string; kind: string }[]> {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!config) throw new Error("tsconfig.json could not be read");
  const files = Object.values(entries).map((f) => join(root, f));
  const program = ts.createProgram(files, { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const out: Record<string, { name: string; kind: string }[]> = {};
  for (const [name, file] of Object.entries(entries)) {
    const source = program.getSourceFile(join(root, file));
    const symbol = source && checker.getSymbolAtLocation(source);
    if (!symbol) throw new Error(`${file}: not a module`);
    out[name] = checker
      .getExportsOfModule(symbol)
      .map((e) => ({ name: e.name, kind: kindOf(checker, e) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  return out;
}

describe("the public API", () => {
  const api = publicApi();

  it("matches the committed snapshot (names and kinds)", async () => {
    const text = Object.entries(api)
      .map(([entry, list]) => [`# ${entry}`, ...list.map((e) => `${e.kind} ${e.name}`)].join("\n"))
      .join("\n\n");
    await expect(`${text}\n`).toMatchFileSnapshot("./public-api.txt");
  });

  it.each(
    Object.entries(entries),
  )("%s exports at run time exactly the values the checker lists", async (name, file) => {
    const mod = (await import(join(root, file))) as Record<string, unknown>;
    const values = (api[name] ?? [])
      .filter((e) => !["interface", "type"].includes(e.kind))
      .map((e) => e.name)
      .sort();
    expect(Object.keys(mod).sort()).toEqual(values);
    for (const e of api[name] ?? []) {
      if (e.kind === "class" || e.kind === "function") expect(typeof mod[e.name], e.name).toBe("function");
    }
  });
});
