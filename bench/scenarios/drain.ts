import { cpuSnapshot } from "../cpu.ts";
import { redisCounters, type RedisCounters } from "../redis-admin.ts";
import { Producer, WorkerGroup } from "../fleet.ts";
import type { Results } from "../results.ts";
import { now } from "../stats.ts";
import type { SystemUnderTest } from "../system.ts";

export interface DrainSettings {
  tasks: number;
  workers: number;
  slots: number;
  priorities: boolean;
  preloadBatch: number;
  preloadConcurrency: number;
  /** Scenario (f): measure Redis memory and RSS once drained; scale to this many tasks when larger. */
  memory: { extrapolateTo: number } | null;
  /** Diagnostic: the projector stopped from the workers' start to the last completion. */
  pauseProjector?: boolean;
  /** Overrides the results key's setting part (default `drainTag`). */
  tag?: string;
}

export function drainTag(settings: Pick<DrainSettings, "workers" | "slots" | "priorities">): string {
  return `${settings.workers}x${settings.slots}${settings.priorities ? "-prio" : ""}`;
}

/**
 * (b)/(e) Drain: preload N no-op tasks with no worker connected (and, for Taskstream, let the
 * projector catch up with the submissions), then start W workers × C slots together and time the
 * span from that start to the last completion the workers record. Confirmed afterwards from the
 * system's own records (Taskstream: the log and the read model; BullMQ: the completed set).
 */
export async function drainScenario(
  system: SystemUnderTest,
  settings: DrainSettings,
  results: Results,
): Promise<void> {
  const tag = settings.tag ?? drainTag(settings);
  const key = `drain.${system.name}.${tag}`;
  const n = settings.tasks;
  await system.setup();
  let group: WorkerGroup | null = null;
  try {
    const producer = await Producer.start(system);
    const preload = await producer
      .run({
        kind: "preload",
        count: n,
        batch: settings.preloadBatch,
        concurrency: settings.preloadConcurrency,
        transport: system.preloadTransport,
        priorities: settings.priorities,
      })
      .finally(() => producer.stop());
    if (preload.submitted !== n) throw new Error(`preload submitted ${preload.submitted} of ${n}`);
    results.record(`${key}.preloadPerS`, n / (preload.elapsedMs / 1000));
    const preSettle = await system.settle(Math.max(120_000, n * 2));
    if (!preSettle.caughtUp) results.note(`${key}: projection had not caught up with the preload`);
    const roleRssQueued = system.roleRss();
    // (f): what N live tasks cost — the log, the index and the leader's snapshots of them.
    let queued = null;
    if (settings.memory) {
      await system.awaitSnapshots?.(120_000);
      queued = await system.memory();
    }

    group = await WorkerGroup.start(system, settings.workers, settings.slots);
    const pids = { ...system.processIds(), workers: group.children.flatMap((c) => (c.pid ? [c.pid] : [])) };
    const cpuBefore = await cpuSnapshot(system.admin, pids);
    const redisBefore = await redisCounters(system.admin);
    const projectorBefore = await system.projectorCounts();
    const pause = settings.pauseProjector ? system.pauseProjector?.bind(system) : undefined;
    pause?.(true);
    group.go();
    const done = await group.waitCompleted(n, Math.max(120_000, n * 5)).finally(() => pause?.(false));
    if (!done) throw new Error(`${key}: only ${group.completed} of ${n} completed in time`);
    const cpuAfter = await cpuSnapshot(system.admin, pids);
    recordRedisWork(results, key, redisBefore, await redisCounters(system.admin), n);
    // CPU spent per task by each process (and the whole machine's load) over the drain.
    let attributed = 0;
    for (const [role, ms] of Object.entries(cpuAfter)) {
      if (role.startsWith("machine")) continue;
      if (role.startsWith("syscalls ")) {
        results.record(`${key}.syscallsPerTask.${role.slice(9)}`, (ms - (cpuBefore[role] ?? 0)) / n);
        continue;
      }
      const us = ((ms - (cpuBefore[role] ?? 0)) * 1000) / n;
      attributed += us;
      results.record(`${key}.cpuUsPerTask.${role}`, us);
    }
    results.record(`${key}.cpuUsPerTask.total`, attributed);
    const busy = cpuAfter["machine busy"]! - cpuBefore["machine busy"]!;
    results.record(
      `${key}.machineBusyPct`,
      (100 * busy) / (cpuAfter["machine total"]! - cpuBefore["machine total"]!),
    );
    const drainMs = group.lastCompleteAt - group.goAt;
    const perS = n / (drainMs / 1000);
    results.record(`${key}.perS`, perS);
    results.record(`${key}.firstStartMs`, group.firstStartAt - group.goAt);
    if (group.failed > 0) results.note(`${key}: ${group.failed} failed/unaccepted reports`);
    const workerRss = group.rss();
    const lastCompleteAt = group.lastCompleteAt;
    await group.stop();
    group = null;

    // Taskstream: how long after the last completion the read model held every event.
    const settled = await system.settle(Math.max(120_000, n * 4));
    const projectorAfter = await system.projectorCounts();
    if (projectorBefore && projectorAfter && projectorAfter.batches > projectorBefore.batches)
      results.record(
        `${key}.eventsPerProjectionBatch`,
        (projectorAfter.events - projectorBefore.events) / (projectorAfter.batches - projectorBefore.batches),
      );
    const catchUpMs = now() - lastCompleteAt;
    if (system.lag) results.record(`${key}.projectionCatchUpMs`, settled.caughtUp ? catchUpMs : Number.NaN);
    const checks = await system.verify();
    const expected = system.name === "taskstream" ? checks.succeededRows : checks.completedJobs;
    if (expected !== n || (checks.loggedEvents ?? 0) !== (checks.projectedEvents ?? 0))
      results.note(`${key}: drain not confirmed: ${JSON.stringify(checks)} for ${n} tasks`);
    console.error(
      `bench: ${system.name} drain ${tag} of ${n}: ${Math.round(perS)}/s ` +
        `(preload ${Math.round(n / (preload.elapsedMs / 1000))}/s; ${JSON.stringify(checks)}` +
        (system.lag ? `; read model complete ${Math.round(catchUpMs)} ms after the last completion)` : ")"),
    );

    if (settings.memory) {
      const afterDrain = await system.memory();
      // (f): and once the finished tasks have moved to the archive.
      const archiving = await system.archiveAll?.(Math.max(180_000, n * 2));
      const archived = archiving ? { ...archiving, report: await system.memory() } : null;
      const target = settings.memory.extrapolateTo;
      results.memory.set(system.name, {
        tasks: n,
        extrapolatedTo: target > n ? target : null,
        afterDrain,
        queued,
        archived,
        roleRssQueued,
        workerRss,
      });
    }
  } finally {
    await group?.stop();
    await system.teardown();
  }
}

/**
 * What Redis did per task over the drain: calls and µs per command (commands run by scripts are
 * counted too, and their time is inside the script's), client socket reads (≈ round trips), bytes.
 */
function recordRedisWork(
  results: Results,
  key: string,
  before: RedisCounters,
  after: RedisCounters,
  n: number,
) {
  for (const [command, { calls, usec }] of after.commands) {
    const was = before.commands.get(command) ?? { calls: 0, usec: 0 };
    if (calls - was.calls < n / 100) continue;
    results.record(`${key}.redisCalls.${command}`, (calls - was.calls) / n);
    results.record(`${key}.redisUs.${command}`, (usec - was.usec) / n);
  }
  results.record(`${key}.redisReadsPerTask`, (after.reads - before.reads) / n);
  results.record(`${key}.redisBytesInPerTask`, (after.netIn - before.netIn) / n);
  results.record(`${key}.redisBytesOutPerTask`, (after.netOut - before.netOut) / n);
}
