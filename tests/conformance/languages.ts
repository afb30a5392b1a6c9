import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Every SDK language the suite knows, in the order of the table's columns. */
export const LANGUAGES = ["typescript", "go", "python"] as const;
export type Lang = (typeof LANGUAGES)[number];

/** How to start a language's conformance worker (SPEC.md, "The conformance worker"). */
export interface WorkerCommand {
  command: string;
  args: string[];
  cwd: string;
}

/** A language's worker, or why it cannot run here. */
export type Availability = { lang: Lang; command: WorkerCommand } | { lang: Lang; skipped: string };

/** Where scripts/conformance.sh builds the Go worker and keeps the Python virtualenv (git-ignored). */
export const BUILD_DIR = process.env.CONFORMANCE_BUILD_DIR ?? join(ROOT, ".conformance");

/** The Go worker binary: CONFORMANCE_GO_WORKER, else where scripts/conformance.sh builds it. */
function goWorker(): string {
  return process.env.CONFORMANCE_GO_WORKER ?? join(BUILD_DIR, "bin", "go-conformance-worker");
}

/** The Python interpreter of the suite's virtualenv: CONFORMANCE_PYTHON, else the script's venv. */
function pythonInterpreter(): string {
  return process.env.CONFORMANCE_PYTHON ?? join(BUILD_DIR, "venv", "bin", "python");
}

/** Whether `dir` holds the module `taskstream.conformance` (flat or src layout, module or package). */
function hasPythonModule(dir: string): boolean {
  for (const base of [dir, join(dir, "src")]) {
    const pkg = join(base, "taskstream");
    if (existsSync(join(pkg, "conformance.py")) || existsSync(join(pkg, "conformance", "__main__.py")))
      return true;
  }
  return false;
}

/** Which languages can run here, each with its command or the reason it cannot. */
export function detectLanguages(): Availability[] {
  return LANGUAGES.map((lang): Availability => {
    switch (lang) {
      case "typescript": {
        const worker = join(ROOT, "tests/conformance/workers/typescript/worker.ts");
        if (!existsSync(join(ROOT, "sdk/typescript"))) return { lang, skipped: "sdk/typescript is absent" };
        return { lang, command: { command: process.execPath, args: [worker], cwd: ROOT } };
      }
      case "go": {
        if (!existsSync(join(ROOT, "sdk/go"))) return { lang, skipped: "sdk/go is absent" };
        if (!existsSync(join(ROOT, "sdk/go/cmd/conformance-worker")))
          return { lang, skipped: "sdk/go has no cmd/conformance-worker yet" };
        const binary = goWorker();
        if (!existsSync(binary))
          return { lang, skipped: `${binary} is not built (scripts/conformance.sh builds it)` };
        return { lang, command: { command: binary, args: [], cwd: ROOT } };
      }
      case "python": {
        const dir = join(ROOT, "sdk/python");
        if (!existsSync(dir)) return { lang, skipped: "sdk/python is absent" };
        if (!hasPythonModule(dir)) return { lang, skipped: "sdk/python has no taskstream.conformance yet" };
        const python = pythonInterpreter();
        if (!existsSync(python))
          return { lang, skipped: `no virtualenv at ${python} (scripts/conformance.sh creates it)` };
        return { lang, command: { command: python, args: ["-m", "taskstream.conformance"], cwd: dir } };
      }
    }
  });
}

/** Languages CONFORMANCE_REQUIRE names (comma-separated): each of them must run, or the suite fails. */
export function requiredLanguages(): Lang[] {
  return parseLangs(process.env.CONFORMANCE_REQUIRE ?? "", "CONFORMANCE_REQUIRE");
}

/** A comma-separated list of languages, checked against LANGUAGES. */
export function parseLangs(text: string, what: string): Lang[] {
  const names = text
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!(LANGUAGES as readonly string[]).includes(name))
      throw new Error(`${what}: unknown language "${name}" (known: ${LANGUAGES.join(", ")})`);
  }
  return names as Lang[];
}
