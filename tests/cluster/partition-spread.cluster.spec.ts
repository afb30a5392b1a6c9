import { afterAll, describe, expect, it } from "vitest";
import { RedisEventLog } from "../../event-store/redis-event-log.ts";
import { idempotencyKey, taskIndexKey } from "../../event-store/keys.ts";
import { deleteKeys, masterOfSlot, slotOfRedisKey } from "../../event-store/redis-client.ts";
import { slotOfKey, withSlot } from "../../domain/task/index.ts";
import { taskEvents as on } from "../../domain/testing/task-events.ts";
import { connectTestRedis, uniquePrefix } from "../support/services.ts";
import { nodeConnection } from "../support/cluster-nodes.ts";

const PARTITIONS = 16;

/**
 * Where a log of 16 partitions lives on a cluster of three masters: each partition is one hash slot
 * (its `{pN}` tag), served by one master; every master serves some, and every key a partition's
 * scripts wrote is on that partition's master.
 */
describe("partitions on a Redis Cluster", () => {
  const redis = connectTestRedis();
  const prefix = uniquePrefix("spread");
  afterAll(async () => {
    await deleteKeys(redis, `${prefix}:*`);
    redis.disconnect();
  });

  it("spreads the partitions over every master, each partition's keys on its own master", async () => {
    const log = new RedisEventLog(redis, { partitions: PARTITIONS, prefix });
    const masterOf = new Map<number, string>();
    for (let p = 0; p < PARTITIONS; p++)
      masterOf.set(p, await masterOfSlot(redis, slotOfRedisKey(log.streamKey(p))));
    const byMaster = new Map<string, number[]>();
    for (const [p, master] of masterOf) byMaster.set(master, [...(byMaster.get(master) ?? []), p]);
    console.log(
      [...byMaster]
        .sort()
        .map(
          ([master, partitions]) => `${master}: ${partitions.length} partitions (${partitions.join(", ")})`,
        )
        .join("\n"),
    );
    expect(byMaster.size).toBe(3);
    for (const partitions of byMaster.values()) expect(partitions.length).toBeGreaterThanOrEqual(3);

    // One task per partition, submitted with an idempotency key of that partition (as the command
    // API places them: the task id takes the key's slot), so each script call writes the stream,
    // the task index and the key, then a fence writes every partition's epoch.
    const submitted = on.submitted(1);
    const tasks: { id: string; key: string }[] = [];
    for (let n = 0; tasks.length < PARTITIONS; n++) {
      const key = `order-${n}`;
      if (tasks.some((task) => slotOfKey(task.key) % PARTITIONS === slotOfKey(key) % PARTITIONS)) continue;
      tasks.push({ id: withSlot("0190a000-0000-7000-8000-000000000000", slotOfKey(key)), key });
    }
    expect(new Set(tasks.map((task) => log.partitionOf(task.id))).size).toBe(PARTITIONS);
    await Promise.all(tasks.map((task) => log.append(task.id, 0, [submitted], { idempotencyKey: task.key })));
    await log.fence(7);

    const written = new Set<string>();
    for (const task of tasks) {
      const p = log.partitionOf(task.id);
      const tag = `{p${p}}`;
      const keys = [
        log.streamKey(p),
        `${prefix}:${tag}:epoch`,
        taskIndexKey(task.id, PARTITIONS, prefix),
        idempotencyKey(task.key, PARTITIONS, prefix),
      ];
      for (const key of keys) {
        expect(key).toContain(tag);
        expect(slotOfRedisKey(key)).toBe(slotOfRedisKey(log.streamKey(p)));
        written.add(key);
      }
      // Read on the master itself, not through the cluster client's routing.
      const [host, port] = masterOf.get(p)!.split(":");
      expect(host).toBe("127.0.0.1");
      const node = nodeConnection(Number(port));
      await node.connect();
      try {
        expect(await node.xlen(keys[0]!)).toBe(1);
        expect(await node.get(keys[1]!)).toBe("7");
        expect(await node.hexists(keys[2]!, task.id)).toBe(1);
        expect(await node.get(keys[3]!)).toContain(task.id);
      } finally {
        node.disconnect();
      }
    }

    // And nowhere else: each master holds exactly the keys of the partitions it serves.
    for (const [master, partitions] of byMaster) {
      const node = nodeConnection(Number(master.split(":")[1]));
      await node.connect();
      try {
        const held = new Set<string>();
        let cursor = "0";
        do {
          const [next, batch] = await node.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
          for (const key of batch) held.add(key);
          cursor = next;
        } while (cursor !== "0");
        for (const key of held) {
          const p = Number(/\{p(\d+)\}/.exec(key)?.[1]);
          expect(partitions, `${key} on ${master}`).toContain(p);
        }
        const expected = [...written].filter((key) =>
          partitions.includes(Number(/\{p(\d+)\}/.exec(key)![1])),
        );
        for (const key of expected) expect(held, `${key} on ${master}`).toContain(key);
      } finally {
        node.disconnect();
      }
    }
  });
});
