import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { postgresVersion } from "./pg-admin.ts";
import { ROOT } from "./proc.ts";
import { redisInfo } from "./redis-admin.ts";

/** What the figures were measured on, for RESULTS.md. */
export type Machine = Record<string, string>;

function packageVersion(name: string): string {
  try {
    const text = readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8");
    return (JSON.parse(text) as { version: string }).version;
  } catch {
    return "?";
  }
}

/** The ioredis BullMQ runs on: its own copy when npm nested one, else the one Taskstream uses. */
function bullmqIoredis(): string {
  const nested = packageVersion("bullmq/node_modules/ioredis");
  return nested === "?"
    ? `ioredis ${packageVersion("ioredis")}, shared with Taskstream`
    : `its own ioredis ${nested}`;
}

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

export async function describeMachine(redis: Redis, pgUrl: string): Promise<Machine> {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "?";
  const info = await redisInfo(redis);
  const dirty =
    git(["status", "--porcelain", "--untracked-files=no"]) === "" ? "" : " (with uncommitted changes)";
  return {
    CPU: `${model}, ${os.cpus().length} cores (${os.arch()})`,
    Memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    OS: `${os.type()} ${os.release()}`,
    "Node.js": process.version,
    Redis: `${info.version}, appendonly ${info.appendonly}, appendfsync ${info.appendfsync} (same machine, loopback)`,
    PostgreSQL: `${await postgresVersion(pgUrl)} (fsync on, same machine)`,
    BullMQ: `${packageVersion("bullmq")} (${bullmqIoredis()})`,
    "Taskstream commit": `${git(["rev-parse", "--short", "HEAD"])}${dirty}`,
  };
}
