import { afterEach, describe, expect, it } from "vitest";
import { deleteKeys, type RedisClient } from "../../event-store/redis-client.ts";
import { Etcd3 } from "etcd3";
import type { ScheduleEvent } from "../../domain/schedule/index.ts";
import { StaleEpochError, type TaskEvent } from "../../domain/task/index.ts";
import type { AppendOptions } from "../../event-store/event-log.ts";
import { RedisEventLog } from "../../event-store/redis-event-log.ts";
import { TaskCommands } from "../../commands/task-commands.ts";
import { ScheduleCommands } from "../../commands/schedules/schedule-commands.ts";
import { scheduleStore, type ScheduleStore } from "../../event-store/schedule-store.ts";
import { announced } from "../../tests/support/signals.ts";
import { testServices, uniquePrefix, connectTestRedis } from "../../tests/support/services.ts";
import { Leadership } from "../leadership.ts";
import { firingKey } from "./firing.ts";
import { Scheduler, type SchedulerEvents } from "./scheduler.ts";
import { ScheduleIndex } from "../../event-store/schedule-index.ts";

type Firing = SchedulerEvents["fired"][0];

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const EVERY_SECOND = "* * * * * *";

/** A schedule store whose n-th ScheduleFired append fails: a leader crashing between submit and record. */
class FlakyStore extends RedisEventLog<ScheduleEvent> {
  private fired = 0;
  failOn: number;
  /** Resolves with the fire time of the firing whose record failed. */
  readonly failed: Promise<number>;
  private fail!: (fireAt: number) => void;
  constructor(redis: RedisClient, prefix: string, failOn: number) {
    super(redis, { partitions: 1, prefix: `${prefix}:sched` });
    this.failOn = failOn;
    this.failed = new Promise((resolve) => (this.fail = resolve));
  }
  override async append(id: string, version: number, events: ScheduleEvent[], options?: AppendOptions) {
    const firing = events.find((e) => e.type === "ScheduleFired");
    if (firing && ++this.fired === this.failOn) {
      this.fail(firing.data.fireAt);
      throw new Error("injected: crashed before recording the firing");
    }
    return super.append(id, version, events, options);
  }
}

/** Resolves once `scheduler` has announced `count` firings of the schedule (subscribe before it starts). */
function firings(scheduler: Scheduler, scheduleId: string, count: number) {
  let seen = 0;
  return announced(
    scheduler,
    "fired",
    (firing: Firing) => firing.scheduleId === scheduleId && ++seen >= count,
  );
}

describe("scheduler: firing recurring schedules on the real services", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function setup(name: string) {
    const prefix = uniquePrefix(name);
    const redis = connectTestRedis();
    cleanup.push(async () => {
      await deleteKeys(redis, `${prefix}:*`);
      redis.disconnect();
    });
    const taskStore = new RedisEventLog(redis, { partitions: 4, prefix });
    const tasks = new TaskCommands(taskStore, { maxPayloadBytes: 1 << 20 });
    const store = scheduleStore(redis, prefix);
    const schedules = new ScheduleCommands(store, tasks);
    const scheduler = (schedStore: ScheduleStore = store, retryMs = 1000) => {
      const s = new Scheduler({ store: schedStore, tasks, log: quiet, retryMs });
      cleanup.push(() => s.stop());
      return s;
    };
    /** Every TaskSubmitted in the task log, by idempotency key → task ids. */
    const submitted = async () => {
      const byKey = new Map<string, string[]>();
      for (let p = 0; p < taskStore.partitions; p++) {
        for (const event of await taskStore.readPartition(p, "0", 100_000)) {
          if (event.type !== "TaskSubmitted") continue;
          const key = (event as Extract<TaskEvent, { type: "TaskSubmitted" }>).data.spec.idempotencyKey ?? "";
          byKey.set(key, [...(byKey.get(key) ?? []), event.taskId]);
        }
      }
      return byKey;
    };
    const fired = async (id: string) =>
      (await schedules.history(id)).flatMap((e) => (e.type === "ScheduleFired" ? [e.data] : []));
    return { prefix, redis, tasks, store, schedules, scheduler, submitted, fired };
  }

  it("fires a per-second schedule: one task per fire time, keyed schedule:<id>:<fireAt>, each recorded", async () => {
    const t = await setup("sched-fire");
    const schedule = await t.schedules.create({
      cron: EVERY_SECOND,
      task: { type: "tick", payload: { n: 1 }, priority: 8, metadata: { team: "ops" } },
    });
    const scheduler = t.scheduler();
    const third = firings(scheduler, schedule.id, 3);
    await scheduler.start(1);
    await third;
    const fired = await t.fired(schedule.id);
    expect(fired.length).toBeGreaterThanOrEqual(3);
    expect(fired[0]!.fireAt).toBeGreaterThan(Date.parse(schedule.createdAt));
    for (let i = 1; i < fired.length; i++) expect(fired[i]!.fireAt - fired[i - 1]!.fireAt).toBe(1000);
    const byKey = await t.submitted();
    for (const firing of fired) {
      expect(byKey.get(firingKey(schedule.id, firing.fireAt))).toEqual([firing.taskId]);
      const task = await t.tasks.get(firing.taskId!);
      expect(task).toMatchObject({ type: "tick", payload: { n: 1 }, priority: 8, state: "QUEUED" });
      expect(task.metadata).toEqual({
        team: "ops",
        "schedule.id": schedule.id,
        "schedule.fireAt": new Date(firing.fireAt).toISOString(),
      });
    }
    expect(await t.schedules.get(schedule.id)).toMatchObject({ lastFiredAt: expect.any(String) as string });
  });

  it("does not fire paused or deleted schedules; a resumed one fires from its resumption on", async () => {
    const t = await setup("sched-pause");
    const paused = await t.schedules.create({ cron: EVERY_SECOND, catchUp: "ALL", task: { type: "p" } });
    const deleted = await t.schedules.create({ cron: EVERY_SECOND, catchUp: "ALL", task: { type: "d" } });
    await t.schedules.pause(paused.id);
    await t.schedules.delete(deleted.id);
    const scheduler = t.scheduler();
    await scheduler.start(1);
    await new Promise((resolve) => setTimeout(resolve, 2500)); // nothing may fire meanwhile
    expect(await t.fired(paused.id)).toEqual([]);
    expect(await t.fired(deleted.id)).toEqual([]);
    expect(await t.submitted()).toEqual(new Map());

    const first = firings(scheduler, paused.id, 1);
    const resumedAt = Date.parse((await t.schedules.resume(paused.id)).updatedAt);
    await first;
    const fired = await t.fired(paused.id);
    // ALL fires every missed firing, but firings due while paused are not owed.
    expect(fired[0]!.fireAt).toBeGreaterThan(resumedAt);
    expect(fired[0]!.fireAt).toBeLessThanOrEqual(resumedAt + 1000);
  });

  it("after a restart, LATEST records the missed firings as skipped and fires the newest", async () => {
    const t = await setup("sched-latest");
    const schedule = await t.schedules.create({ cron: EVERY_SECOND, task: { type: "l" } });
    const first = t.scheduler();
    const once = firings(first, schedule.id, 1);
    await first.start(1);
    await once;
    await first.stop();
    await new Promise((resolve) => setTimeout(resolve, 3200)); // no leader for three seconds
    const restartedAt = Date.now();
    const second = t.scheduler();
    const latest = announced(
      second,
      "fired",
      (f: Firing) => f.scheduleId === schedule.id && f.fireAt > restartedAt - 1000,
    );
    await second.start(2);
    await latest;
    const history = await t.schedules.history(schedule.id);
    const skipped = history.find((e) => e.type === "ScheduleFiringsSkipped");
    expect(skipped?.data).toMatchObject({ policy: "LATEST", count: expect.any(Number) as number });
    expect((skipped!.data as { count: number }).count).toBeGreaterThanOrEqual(2);
    // Every fire time from the first firing on is either fired or inside the recorded skip: none lost.
    const fired = await t.fired(schedule.id);
    const { first: from, last: to } = skipped!.data as { first: number; last: number };
    const accounted = new Set([...fired.map((f) => f.fireAt)]);
    for (let at = fired[0]!.fireAt; at <= fired.at(-1)!.fireAt; at += 1000) {
      expect(accounted.has(at) || (at >= from && at <= to)).toBe(true);
    }
  });

  it("a deposed scheduler still running is fenced out at its next record and stops; the next claims a higher epoch", async () => {
    const t = await setup("sched-fenced");
    const schedule = await t.schedules.create({ cron: EVERY_SECOND, catchUp: "ALL", task: { type: "z" } });
    const stale = t.scheduler();
    const once = firings(stale, schedule.id, 1);
    await stale.start(1);
    await once;
    const halted = announced(stale, "halted");
    expect(await t.store.claim(0)).toBe(2); // a newer scheduler claimed the stream meanwhile
    expect(await halted).toEqual(["fenced out by a newer leader"]);
    expect(stale.running).toBe(false);

    // Epochs come from the stream, not from the caller: even a floor below the stored one gets a higher one.
    const newer = t.scheduler();
    const two = firings(newer, schedule.id, 2);
    expect(await newer.start(1)).toBe(3);
    await two;
    const byKey = await t.submitted();
    const fired = await t.fired(schedule.id);
    for (let i = 1; i < fired.length; i++) expect(fired[i]!.fireAt - fired[i - 1]!.fireAt).toBe(1000);
    for (const firing of fired)
      expect(byKey.get(firingKey(schedule.id, firing.fireAt))).toEqual([firing.taskId]);
  });

  it("failover: a leader crashing between submit and record neither fires twice nor skips", async () => {
    const t = await setup("sched-failover");
    const etcd = new Etcd3({ hosts: testServices.etcdEndpoints });
    cleanup.push(() => etcd.close());
    const key = `/taskstream/${t.prefix}/leader`;
    const leaders = [
      new Leadership(etcd, { key, ttlSeconds: 3 }),
      new Leadership(etcd, { key, ttlSeconds: 3 }),
    ];
    for (const leader of leaders) cleanup.push(() => leader.stop());
    const elected = leaders.map(
      (leader) => new Promise<number>((resolve) => leader.once("elected", resolve)),
    );

    const schedule = await t.schedules.create({ cron: EVERY_SECOND, catchUp: "ALL", task: { type: "f" } });
    const flaky = new FlakyStore(t.redis, t.prefix, 2);
    const schedulerA = t.scheduler(flaky, 60_000); // no retry: it "crashes" instead
    leaders[0]!.start("a");
    const epochA = await elected[0]!;
    await schedulerA.start(epochA);
    const failedFireAt = await flaky.failed;
    await schedulerA.stop();
    await leaders[0]!.stop(); // the crash: its lease goes, the other dispatcher is elected
    // A submitted the failed firing's task but never recorded it.
    const [taskOfA] = (await t.submitted()).get(firingKey(schedule.id, failedFireAt)) ?? [];
    expect(taskOfA).toBeDefined();
    expect((await t.fired(schedule.id)).map((f) => f.fireAt)).not.toContain(failedFireAt);

    leaders[1]!.start("b");
    const epochB = await elected[1]!;
    expect(epochB).toBeGreaterThan(epochA);
    const schedulerB = t.scheduler();
    const past = announced(
      schedulerB,
      "fired",
      (f: Firing) => f.scheduleId === schedule.id && f.fireAt >= failedFireAt + 2000,
    );
    await schedulerB.start(epochB);
    await past;

    const fired = await t.fired(schedule.id);
    const byKey = await t.submitted();
    // Never skipped: consecutive fire times from the first to the last, the failed one included once.
    for (let i = 1; i < fired.length; i++) expect(fired[i]!.fireAt - fired[i - 1]!.fireAt).toBe(1000);
    expect(fired.filter((f) => f.fireAt === failedFireAt)).toEqual([
      expect.objectContaining({ taskId: taskOfA }),
    ]);
    // Never twice: one task per fire time; B's resubmission of the failed firing answered A's task.
    for (const firing of fired) {
      expect(byKey.get(firingKey(schedule.id, firing.fireAt))).toEqual([firing.taskId]);
    }
    expect([...byKey.values()].flat()).toHaveLength(new Set(fired.map((f) => f.taskId)).size);
    // The deposed leader can no longer record anything.
    await expect(
      t.store.append(schedule.id, -1, [{ type: "ScheduleDeleted", data: { at: Date.now() } }], {
        epoch: epochA,
      }),
    ).rejects.toBeInstanceOf(StaleEpochError);
  });

  it("a new reader folds the saved snapshot and only the stream after it, to the same states", async () => {
    const t = await setup("sched-snapshot");
    const a = await t.schedules.create({ cron: "0 0 * * *", task: { type: "a" } });
    const b = await t.schedules.create({ cron: "0 0 * * *", task: { type: "b" } });
    await t.schedules.pause(a.id);
    const first = new ScheduleIndex(t.store);
    await first.refresh();
    await first.saveSnapshot(1);
    await t.schedules.pause(b.id);
    const c = await t.schedules.create({ cron: "0 0 * * *", task: { type: "c" } });

    const readFrom: string[] = [];
    const reads = Object.create(t.store) as ScheduleStore;
    reads.readPartition = (partition, after, count) => {
      readFrom.push(after);
      return t.store.readPartition(partition, after, count);
    };
    const restored = new ScheduleIndex(reads);
    const changed = await restored.refresh();
    expect(readFrom[0]).not.toBe("0-0");
    expect([...changed].sort()).toEqual([a.id, b.id, c.id].sort());

    const full = new ScheduleIndex(t.store);
    await full.refresh();
    expect(new Map(restored.entries())).toEqual(new Map(full.entries()));
    expect(restored.get(b.id)?.status).toBe("PAUSED");
  });
});
