import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import type { ProducerConfig, WorkerConfig } from "../protocol.ts";
import { classifyBullmqKey, deletePrefix, memoryByClass, redisInfo, streamEntries } from "../redis-admin.ts";
import type { MemoryReport, SystemUnderTest } from "../system.ts";

export interface BullmqOptions {
  redis: Redis;
  host: string;
  port: number;
  runId: string;
}

const QUEUE = "bench";
let setups = 0;

/**
 * BullMQ on the same Redis, with default job options (completed jobs are kept, like Taskstream's
 * history), in its own key prefix per setup. It has no server processes: producers and workers
 * talk to Redis directly.
 */
export class BullmqSystem implements SystemUnderTest {
  readonly name = "bullmq" as const;
  readonly workerScript = "bench/bullmq/worker.ts";
  readonly producerScript = "bench/bullmq/producer.ts";
  readonly preloadTransport = "client" as const;
  readonly steadyTransport = "client" as const;
  readonly submitTransports = { client: "client" } as const;
  readonly lag = null;
  label = "";
  prefix = "";
  private readonly options: BullmqOptions;
  private baselineMemory = 0;

  constructor(options: BullmqOptions) {
    this.options = options;
  }

  async setup(): Promise<void> {
    this.label = `bullmq-${this.options.runId}-${++setups}`;
    this.prefix = `bullbench-${this.options.runId}-${setups}`;
    this.baselineMemory = (await redisInfo(this.options.redis)).usedMemory;
  }

  async teardown(): Promise<void> {
    await deletePrefix(this.options.redis, this.prefix);
  }

  private get redisAddress() {
    return { host: this.options.host, port: this.options.port };
  }

  workerConfig(index: number, slots: number): WorkerConfig {
    return { system: "bullmq", index, slots, redis: this.redisAddress, prefix: this.prefix, queue: QUEUE };
  }

  workerExecArgv(): string[] {
    return [];
  }

  producerConfig(): ProducerConfig {
    return { system: "bullmq", redis: this.redisAddress, prefix: this.prefix, queue: QUEUE };
  }

  /** Nothing is derived asynchronously: a completion is in Redis when the worker reports it. */
  async settle(): Promise<{ caughtUp: boolean; waitedMs: number }> {
    await sleep(0);
    return { caughtUp: true, waitedMs: 0 };
  }

  async verify(): Promise<Record<string, number>> {
    const completed = await this.options.redis.zcard(`${this.prefix}:${QUEUE}:completed`);
    return { completedJobs: completed };
  }

  get admin(): Redis {
    return this.options.redis;
  }

  processIds(): Record<string, number[]> {
    return {};
  }

  async projectorCounts(): Promise<null> {
    return null;
  }

  roleRss(): Record<string, number> {
    return {};
  }

  async memory(): Promise<MemoryReport> {
    const redis = this.options.redis;
    const classes = await memoryByClass(redis, this.prefix, classifyBullmqKey);
    return {
      classes,
      totalBytes: [...classes.values()].reduce((n, c) => n + c.bytes, 0),
      usedMemoryDelta: (await redisInfo(redis)).usedMemory - this.baselineMemory,
      streamEntries: await streamEntries(redis, [`${this.prefix}:${QUEUE}:events`]),
      roleRss: {},
    };
  }
}
