import type { Machine } from "./machine.ts";
import type { BenchOptions, WorkerShape } from "./options.ts";
import type { Results } from "./results.ts";
import type { MemoryReport } from "./system.ts";
import { drainTag } from "./scenarios/drain.ts";
import { steadyTag } from "./scenarios/steady.ts";
import { formatAgg, formatNumber, type Agg } from "./stats.ts";
import { targets, type Summary } from "./summary.ts";

export const table = (header: string[], rows: string[][]) =>
  [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

const ratio = (a: Agg | undefined, b: Agg | undefined, digits = 2) =>
  a && b && a.n > 0 && b.n > 0 ? formatNumber(a.median / b.median, digits) : "–";

export const mib = (bytes: number) => `${formatNumber(bytes / 2 ** 20, 1)} MiB`;

function submissionSection(results: Results): string {
  const variants: [string, string, string][] = [
    ["Taskstream", "REST `POST /v1/tasks`", "taskstream.REST.single"],
    ["Taskstream", "REST `POST /v1/tasks/batch` (100)", "taskstream.REST.batch100"],
    ["Taskstream", "gRPC SDK `submit()` (coalesced)", "taskstream.gRPC.single"],
    ["Taskstream", "gRPC `SubmitTasks` (100)", "taskstream.gRPC.batch100"],
    ["BullMQ", "`Queue.add`", "bullmq.client.single"],
    ["BullMQ", "`Queue.addBulk` (100)", "bullmq.client.batch100"],
  ];
  const bullSingle = results.agg("submit.bullmq.client.single.perS");
  const bullBatch = results.agg("submit.bullmq.client.batch100.perS");
  const rows = variants.map(([system, call, key]) => {
    const perS = results.agg(`submit.${key}.perS`);
    const versus =
      system === "BullMQ" ? "1.00" : ratio(perS, key.endsWith("single") ? bullSingle : bullBatch);
    return [
      system,
      call,
      formatAgg(perS),
      versus,
      formatAgg(results.agg(`submit.${key}.callP50Ms`), 2),
      formatAgg(results.agg(`submit.${key}.callP99Ms`), 2),
    ];
  });
  return table(["system", "call", "tasks/s", "÷ BullMQ (same kind)", "call p50 ms", "call p99 ms"], rows);
}

function drainSection(results: Results, options: BenchOptions, shapes: WorkerShape[], priorities: boolean) {
  const rows = shapes.map((shape) => {
    const tag = drainTag({ ...shape, priorities });
    const ts = results.agg(`drain.taskstream.${tag}.perS`);
    const bull = results.agg(`drain.bullmq.${tag}.perS`);
    return [
      `${shape.workers} × ${shape.slots}`,
      formatAgg(ts),
      formatAgg(bull),
      ratio(ts, bull, 3),
      formatAgg(results.agg(`drain.taskstream.${tag}.preloadPerS`)),
      formatAgg(results.agg(`drain.bullmq.${tag}.preloadPerS`)),
      formatAgg(results.agg(`drain.taskstream.${tag}.firstStartMs`), 1),
      formatAgg(results.agg(`drain.bullmq.${tag}.firstStartMs`), 1),
      formatAgg(results.agg(`drain.taskstream.${tag}.projectionCatchUpMs`)),
      formatAgg(results.agg(`drain.taskstream.${tag}.eventsPerProjectionBatch`), 1),
    ];
  });
  return table(
    [
      "W × C",
      "Taskstream tasks/s",
      "BullMQ jobs/s",
      "ratio",
      "TS preload/s (REST batch 1000)",
      "BullMQ preload/s (addBulk 1000)",
      "TS first start ms",
      "BullMQ first start ms",
      "TS read model complete, ms after last completion",
      "TS events per projection batch",
    ],
    rows,
  ).concat(`\n\n${formatNumber(options.drainTasks)} tasks per drain.`);
}

const CPU_ROLES = [
  "producer",
  "api",
  "dispatcher",
  "projector",
  "all",
  "workers",
  "redis",
  "postgres",
  "total",
];

/** CPU per task by process over one steady-state interval (submission to last completion). */
function steadyCpuSection(results: Results, rate: number): string {
  const base = (system: string) => `steady.${system}.fifo.${rate}.`;
  const cell = (system: string, role: string) =>
    formatAgg(results.agg(`${base(system)}cpuUsPerTask.${role}`));
  const rows = CPU_ROLES.filter(
    (role) =>
      results.agg(`${base("taskstream")}cpuUsPerTask.${role}`) ||
      results.agg(`${base("bullmq")}cpuUsPerTask.${role}`),
  ).map((role) => [role === "total" ? "**total**" : role, cell("taskstream", role), cell("bullmq", role)]);
  rows.push([
    "machine busy",
    `${formatAgg(results.agg(`${base("taskstream")}machineBusyPct`))} %`,
    `${formatAgg(results.agg(`${base("bullmq")}machineBusyPct`))} %`,
  ]);
  return (
    `CPU per task at ${formatNumber(rate)}/s offered, from the first submission until the read model had every event ` +
    "(the producer's single-task calls included):\n\n" +
    table(["process", "Taskstream µs/task", "BullMQ µs/task"], rows)
  );
}

function cpuSection(results: Results, options: BenchOptions): string {
  const tag = drainTag({ ...options.shape, priorities: false });
  const cell = (system: string, role: string) =>
    formatAgg(results.agg(`drain.${system}.${tag}.cpuUsPerTask.${role}`));
  const syscalls = (system: string, role: string) =>
    formatAgg(results.agg(`drain.${system}.${tag}.syscallsPerTask.${role}`), 1);
  const rows = CPU_ROLES.filter(
    (role) =>
      results.agg(`drain.taskstream.${tag}.cpuUsPerTask.${role}`) ||
      results.agg(`drain.bullmq.${tag}.cpuUsPerTask.${role}`),
  ).map((role) => [
    role === "total" ? "**total**" : role,
    cell("taskstream", role),
    syscalls("taskstream", role),
    cell("bullmq", role),
    syscalls("bullmq", role),
  ]);
  rows.push([
    "machine busy during the drain",
    `${formatAgg(results.agg(`drain.taskstream.${tag}.machineBusyPct`))} %`,
    "",
    `${formatAgg(results.agg(`drain.bullmq.${tag}.machineBusyPct`))} %`,
    "",
  ]);
  return (
    `CPU time per task during the ${options.shape.workers} × ${options.shape.slots} drain, by process (µs; /proc/<pid>/stat, ` +
    "Redis INFO cpu, every `postgres` process), and read/write system calls per task (/proc/<pid>/io):\n\n" +
    table(
      ["process", "Taskstream µs/task", "TS syscalls/task", "BullMQ µs/task", "BullMQ syscalls/task"],
      rows,
    )
  );
}

function redisSection(results: Results, options: BenchOptions): string {
  const tag = drainTag({ ...options.shape, priorities: false });
  const base = (system: string) => `drain.${system}.${tag}.`;
  const commands = new Set<string>();
  for (const system of ["taskstream", "bullmq"])
    for (const key of results.keysUnder(`${base(system)}redisCalls.`))
      commands.add(key.slice(`${base(system)}redisCalls.`.length));
  const cell = (system: string, figure: string, digits: number) =>
    formatAgg(results.agg(`${base(system)}${figure}`), digits);
  const rows = [...commands]
    .sort()
    .map((command) => [
      `\`${command}\``,
      cell("taskstream", `redisCalls.${command}`, 2),
      cell("taskstream", `redisUs.${command}`, 1),
      cell("bullmq", `redisCalls.${command}`, 2),
      cell("bullmq", `redisUs.${command}`, 1),
    ]);
  rows.push(
    [
      "client socket reads (≈ round trips)",
      cell("taskstream", "redisReadsPerTask", 2),
      "",
      cell("bullmq", "redisReadsPerTask", 2),
      "",
    ],
    [
      "bytes received by Redis",
      cell("taskstream", "redisBytesInPerTask", 0),
      "",
      cell("bullmq", "redisBytesInPerTask", 0),
      "",
    ],
    [
      "bytes sent by Redis",
      cell("taskstream", "redisBytesOutPerTask", 0),
      "",
      cell("bullmq", "redisBytesOutPerTask", 0),
      "",
    ],
  );
  return (
    "Redis work per task during the same drain (INFO commandstats/stats deltas; commands that scripts " +
    "run are counted too, and their time is part of the script's `evalsha` time):\n\n" +
    table(
      ["command", "Taskstream calls/task", "Taskstream µs/task", "BullMQ calls/task", "BullMQ µs/task"],
      rows,
    )
  );
}

function steadySection(results: Results, rates: number[], priorities: boolean): string {
  const tag = steadyTag(priorities);
  const rows: string[][] = [];
  for (const rate of rates) {
    for (const [system, name] of [
      ["taskstream", "Taskstream"],
      ["bullmq", "BullMQ"],
    ] as const) {
      const a = (figure: string, digits = 2) =>
        formatAgg(results.agg(`steady.${system}.${tag}.${rate}.${figure}`), digits);
      rows.push([
        formatNumber(rate),
        name,
        a("offeredPerS", 0),
        a("startP50Ms"),
        a("startP99Ms"),
        a("startMaxMs", 1),
        a("completeP50Ms"),
        a("completeP99Ms"),
        a("lateSendPct", 0),
      ]);
    }
    const p99 = (system: string) => results.agg(`steady.${system}.${tag}.${rate}.startP99Ms`);
    rows.push([
      formatNumber(rate),
      "**ratio TS ÷ BullMQ**",
      "",
      "",
      `**${ratio(p99("taskstream"), p99("bullmq"))}**`,
      "",
      "",
      "",
      "",
    ]);
  }
  return table(
    [
      "offered/s",
      "system",
      "achieved/s",
      "start p50 ms",
      "start p99 ms",
      "start max ms",
      "complete p50 ms",
      "complete p99 ms",
      "sends > 10 ms late, %",
    ],
    rows,
  );
}

function lagSection(results: Results, rates: number[]): string {
  const rows = rates.map((rate) => {
    const a = (figure: string) => formatAgg(results.agg(`steady.taskstream.fifo.${rate}.${figure}`), 1);
    return [
      formatNumber(rate),
      a("lagP50Ms"),
      a("lagP99Ms"),
      a("lagMaxMs"),
      a("lagHistP50Ms"),
      a("lagHistP99Ms"),
    ];
  });
  return table(
    [
      "offered/s",
      "probe p50 ms",
      "probe p99 ms",
      "probe max ms",
      "histogram p50 ms (per batch)",
      "histogram p99 ms (per batch)",
    ],
    rows,
  );
}

function memorySection(results: Results, options: BenchOptions): string {
  const parts: string[] = [];
  for (const [system, memory] of results.memory) {
    const { afterDrain, tasks } = memory;
    const name = system === "taskstream" ? "Taskstream" : "BullMQ";
    const scale = memory.extrapolatedTo ?? tasks;
    const stages: [string, MemoryReport][] = [
      ...(memory.queued ? [["live: all queued, none run", memory.queued] as [string, MemoryReport]] : []),
      ["finished: after the drain", afterDrain],
      ...(memory.archived
        ? [["finished and archived", memory.archived.report] as [string, MemoryReport]]
        : []),
    ];
    const kinds = [...new Set(stages.flatMap(([, report]) => [...report.classes.keys()]))];
    const perTask = (bytes: number) => formatNumber(bytes / tasks, 0);
    const rows = kinds.map((kind) => [
      kind,
      ...stages.map(([, report]) => {
        const c = report.classes.get(kind);
        return c ? `${perTask(c.bytes)} (${formatNumber(c.keys)} keys)` : "–";
      }),
    ]);
    rows.push([
      "**total (MEMORY USAGE)**",
      ...stages.map(([, report]) => `**${perTask(report.totalBytes)}**`),
    ]);
    rows.push([
      `total for ${formatNumber(scale)} tasks`,
      ...stages.map(([, report]) => mib((report.totalBytes / tasks) * scale)),
    ]);
    rows.push([
      "used_memory delta (cross-check)",
      ...stages.map(([, report]) => perTask(report.usedMemoryDelta)),
    ]);
    rows.push([
      "stream entries per task",
      ...stages.map(([, report]) => formatNumber(report.streamEntries / tasks, 2)),
    ]);
    const measured = memory.extrapolatedTo
      ? `measured with ${formatNumber(tasks)} tasks, totals scaled linearly to ${formatNumber(scale)}`
      : `measured with ${formatNumber(tasks)} tasks`;
    const archiving = memory.archived
      ? ` Archiving them all took ${formatNumber(memory.archived.ms / 1000, 1)} s` +
        (memory.archived.streamEntriesLeft > 0
          ? ` and left ${formatNumber(memory.archived.streamEntriesLeft)} stream entries.`
          : ".")
      : "";
    parts.push(
      `**${name}** — ${measured}; Redis bytes per task by kind of key.${archiving}\n\n` +
        table(["keys", ...stages.map(([stage]) => stage)], rows),
    );
    const rss = [
      ...Object.entries(memory.roleRssQueued).map(([role, bytes]) => [
        `${role}, before the drain (${formatNumber(tasks)} tasks queued)`,
        mib(bytes),
      ]),
      ...Object.entries(afterDrain.roleRss).map(([role, bytes]) => [`${role}, after the drain`, mib(bytes)]),
      ...memory.workerRss.map((bytes, i) => [`worker ${i}, end of the drain`, mib(bytes)]),
    ];
    if (rss.length > 0) parts.push(table(["process (role)", "RSS"], rss));
    const sampled = memory.queued?.entrySizes ?? afterDrain.entrySizes;
    if (sampled)
      parts.push(
        "Sampled stream entries (partition 0):\n\n" +
          table(
            [
              "event",
              "entries sampled",
              "field bytes per entry (task, v, type, data)",
              "of which `data` JSON",
            ],
            Object.entries(sampled).map(([type, size]) => [
              type,
              formatNumber(size.count),
              formatNumber(size.fieldBytes),
              formatNumber(size.dataBytes),
            ]),
          ),
      );
  }
  if (results.memory.has("taskstream"))
    parts.push(
      [
        "Where Taskstream's bytes go: a live task is its TaskSubmitted entry in its partition's stream (the",
        "spec without the fields equal to their defaults), its field in one of the partition's 4,096 index",
        "hashes (the delta-coded ids of its events), and its share of the leader's gzip snapshot. Running it",
        "adds three entries (TaskAssigned, TaskStarted, TaskSucceeded) and their ids. Finished tasks stay in",
        "Redis for the retention period (`TASKSTREAM_RETENTION_MS`, 7 days) and then move to the PostgreSQL",
        "archive: their entries are deleted and their index fields removed (docs/retention-and-archive.md),",
        "so what remains per finished task is nothing. BullMQ keeps a hash per completed job and an entry in",
        "the completed sorted set (default job options), with its events stream capped (~10,000 entries).",
      ].join("\n"),
    );
  if (parts.length === 0) return "Not measured in this run.";
  void options;
  return parts.join("\n\n");
}

export function renderResults(input: {
  results: Results;
  options: BenchOptions;
  machine: Machine;
  summary: Summary;
  startedAt: Date;
  elapsedS: number;
}): string {
  const { results, options, machine, summary, startedAt, elapsedS } = input;
  const shapes = [options.shape, ...options.extraDrainShapes];
  const runs = options.runs > 1 ? `${options.runs} runs: median [min–max]` : "1 run";
  const sections = [
    "# Benchmarks: Taskstream side by side with BullMQ",
    `Generated by \`${options.quick ? "npm run bench -- --quick" : "npm run bench"}\` (bench/runner.ts) on ` +
      `${startedAt.toISOString()} in ${formatNumber(elapsedS)} s; ${runs}. Regenerated by every run — do not edit.`,
    "## Machine",
    table(
      ["", ""],
      Object.entries(machine).map(([k, v]) => [k, v]),
    ),
    "## Headline and targets",
    "```json\n" + JSON.stringify(summary) + "\n```",
    table(
      ["target", "measured", "met"],
      targets(summary).map((t) => [t.target, t.measured, t.met === null ? "–" : t.met ? "yes" : "**no**"]),
    ),
    "## How it is measured",
    [
      `- Both systems run on the same Redis (loopback, AOF appendfsync always), with the same payload`,
      '  (`{"t": <submit time>}`, a no-op handler returning null), the same worker processes × slots',
      `  (headline ${options.shape.workers} × ${options.shape.slots}) and the same producer process design; systems alternate`,
      "  which goes first in each run. Every process (servers, workers, producer, Redis, PostgreSQL)",
      "  shares the machine's cores, as in the issue's BullMQ figures.",
      `- Taskstream runs as real \`taskstream serve\` processes (layout \`${options.layout}\`: api | dispatcher |`,
      "  projector+read-api), log level warn, 8 partitions, its own key prefix per scenario, projecting into",
      "  a `taskstream_bench` database that is emptied before each scenario. Workers are the TypeScript SDK.",
      "  BullMQ uses default job options (completed jobs are kept).",
      "- Drain: N tasks are preloaded with no worker connected (Taskstream: REST batches of 1,000, and the",
      "  projector is let catch up with the submissions), then all workers start at once; the rate is",
      "  N ÷ (last completion − start). Completion = Taskstream's ack to the worker (TaskSucceeded appended)",
      "  / BullMQ's `completed` event (moveToCompleted done). Confirmed afterwards from the read model and",
      "  the log (Taskstream) or the completed set (BullMQ).",
      "- Steady state: one producer process offers single-task calls (Taskstream: the SDK client's",
      "  `submit()` over gRPC, which coalesces calls made while earlier ones are in flight into",
      "  `SubmitTasks`; BullMQ: `Queue.add`) in an open loop at the given rate; each task carries its",
      "  send time; start = handler entry − send time, complete = completion recorded − send time.",
      "  Latency counts from the actual send: when the machine is saturated the producer itself falls",
      "  behind its schedule (column `late`), which hides part of the queueing — read it with `achieved/s`.",
      `  ${options.seconds} s per rate after a ${options.warmupSeconds} s warm-up whose samples are discarded.`,
      "- Projection lag (Taskstream): a probe subscribes to the projector's `task-updates` channel, which",
      "  carries each changed row after its transaction commits; for every row that reached SUCCEEDED,",
      "  lag = arrival − the time in its TaskSucceeded stream id. Cross-check: the projector's",
      "  `taskstream_projection_lag_seconds` histogram (one observation per batch: the newest event's age",
      "  at commit), p50/p99 interpolated from the bucket deltas over the interval.",
      "- Memory: `MEMORY USAGE … SAMPLES 0` summed over each system's keys (exact, unaffected by other",
      "  users of the shared Redis) ÷ tasks; `used_memory` before/after as a cross-check; RSS from",
      "  /proc/<pid>/status.",
    ].join("\n"),
    "## (a) Submission throughput",
    `Closed loop for ${options.submitSeconds} s: 64 single-task calls in flight, or 4 calls of 100 tasks; no worker connected. REST single calls are one request each; the gRPC SDK's \`submit()\` coalesces calls made while earlier ones are in flight into SubmitTasks (each task still validated and answered on its own).\n\n` +
      submissionSection(results),
    "## (b) Drain",
    drainSection(results, options, shapes, false),
    cpuSection(results, options),
    redisSection(results, options),
    "## (c) Steady state: submit → start and submit → complete",
    steadySection(results, options.rates, false),
    options.rates.includes(2000) ? steadyCpuSection(results, 2000) : "",
    "## (d) Projection lag under (c)",
    lagSection(results, options.rates),
    "## (e) Random priorities (0–9; BullMQ priority 10 − p)",
    drainSection(results, options, [options.shape], true),
    steadySection(results, options.priorityRates, true),
    "## (f) Redis memory per live, finished and archived task, and RSS per role",
    memorySection(results, options),
    "## Notes",
    results.notes.length > 0
      ? results.notes.map((n) => `- ${n}`).join("\n")
      : "None: every drain was confirmed.",
    "## Profiling",
    [
      "`bash bench/run.sh --only drain --systems taskstream --cpu-prof` runs the drain with `--cpu-prof` on",
      "every Taskstream server and worker process (profiles under `bench/out/profiles/`, not committed);",
      "`node bench/profile-summary.ts bench/out/profiles/<run>` prints the top self-time functions per role.",
    ].join("\n"),
  ];
  return sections.join("\n\n") + "\n";
}
