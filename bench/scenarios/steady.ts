import { cpuSnapshot } from "../cpu.ts";
import { Producer, WorkerGroup } from "../fleet.ts";
import type { Results } from "../results.ts";
import { summarize } from "../stats.ts";
import type { SystemUnderTest } from "../system.ts";

export interface SteadySettings {
  rates: number[];
  seconds: number;
  warmupSeconds: number;
  workers: number;
  slots: number;
  priorities: boolean;
  maxInFlight: number;
}

export function steadyTag(priorities: boolean): string {
  return priorities ? "prio" : "fifo";
}

/**
 * (c)/(d)/(e) Steady state: W × C workers running, one producer offering a fixed rate of single-task
 * submissions (open loop) for `seconds` at each rate in turn. Every task carries its submission
 * time; the workers measure submit → handler entry and submit → completion recorded. For Taskstream
 * the projection lag over the same interval comes from the lag probe and the projector's histogram.
 */
export async function steadyScenario(
  system: SystemUnderTest,
  settings: SteadySettings,
  results: Results,
): Promise<void> {
  await system.setup();
  let producer: Producer | null = null;
  let group: WorkerGroup | null = null;
  try {
    producer = await Producer.start(system);
    group = await WorkerGroup.start(system, settings.workers, settings.slots);
    group.go();
    const offer = async (rate: number, seconds: number) => {
      const before = group!.completed;
      const sent = await producer!.run({
        kind: "rate",
        rate,
        seconds,
        transport: system.steadyTransport,
        priorities: settings.priorities,
        maxInFlight: settings.maxInFlight,
      });
      // A system that cannot keep up works off its backlog here (bounded: at least 500 tasks/s).
      const bound = 60_000 + sent.submitted * 2;
      const done = await group!.waitCompleted(before + sent.submitted, bound);
      if (!done)
        throw new Error(`${system.name} at ${rate}/s: not every task completed within ${bound / 1000} s`);
      return sent;
    };
    if (settings.warmupSeconds > 0) {
      await offer(Math.min(1000, settings.rates[0] ?? 1000), settings.warmupSeconds);
      await system.settle(60_000);
      await group.collect();
    }
    for (const rate of settings.rates) {
      const key = `steady.${system.name}.${steadyTag(settings.priorities)}.${rate}`;
      await system.lag?.begin();
      const pids = {
        ...system.processIds(),
        workers: group.children.flatMap((c) => (c.pid ? [c.pid] : [])),
        producer: producer.child.pid ? [producer.child.pid] : [],
      };
      const cpuBefore = await cpuSnapshot(system.admin, pids);
      const sent = await offer(rate, settings.seconds);
      const settled = await system.settle(60_000);
      const cpuAfter = await cpuSnapshot(system.admin, pids);
      let attributed = 0;
      for (const [role, ms] of Object.entries(cpuAfter)) {
        if (role.startsWith("machine") || role.startsWith("syscalls ")) continue;
        const us = ((ms - (cpuBefore[role] ?? 0)) * 1000) / Math.max(1, sent.submitted);
        attributed += us;
        results.record(`${key}.cpuUsPerTask.${role}`, us);
      }
      results.record(`${key}.cpuUsPerTask.total`, attributed);
      const busy = cpuAfter["machine busy"]! - cpuBefore["machine busy"]!;
      results.record(
        `${key}.machineBusyPct`,
        (100 * busy) / (cpuAfter["machine total"]! - cpuBefore["machine total"]!),
      );
      if (!settled.caughtUp) results.note(`${key}: projection had not caught up 60 s after the last task`);
      const lag = await system.lag?.end();
      const { start, complete } = await group.collect();
      const startLatency = summarize(start);
      const completeLatency = summarize(complete);
      const achieved = sent.submitted / Math.max(settings.seconds, sent.sendSpanMs / 1000);
      results.record(`${key}.offeredPerS`, achieved);
      results.record(`${key}.lateSendPct`, (100 * sent.late) / Math.max(1, sent.submitted));
      results.record(`${key}.startP50Ms`, startLatency.p50);
      results.record(`${key}.startP99Ms`, startLatency.p99);
      results.record(`${key}.startMaxMs`, startLatency.max);
      results.record(`${key}.completeP50Ms`, completeLatency.p50);
      results.record(`${key}.completeP99Ms`, completeLatency.p99);
      results.record(`${key}.submitCallP99Ms`, summarize(sent.callLatency).p99);
      if (sent.late > sent.submitted / 100 || sent.errors > 0)
        results.note(
          `${key}: ${sent.late} of ${sent.submitted} sends were more than 10 ms late ` +
            `(the producer could not keep the pace; achieved ${Math.round(achieved)}/s), ${sent.errors} errors`,
        );
      if (lag) {
        results.record(`${key}.lagP50Ms`, lag.probe.p50);
        results.record(`${key}.lagP99Ms`, lag.probe.p99);
        results.record(`${key}.lagMaxMs`, lag.probe.max);
        results.record(`${key}.lagHistP50Ms`, lag.histogram.p50);
        results.record(`${key}.lagHistP99Ms`, lag.histogram.p99);
      }
      console.error(
        `bench: ${system.name} ${steadyTag(settings.priorities)} ${rate}/s: achieved ${Math.round(achieved)}/s, ` +
          `start p50 ${startLatency.p50.toFixed(2)} p99 ${startLatency.p99.toFixed(2)} ms, ` +
          `complete p50 ${completeLatency.p50.toFixed(2)} p99 ${completeLatency.p99.toFixed(2)} ms` +
          (lag ? `, projection lag p50 ${lag.probe.p50.toFixed(0)} p99 ${lag.probe.p99.toFixed(0)} ms` : ""),
      );
    }
  } finally {
    await producer?.stop();
    await group?.stop();
    await system.teardown();
  }
}
