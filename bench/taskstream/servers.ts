import { setTimeout as sleep } from "node:timers/promises";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { spawnChild, stopChild } from "../proc.ts";

/** How the roles are spread over processes: one per role group (default), or all in one. */
export type Layout = "split" | "single";

const LAYOUTS: Record<Layout, { role: string; roles: string }[]> = {
  split: [
    { role: "api", roles: "api" },
    { role: "dispatcher", roles: "dispatcher" },
    { role: "projector", roles: "projector,read-api" },
  ],
  single: [{ role: "all", roles: "api,dispatcher,projector,read-api" }],
};

/** One `taskstream serve` process and where it listens. */
export interface ServerProcess {
  role: string;
  roles: string[];
  child: ChildProcess;
  httpUrl: string;
  grpcAddress: string;
}

export interface ServerOptions {
  layout: Layout;
  prefix: string;
  label: string;
  env: NodeJS.ProcessEnv;
  /** When set, each process runs with --cpu-prof and writes its profile under `<dir>/<role>/`. */
  profileDir: string | null;
  /** Each line the process writes to stdout (its JSON log), besides its log file. */
  onLine?: (role: string, line: string) => void;
}

/** The addresses in the line `taskstream serve` logs once it listens (JSON); null for other lines. */
function serving(line: string): { http: string; grpc: string } | null {
  if (!line.includes('"taskstream serving"')) return null;
  try {
    const { http, grpc } = JSON.parse(line) as { http?: unknown; grpc?: unknown };
    return typeof http === "string" && typeof grpc === "string" ? { http, grpc } : null;
  } catch {
    return null;
  }
}

/** Starts the real server (`node cli/main.ts serve`) as separate OS processes, on free ports. */
export async function startServers(options: ServerOptions): Promise<ServerProcess[]> {
  const started: ServerProcess[] = [];
  try {
    // The projector migrates on start: it goes first, then the other processes together.
    const specs = LAYOUTS[options.layout];
    const first = specs.filter((spec) => spec.roles.includes("projector"));
    const rest = specs.filter((spec) => !spec.roles.includes("projector"));
    for (const spec of first) started.push(await startOne(spec, options));
    const others = await Promise.allSettled(rest.map((spec) => startOne(spec, options)));
    for (const other of others) if (other.status === "fulfilled") started.push(other.value);
    const failed = others.find((other) => other.status === "rejected");
    if (failed) throw failed.reason;
    await Promise.all(started.map((server) => waitReady(server)));
    return started;
  } catch (error) {
    await stopServers(started);
    throw error;
  }
}

/**
 * One `taskstream serve` process with the given roles (the takeover and soak benchmarks run several
 * dispatchers): started, then ready — or, for a standby dispatcher, which is not ready until it leads,
 * answering /healthz.
 */
export async function startServer(
  spec: { role: string; roles: string },
  options: Omit<ServerOptions, "layout">,
  wait: "ready" | "alive" = "ready",
): Promise<ServerProcess> {
  const server = await startOne(spec, options);
  try {
    await waitReady(server, wait === "ready" ? "/readyz" : "/healthz");
  } catch (error) {
    await stopServers([server]);
    throw error;
  }
  return server;
}

async function startOne(
  spec: { role: string; roles: string },
  options: Omit<ServerOptions, "layout">,
): Promise<ServerProcess> {
  const profile = options.profileDir
    ? ["--cpu-prof", `--cpu-prof-dir=${join(options.profileDir, spec.role)}`]
    : [];
  let resolveLine!: (addresses: { http: string; grpc: string }) => void;
  const listening = new Promise<{ http: string; grpc: string }>((resolve) => (resolveLine = resolve));
  const child = spawnChild(
    [...profile, "--disable-warning=ExperimentalWarning", "cli/main.ts", "serve"],
    {
      ...options.env,
      TASKSTREAM_ROLES: spec.roles,
      TASKSTREAM_PREFIX: options.prefix,
      TASKSTREAM_HOST: "127.0.0.1",
      // The benchmark measures the scheduler on loopback, without authentication.
      TASKSTREAM_AUTH: "off",
      TASKSTREAM_HTTP_PORT: "0",
      TASKSTREAM_GRPC_PORT: "0",
    },
    `${options.label}-${spec.role}`,
    (line) => {
      const addresses = serving(line);
      if (addresses) resolveLine(addresses);
      options.onLine?.(spec.role, line);
    },
  );
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) =>
      reject(new Error(`taskstream ${spec.role} exited (code ${code}); see bench/out/logs`)),
    ),
  );
  const timeout = sleep(60_000).then(() => {
    throw new Error(`taskstream ${spec.role} did not start within 60 s`);
  });
  const addresses = await Promise.race([listening, exited, timeout]);
  exited.catch(() => undefined);
  return {
    role: spec.role,
    roles: spec.roles.split(","),
    child,
    httpUrl: addresses.http,
    grpcAddress: addresses.grpc,
  };
}

/** Polls /readyz until 200 (for a dispatcher: elected and rebuilt from the log), at most 30 s. */
async function waitReady(server: ServerProcess, path = "/readyz"): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`${server.httpUrl}${path}`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`taskstream ${server.role}: ${path} not 200 within 30 s`);
}

/** SIGTERM (graceful: partitions handed over, leases revoked, profiles written), SIGKILL after 15 s. */
export async function stopServers(servers: ServerProcess[]): Promise<void> {
  for (const server of servers) await stopChild(server.child, 15_000);
}

export async function scrape(server: ServerProcess): Promise<string> {
  const response = await fetch(`${server.httpUrl}/metrics`);
  return response.text();
}
