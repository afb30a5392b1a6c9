import { existsSync, readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Every file of ours the program can load from `entry`: static imports and dynamic import() calls. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [resolve(ROOT, entry)];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, "utf8");
    for (const [, specifier] of source.matchAll(/(?:from|import\()\s*"(\.{1,2}\/[^"]+)"/g)) {
      const target = resolve(dirname(file), specifier!);
      if (existsSync(target) && target.endsWith(".ts")) pending.push(target);
    }
  }
  return seen;
}

describe("deploy/Dockerfile", () => {
  it("copies every folder the taskstream program loads code from", () => {
    const dockerfile = readFileSync(new URL("./Dockerfile", import.meta.url), "utf8");
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(\S+) \.\/\S+$/gm)].map(([, path]) => path!);
    const files = [...reachable("cli/main.ts")].map((file) => relative(ROOT, file));
    expect(files.length).toBeGreaterThan(50);
    const missing = files.filter((file) => !copied.some((path) => file.startsWith(`${path}/`)));
    expect(missing).toEqual([]);
  });
});
