import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { Etcd3 } from "etcd3";
import { testServices } from "./services.ts";
import { eventually } from "./server.ts";

/**
 * The nodes of the local Redis Cluster and three-member etcd that `scripts/services.sh start
 * --redis-cluster --etcd-cluster` runs, for the cluster tier's chaos tests: which node serves what,
 * kill -9 of one, and starting the killed ones again (`services.sh revive`).
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SERVICES_DIR = process.env.TASKSTREAM_SERVICES_DIR ?? `${ROOT}.services`;
const run = promisify(execFile);

const ports = (urls: string[]) => urls.map((url) => Number(new URL(url).port)).sort((a, b) => a - b);

/** The cluster nodes' ports, from TASKSTREAM_REDIS_URL (the cluster's nodes, as services.sh writes them). */
export function redisNodePorts(): number[] {
  return ports(testServices.redisUrl.split(","));
}

/** A plain connection to one node (not routed by the cluster client). */
export function nodeConnection(port: number): Redis {
  const node = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  node.on("error", () => undefined); // a node that is down: the caller learns it from its command
  return node;
}

async function onNode<T>(port: number, work: (node: Redis) => Promise<T>): Promise<T | null> {
  const node = nodeConnection(port);
  try {
    await node.connect();
    return await work(node);
  } catch {
    return null;
  } finally {
    node.disconnect();
  }
}

/** The port of the master serving `slot`, as the live nodes report it (null while none does). */
export async function masterPortOfSlot(slot: number): Promise<number | null> {
  for (const port of redisNodePorts()) {
    const master = await onNode(port, async (node) => {
      const ranges = await node.cluster("SLOTS");
      const master = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
      return master ? Number(master[1]) : null;
    });
    if (master !== null) {
      const isMaster = await onNode(master, async (node) => (await node.role())[0] === "master");
      if (isMaster) return master;
    }
  }
  return null;
}

/** kill -9 of the node on `port` (its pid as the node itself reports it). */
export async function killRedisNode(port: number): Promise<void> {
  const pid = await onNode(port, async (node) =>
    Number(/process_id:(\d+)/.exec(await node.info("server"))?.[1]),
  );
  if (!pid) throw new Error(`redis node ${port} is not running`);
  process.kill(pid, "SIGKILL");
}

/** Whether every node answers and reports the cluster ok with every slot served. */
export async function redisClusterOk(): Promise<boolean> {
  for (const port of redisNodePorts()) {
    const ok = await onNode(port, async (node) => /cluster_state:ok/.test(await node.cluster("INFO")));
    if (!ok) return false;
  }
  return true;
}

/** Starts again every cluster node and etcd member that is down, and waits until each is back. */
export async function reviveNodes(): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TASKSTREAM_SERVICES_DIR: SERVICES_DIR,
    TASKSTREAM_REDIS_PORT: String(redisNodePorts()[0]! - 1),
    TASKSTREAM_ETCD_PORT: String(etcdClientPorts()[0]! - 2),
  };
  await run("bash", [`${ROOT}scripts/services.sh`, "revive"], { env, timeout: 120_000 });
}

/** The etcd members' client ports, from TASKSTREAM_ETCD_ENDPOINTS. */
export function etcdClientPorts(): number[] {
  return ports(testServices.etcdEndpoints);
}

export interface EtcdMemberStatus {
  name: string;
  endpoint: string;
  isLeader: boolean;
}

/** The members that answer, each with whether it leads the Raft group now. */
export async function etcdMembers(): Promise<EtcdMemberStatus[]> {
  const answers: EtcdMemberStatus[] = [];
  for (const endpoint of testServices.etcdEndpoints) {
    const client = new Etcd3({ hosts: endpoint, dialTimeout: 1000 });
    try {
      const status = await client.maintenance.status();
      const members = await client.cluster.memberList({});
      const self = members.members.find((m) => m.ID === status.header.member_id);
      if (self)
        answers.push({ name: self.name, endpoint, isLeader: status.leader === status.header.member_id });
    } catch {
      // down, or without a quorum
    } finally {
      client.close();
    }
  }
  return answers;
}

/** kill -9 of an etcd member, by its name (m1, m2, m3: services.sh keeps its pid under that name). */
export function killEtcdMember(name: string): void {
  const pid = Number(readFileSync(`${SERVICES_DIR}/etcd-cluster/${name}/etcd.pid`, "utf8").trim());
  process.kill(pid, "SIGKILL");
}

/** Waits until a member reports itself the Raft leader; returns its name. */
export function etcdLeader(timeoutMs = 60_000): Promise<string> {
  return eventually(
    async () => (await etcdMembers()).find((m) => m.isLeader)?.name,
    timeoutMs,
    "an etcd leader",
  );
}
