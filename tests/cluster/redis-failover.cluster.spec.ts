import { afterAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "../../sdk/typescript/src/index.ts";
import { RedisEventLog } from "../../event-store/redis-event-log.ts";
import { partitionKeys } from "../../event-store/keys.ts";
import { slotOfRedisKey } from "../../event-store/redis-client.ts";
import { fold, isTerminal, slotOfKey } from "../../domain/task/index.ts";
import { eventually } from "../support/server.ts";
import { connectTestRedis, uniquePrefix } from "../support/services.ts";
import { isLeading, spawnServer, type ServerProcess } from "../support/process-cluster.ts";
import { killRedisNode, masterPortOfSlot, reviveNodes } from "../support/cluster-nodes.ts";

const PARTITIONS = 16;
const SUBMISSIONS = 400;
const PRODUCERS = 8;

/** An idempotency key whose submission lands in `partition`. */
function keyOfPartition(partition: number): string {
  for (let n = 0; ; n++) if (slotOfKey(`probe-${n}`) % PARTITIONS === partition) return `probe-${n}`;
}

/**
 * Invariant 1 on a Redis Cluster in WAIT mode: the master serving a partition is killed (kill -9)
 * while producers submit; the cluster promotes its replica, the producers retry what was not
 * acknowledged with the same idempotency key, and afterwards every acknowledged submission is in
 * the log, once, and reaches a terminal state.
 */
describe("a Redis master killed under load, in WAIT mode", () => {
  const redis = connectTestRedis();
  const processes: ServerProcess[] = [];
  const workers: Worker[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop({ graceMs: 1000 })));
    await Promise.all(processes.map((p) => p.kill()));
    await reviveNodes();
    redis.disconnect();
  });

  it("keeps every acknowledged submission and finishes each", async () => {
    const prefix = uniquePrefix("master-kill");
    const server = await spawnServer(prefix, "api,dispatcher", {
      TASKSTREAM_PARTITIONS: String(PARTITIONS),
      TASKSTREAM_REDIS_WAIT_REPLICAS: "1",
      TASKSTREAM_REDIS_WAIT_TIMEOUT_MS: "500",
    });
    processes.push(server);
    await eventually(async () => ((await isLeading(server)) ? true : undefined), 30_000, "a leader");
    const worker = new Worker({
      addresses: [server.grpcAddress],
      name: "failover",
      slots: 50,
      handlers: { work: async (payload: unknown) => payload },
    });
    workers.push(worker);
    await worker.start();

    const acknowledged = new Map<string, string>(); // idempotency key → task id
    const refusals = new Map<number, number>(); // HTTP status (0: no answer) → count
    const submit = async (index: number) => {
      const key = `order-${index}`;
      for (;;) {
        const reply = await fetch(`${server.httpUrl}/v1/tasks`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ type: "work", payload: { index }, idempotencyKey: key }),
          signal: AbortSignal.timeout(10_000),
        }).catch(() => null);
        if (reply?.status === 201 || reply?.status === 200) {
          const { id } = (await reply.json()) as { id: string };
          acknowledged.set(key, id);
          return;
        }
        await reply?.body?.cancel();
        refusals.set(reply?.status ?? 0, (refusals.get(reply?.status ?? 0) ?? 0) + 1);
        await sleep(50);
      }
    };
    let next = 0;
    const producers = Array.from({ length: PRODUCERS }, async () => {
      while (next < SUBMISSIONS) await submit(next++);
    });

    await eventually(() => (acknowledged.size >= 100 ? true : undefined), 60_000, "100 acknowledged");
    const slot = slotOfRedisKey(partitionKeys(0, prefix).events);
    const victim = (await masterPortOfSlot(slot))!;
    await killRedisNode(victim);
    const promoted = await eventually(
      async () => {
        const master = await masterPortOfSlot(slot);
        return master !== null && master !== victim ? master : undefined;
      },
      30_000,
      "the replica promoted",
    );
    expect(promoted).not.toBe(victim);
    // The promoted master has no replica until the killed node comes back: WAIT cannot be satisfied
    // there, so a submission to its partition is refused, not acknowledged.
    const probe = keyOfPartition(0);
    const refused = await fetch(`${server.httpUrl}/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "work", payload: { probe }, idempotencyKey: probe }),
    });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/replica/);
    // The killed node comes back as the new master's replica: WAIT can be satisfied there again.
    await reviveNodes();
    await Promise.all(producers);
    expect(acknowledged.size).toBe(SUBMISSIONS);
    const probeAnswer = await fetch(`${server.httpUrl}/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "work", payload: { probe }, idempotencyKey: probe }),
    });
    expect([200, 201]).toContain(probeAnswer.status);
    acknowledged.set(probe, ((await probeAnswer.json()) as { id: string }).id);
    // Refusals (503 while a shard had no replica or no master) were retried with the same key.
    expect(
      [...refusals.keys()].filter((status) => status !== 503 && status !== 0),
      server.output.join(""),
    ).toEqual([]);

    const store = new RedisEventLog(redis, { partitions: PARTITIONS, prefix });
    const onVictim = [...acknowledged.values()].filter(
      (id) => slotOfRedisKey(store.streamKey(store.partitionOf(id))) === slot,
    );
    expect(onVictim.length).toBeGreaterThan(0);
    for (const [key, id] of acknowledged) {
      const history = await store.readTask(id);
      expect(history[0]?.type, `${key} → ${id}`).toBe("TaskSubmitted");
    }
    await eventually(
      async () => {
        for (const id of acknowledged.values())
          if (!isTerminal(fold(await store.readTask(id)))) return undefined;
        return true;
      },
      120_000,
      "every acknowledged task terminal",
    );
    for (const id of acknowledged.values()) {
      const history = await store.readTask(id);
      expect(fold(history).state).toBe("SUCCEEDED");
      expect(history.filter((e) => e.type === "TaskSucceeded")).toHaveLength(1);
    }
  });
});
