import { spawn } from "node:child_process";
import { join } from "node:path";
import { benchDatabaseUrl, ensureDatabase } from "./pg-admin.ts";
import { ROOT } from "./proc.ts";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** Every service URL must point at this machine: the benchmark never loads anything else. */
export function loopbackUrl(name: string, fallback: string): string {
  const value = process.env[name] ?? fallback;
  for (const url of value.split(",")) {
    if (!LOOPBACK.has(new URL(url.trim()).hostname))
      throw new Error(`${name} must point at 127.0.0.1, got ${url}`);
  }
  return value;
}

/** The local services' URLs (loopback only), the bench database created and migrated. */
export async function benchServices(): Promise<{ redisUrl: string; etcdEndpoints: string; pgUrl: string }> {
  const redisUrl = loopbackUrl("TASKSTREAM_REDIS_URL", "redis://127.0.0.1:16379");
  const etcdEndpoints = loopbackUrl("TASKSTREAM_ETCD_ENDPOINTS", "http://127.0.0.1:12379");
  const pgUrl = benchDatabaseUrl(
    loopbackUrl("TASKSTREAM_PG_URL", "postgres://postgres@127.0.0.1:15432/taskstream"),
  );
  await ensureDatabase(pgUrl);
  await migrate(pgUrl);
  return { redisUrl, etcdEndpoints, pgUrl };
}

async function migrate(pgUrl: string): Promise<void> {
  const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", "cli/main.ts", "migrate"], {
    cwd: ROOT,
    env: { ...process.env, TASKSTREAM_PG_URL: pgUrl },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`taskstream migrate exited with ${code}`);
}

/** Markdown as the project's Prettier would write it at `relativePath`, so `npm run lint` accepts it. */
export async function formatMarkdown(markdown: string, relativePath: string): Promise<string> {
  const prettier = await import("prettier");
  const target = join(ROOT, relativePath);
  const config = (await prettier.resolveConfig(target)) ?? {};
  return prettier.format(markdown, { ...config, filepath: target });
}
