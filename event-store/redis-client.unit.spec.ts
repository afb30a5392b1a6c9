import { describe, expect, it } from "vitest";
import { Cluster, Redis } from "ioredis";
import { partitionKeys, taskIndexKey, idempotencyKey } from "./keys.ts";
import { connectRedis, slotOfRedisKey } from "./redis-client.ts";

describe("the Redis client", () => {
  it("hashes keys to the slots Redis Cluster uses, by their hash tag", () => {
    // Values from CLUSTER KEYSLOT.
    expect(slotOfRedisKey("foo")).toBe(12182);
    expect(slotOfRedisKey("{user1000}.following")).toBe(3443);
    expect(slotOfRedisKey("ts:{p0}:events")).toBe(15882);
    // An empty tag does not count: the whole key is hashed.
    expect(slotOfRedisKey("a{}b")).toBe(13694);
    expect(slotOfRedisKey("{}")).toBe(15257);
  });

  it("keeps every key of a partition in one slot, whatever the prefix", () => {
    const keys = partitionKeys(5, "tenant-a");
    const taskId = "01a22921-38bb-7426-ad1a-511329e1fb84";
    const slot = slotOfRedisKey(keys.events);
    for (const key of [keys.epoch, keys.intake, keys.snapshot]) expect(slotOfRedisKey(key)).toBe(slot);
    const partition = Number(/\{p(\d+)\}/.exec(taskIndexKey(taskId, 8, "tenant-a"))![1]);
    expect(slotOfRedisKey(taskIndexKey(taskId, 8, "x"))).toBe(
      slotOfRedisKey(partitionKeys(partition).events),
    );
    expect(idempotencyKey("order-42", 8, "x")).toMatch(/^x:\{p\d\}:idem:order-42$/);
  });

  it("connects to a cluster for several URLs or the cluster flag, else to one node", () => {
    const clients = [
      connectRedis("redis://127.0.0.1:1,redis://127.0.0.1:2", { lazyConnect: true }),
      connectRedis("redis://127.0.0.1:1", { lazyConnect: true, cluster: true }),
      connectRedis("redis://127.0.0.1:1", { lazyConnect: true }),
    ];
    expect(clients.map((c) => c instanceof Cluster)).toEqual([true, true, false]);
    expect(clients[2]).toBeInstanceOf(Redis);
    for (const client of clients) client.disconnect();
  });
});
