import { setTimeout as sleep } from "node:timers/promises";
import {
  randomPriority,
  type BenchPayload,
  type FromProducer,
  type ProducerConfig,
  type ProducerJob,
  type ProducerResult,
  type Transport,
} from "./protocol.ts";
import { now } from "./stats.ts";

/** One task to submit: the no-op payload and, with random priorities, a priority 0–9. */
export interface BenchTask {
  payload: BenchPayload;
  priority: number | undefined;
}

/** How a system's client submits: one task per call, or a batch per call. */
export interface Submitter {
  one(task: BenchTask): Promise<void>;
  many(tasks: BenchTask[]): Promise<void>;
  close(): Promise<void>;
}

const task = (priorities: boolean): BenchTask => ({
  payload: { t: now() },
  priority: priorities ? randomPriority() : undefined,
});

/** Counts calls, errors and per-call latency of one job. */
class Tally {
  submitted = 0;
  errors = 0;
  firstError = "";
  late = 0;
  sendSpanMs = 0;
  readonly latency: number[] = [];

  async call(size: number, work: () => Promise<void>): Promise<void> {
    const sent = now();
    try {
      await work();
      this.submitted += size;
      this.latency.push(now() - sent);
    } catch (error) {
      this.errors++;
      this.firstError ||= error instanceof Error ? error.message : String(error);
    }
  }

  result(elapsedMs: number): ProducerResult {
    const { submitted, errors, firstError, late, sendSpanMs } = this;
    return {
      kind: "result",
      submitted,
      errors,
      firstError,
      late,
      sendSpanMs,
      elapsedMs,
      callLatency: Float64Array.from(this.latency),
    };
  }
}

async function preload(submitter: Submitter, job: Extract<ProducerJob, { kind: "preload" }>, tally: Tally) {
  let next = 0;
  const lane = async () => {
    while (next < job.count) {
      const size = Math.min(job.batch, job.count - next);
      next += size;
      const tasks = Array.from({ length: size }, () => task(job.priorities));
      await tally.call(size, () => (size === 1 ? submitter.one(tasks[0]!) : submitter.many(tasks)));
      if (tally.errors > 100) return;
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
}

async function throughput(
  submitter: Submitter,
  job: Extract<ProducerJob, { kind: "throughput" }>,
  tally: Tally,
) {
  const until = now() + job.seconds * 1000;
  const lane = async () => {
    while (now() < until && tally.errors <= 100) {
      if (job.batch === 1) await tally.call(1, () => submitter.one(task(job.priorities)));
      else {
        const tasks = Array.from({ length: job.batch }, () => task(job.priorities));
        await tally.call(job.batch, () => submitter.many(tasks));
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
}

/**
 * Open loop: the number of tasks due is computed from the clock every millisecond or so, and each is
 * sent at once as its own call, stamped with the time it is sent; slow answers do not slow the
 * offered rate, up to `maxInFlight` outstanding calls. Sends more than 10 ms behind their schedule
 * are counted as late (the producer, or the system under test, could not keep the pace).
 */
async function rate(submitter: Submitter, job: Extract<ProducerJob, { kind: "rate" }>, tally: Tally) {
  const total = Math.round(job.rate * job.seconds);
  const start = now();
  const deadline = start + job.seconds * 1000 + 30_000;
  let sent = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  while (sent < total && now() < deadline) {
    const due = Math.min(total, Math.floor(((now() - start) / 1000) * job.rate));
    while (sent < due && inFlight < job.maxInFlight) {
      if (now() - (start + (sent / job.rate) * 1000) > 10) tally.late++;
      sent++;
      inFlight++;
      const call = tally
        .call(1, () => submitter.one(task(job.priorities)))
        .finally(() => {
          inFlight--;
          pending.delete(call);
        });
      pending.add(call);
    }
    await sleep(1);
  }
  tally.sendSpanMs = now() - start;
  await Promise.all(pending);
}

/** The body of a producer process: runs the jobs the runner sends, one at a time, until disconnected. */
export async function runProducerProcess(
  create: (config: ProducerConfig, transport: Transport) => Submitter,
): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as ProducerConfig;
  const send = (message: FromProducer) => process.send?.(message);
  const submitters = new Map<Transport, Submitter>();
  const submitterFor = (transport: Transport) => {
    let submitter = submitters.get(transport);
    if (!submitter) submitters.set(transport, (submitter = create(config, transport)));
    return submitter;
  };
  process.on("disconnect", () => {
    void Promise.allSettled([...submitters.values()].map((s) => s.close())).then(() => process.exit(0));
  });
  process.on("message", (job: ProducerJob) => {
    const tally = new Tally();
    const started = now();
    const submitter = submitterFor(job.transport);
    const work =
      job.kind === "preload"
        ? preload(submitter, job, tally)
        : job.kind === "throughput"
          ? throughput(submitter, job, tally)
          : rate(submitter, job, tally);
    work.then(
      () => send(tally.result(now() - started)),
      (error: unknown) => send({ kind: "error", message: String(error) }),
    );
  });
  send({ kind: "ready" });
}
