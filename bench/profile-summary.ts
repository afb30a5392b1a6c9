/**
 * Top self-time functions of V8 CPU profiles (`node --cpu-prof`), and self time by package.
 *   node bench/profile-summary.ts <file.cpuprofile | directory> [--top N]
 * A directory is searched recursively; the profiles of each sub-directory (a role: api, dispatcher,
 * projector, worker) are added up and reported together.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  area: string;
  ms: number;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** What part of the code a script URL belongs to: an npm package, a project folder, or Node itself. */
function areaOf(url: string): string {
  if (url === "") return "(native / VM)";
  if (url.startsWith("node:")) return "node: internals";
  const path = url.replace(/^file:\/\//, "");
  const modules = path.lastIndexOf("/node_modules/");
  if (modules >= 0) {
    const rest = path.slice(modules + "/node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const inside = relative(ROOT, path);
  return inside.startsWith("..") ? path : `project: ${inside.split("/")[0]}/`;
}

function where(url: string, line: number): string {
  if (url === "") return "";
  const path = url.replace(/^file:\/\//, "");
  const modules = path.lastIndexOf("/node_modules/");
  const short =
    modules >= 0
      ? path.slice(modules + 14)
      : relative(ROOT, path).startsWith("..")
        ? path
        : relative(ROOT, path);
  return `${short}:${line + 1}`;
}

/**
 * Self time per function (ms), summed over the given profiles, largest first; inclusive time (the
 * function or anything it called was on CPU, recursion counted once); and the wall time covered.
 */
export function selfTimes(files: string[]): {
  functions: SelfTime[];
  inclusive: SelfTime[];
  totalMs: number;
  wallMs: number;
} {
  const byKey = new Map<string, SelfTime>();
  const inclusive = new Map<string, SelfTime>();
  let totalMs = 0;
  let wallMs = 0;
  const entryOf = (map: Map<string, SelfTime>, node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || "(anonymous)";
    const key = `${name}|${url}|${lineNumber}`;
    let entry = map.get(key);
    if (!entry) map.set(key, (entry = { name, where: where(url, lineNumber), area: areaOf(url), ms: 0 }));
    return { key, entry };
  };
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
    wallMs += (profile.endTime - profile.startTime) / 1000;
    for (let i = 0; i < profile.samples.length; i++) {
      const node = nodes.get(profile.samples[i]!);
      if (!node) continue;
      const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
      entryOf(byKey, node).entry.ms += ms;
      totalMs += ms;
      if (node.callFrame.functionName === "(idle)") continue;
      const seen = new Set<string>();
      for (let at: ProfileNode | undefined = node; at; at = nodes.get(parents.get(at.id) ?? -1)) {
        const { key, entry } = entryOf(inclusive, at);
        if (seen.has(key)) continue;
        seen.add(key);
        entry.ms += ms;
      }
    }
  }
  const sorted = (map: Map<string, SelfTime>) => [...map.values()].sort((a, b) => b.ms - a.ms);
  return { functions: sorted(byKey), inclusive: sorted(inclusive), totalMs, wallMs };
}

function profilesUnder(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".cpuprofile"))
    .map((name) => join(path, name));
}

/** A text report: per role, the top functions by self time and self time by area. */
export function profileReport(path: string, top = 25): string {
  const files = profilesUnder(path);
  const groups = new Map<string, string[]>();
  for (const file of files) {
    const group = statSync(path).isFile() ? basename(file) : relative(path, dirname(file)) || ".";
    groups.set(group, [...(groups.get(group) ?? []), file]);
  }
  const out: string[] = [];
  for (const [group, members] of [...groups].sort()) {
    const { functions, inclusive, totalMs, wallMs } = selfTimes(members);
    const busyMs = functions.filter((f) => f.name !== "(idle)").reduce((n, f) => n + f.ms, 0);
    out.push(
      `\n== ${group}: ${members.length} profile(s), ${(wallMs / 1000).toFixed(1)} s wall, ` +
        `${(busyMs / 1000).toFixed(1)} s on CPU (${((100 * busyMs) / Math.max(1, wallMs)).toFixed(0)}% of one core)`,
    );
    out.push(`  self ms   %busy  function (location)`);
    for (const f of functions.filter((f) => f.name !== "(idle)").slice(0, top)) {
      out.push(
        `  ${f.ms.toFixed(0).padStart(7)}  ${((100 * f.ms) / busyMs).toFixed(1).padStart(5)}%  ${f.name}` +
          (f.where ? `  (${f.where})` : ""),
      );
    }
    const areas = new Map<string, number>();
    for (const f of functions) if (f.name !== "(idle)") areas.set(f.area, (areas.get(f.area) ?? 0) + f.ms);
    out.push(`  -- self time by area --`);
    for (const [area, ms] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
      out.push(`  ${ms.toFixed(0).padStart(7)}  ${((100 * ms) / busyMs).toFixed(1).padStart(5)}%  ${area}`);
    }
    out.push(`  -- inclusive time, project code (the function and all it called) --`);
    for (const f of inclusive.filter((f) => f.area.startsWith("project:")).slice(0, top)) {
      out.push(
        `  ${f.ms.toFixed(0).padStart(7)}  ${((100 * f.ms) / busyMs).toFixed(1).padStart(5)}%  ${f.name}  (${f.where})`,
      );
    }
    void totalMs;
  }
  return out.join("\n");
}

/** Where a function's self time comes from: its call chains (up to `depth` frames), by self time. */
export function callersReport(path: string, functionName: string, depth = 8, top = 10): string {
  const chains = new Map<string, number>();
  let total = 0;
  for (const file of profilesUnder(path)) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
    for (let i = 0; i < profile.samples.length; i++) {
      const node = nodes.get(profile.samples[i]!);
      if (node?.callFrame.functionName !== functionName) continue;
      const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
      const chain: string[] = [];
      for (let at = nodes.get(parents.get(node.id) ?? -1); at && chain.length < depth;) {
        chain.push(
          `${at.callFrame.functionName || "(anonymous)"} ${where(at.callFrame.url, at.callFrame.lineNumber)}`,
        );
        at = nodes.get(parents.get(at.id) ?? -1);
      }
      const key = chain.join("\n      < ");
      chains.set(key, (chains.get(key) ?? 0) + ms);
      total += ms;
    }
  }
  const lines = [`${functionName}: ${total.toFixed(0)} ms self time, called from:`];
  for (const [chain, ms] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${ms.toFixed(0).padStart(6)} ms  ${chain}`);
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, ...rest] = process.argv.slice(2);
  const flag = (name: string) => {
    const at = rest.indexOf(name);
    return at >= 0 ? rest[at + 1] : undefined;
  };
  if (!path) {
    console.error(
      "usage: node bench/profile-summary.ts <file.cpuprofile | directory> [--top N] [--callers FUNCTION]",
    );
    process.exit(2);
  }
  const callers = flag("--callers");
  console.log(callers ? callersReport(path, callers) : profileReport(path, Number(flag("--top") ?? 25)));
}
