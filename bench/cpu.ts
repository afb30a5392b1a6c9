import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import type { Redis } from "ioredis";

let ticksPerSecond = 0;

function clockTicks(): number {
  if (ticksPerSecond === 0) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of one process from /proc/<pid>/stat, in ms (0 once it is gone). */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
  } catch {
    return 0;
  }
}

/** Read and write system calls a process has made (/proc/<pid>/io syscr + syscw; 0 once gone). */
export function processSyscalls(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, "m").exec(io)?.[1] ?? 0);
    return field("syscr") + field("syscw");
  } catch {
    return 0;
  }
}

/** Every PostgreSQL server process (postmaster and backends) now. */
function postgresPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres") pids.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

/** Redis's own CPU (main thread and its I/O and fsync threads), from INFO cpu, in ms. */
export async function redisCpuMs(redis: Redis): Promise<number> {
  const text = await redis.info("cpu");
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, "m").exec(text)?.[1] ?? 0);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1000;
}

/** Busy and total CPU time of the whole machine, in ms (from /proc/stat). */
export function machineCpuMs(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1, 9).map(Number);
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  const scale = 1000 / clockTicks();
  return { busy: busy * scale, total: (busy + idle! + iowait!) * scale };
}

/** A CPU snapshot of named processes plus Redis, PostgreSQL and the machine. */
export type CpuSnapshot = Record<string, number>;

export async function cpuSnapshot(redis: Redis, pids: Record<string, number[]>): Promise<CpuSnapshot> {
  const snapshot: CpuSnapshot = {};
  for (const [role, list] of Object.entries(pids)) {
    snapshot[role] = list.reduce((n, pid) => n + processCpuMs(pid), 0);
    snapshot[`syscalls ${role}`] = list.reduce((n, pid) => n + processSyscalls(pid), 0);
  }
  snapshot.redis = await redisCpuMs(redis);
  const redisPid = Number(/^process_id:(\d+)/m.exec(await redis.info("server"))?.[1]);
  snapshot["syscalls redis"] = processSyscalls(redisPid || undefined);
  const postgres = postgresPids();
  snapshot.postgres = postgres.reduce((n, pid) => n + processCpuMs(pid), 0);
  snapshot["syscalls postgres"] = postgres.reduce((n, pid) => n + processSyscalls(pid), 0);
  const machine = machineCpuMs();
  snapshot["machine busy"] = machine.busy;
  snapshot["machine total"] = machine.total;
  return snapshot;
}
