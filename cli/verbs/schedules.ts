import { details, table } from "../output/table.ts";
import { UsageError, type Verb, type VerbContext } from "../verb.ts";

/** Recurring schedules over GraphQL: create, list, pause, resume, delete. */

interface Schedule {
  id: string;
  cron: string;
  timeZone: string;
  status: string;
  catchUp: string;
  task: { type?: string } & Record<string, unknown>;
  lastFiredAt: string | null;
  nextFireAt: string | null;
  firingCount: number;
  createdAt: string;
}

const FIELDS = "id cron timeZone status catchUp task lastFiredAt nextFireAt firingCount createdAt";
const STATUSES = ["ACTIVE", "PAUSED", "DELETED"] as const;

const scheduleDetails = (s: Schedule) =>
  details([
    ["id", s.id],
    ["cron", `${s.cron} (${s.timeZone})`],
    ["status", s.status],
    ["task", s.task],
    ["catch-up", s.catchUp],
    ["next firing", s.nextFireAt],
    ["last firing", s.lastFiredAt],
    ["firings", s.firingCount],
    ["created", s.createdAt],
  ]);

export const create: Verb = {
  name: "schedules create",
  summary: "Create an active schedule that submits a task of TYPE at each fire time of a cron expression.",
  args: ["TYPE"],
  client: true,
  flags: {
    cron: {
      type: "string",
      value: "EXPR",
      help: 'required: 5 fields, or 6 with seconds first, e.g. "0 9 * * MON-FRI"',
    },
    tz: { type: "string", value: "ZONE", help: "IANA time zone the cron fields are read in (default UTC)" },
    payload: { type: "string", value: "JSON", help: "each task's input" },
    priority: { type: "string", value: "N", help: "each task's priority, 0-9" },
    task: { type: "string", value: "JSON", help: "more of the submission (requires, metadata, retry, …)" },
    "catch-up": { type: "string", value: "POLICY", help: "missed firings: LATEST (default), ALL or NONE" },
  },
  examples: [
    `taskstream schedules create report --cron "0 9 * * MON-FRI" --tz Europe/Paris --payload '{"kind":"daily"}'`,
  ],
  async run(c) {
    const type = c.arg(0, "TYPE");
    const cron = c.string("cron");
    if (cron === undefined) throw new UsageError("--cron is required");
    const extra = c.jsonValue("task");
    if (extra !== undefined && (typeof extra !== "object" || extra === null || Array.isArray(extra)))
      throw new UsageError("--task: must be a JSON object");
    const task: Record<string, unknown> = { ...extra, type };
    if (c.string("payload") !== undefined) task.payload = c.jsonValue("payload");
    const priority = c.int("priority", 0, 9);
    if (priority !== undefined) task.priority = priority;
    const input: Record<string, unknown> = { cron, task };
    if (c.string("tz") !== undefined) input.timeZone = c.string("tz");
    const catchUp = c.choice("catch-up", ["LATEST", "ALL", "NONE"]);
    if (catchUp !== undefined) input.catchUp = catchUp;
    const { createSchedule } = await c.api.graphql<{ createSchedule: Schedule }>(
      `mutation($input: ScheduleInput!) { createSchedule(input: $input) { ${FIELDS} } }`,
      { input },
    );
    c.print(() => scheduleDetails(createSchedule), createSchedule);
  },
};

export const list: Verb = {
  name: "schedules list",
  summary: "Schedules in creation order (every one not deleted, unless --status says which).",
  client: true,
  flags: {
    status: { type: "string", value: "STATUS", help: `only this status (${STATUSES.join(", ")})` },
    first: { type: "string", value: "N", help: "at most N, 1-500 (default 50)" },
    after: {
      type: "string",
      value: "CURSOR",
      help: "the page after this cursor (printed when there are more)",
    },
  },
  examples: ["taskstream schedules list --status PAUSED"],
  async run(c) {
    const { schedules } = await c.api.graphql<{
      schedules: {
        edges: { node: Schedule }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      };
    }>(
      `query($status: ScheduleStatus, $first: Int, $after: String) {
        schedules(status: $status, first: $first, after: $after) { edges { node { ${FIELDS} } } pageInfo { hasNextPage endCursor } }
      }`,
      { status: c.choice("status", STATUSES), first: c.int("first", 1, 500) ?? 50, after: c.string("after") },
    );
    const rows = schedules.edges.map((e) => e.node);
    c.print(
      () =>
        table(
          rows,
          [
            { header: "ID", value: (s) => s.id },
            { header: "CRON", value: (s) => s.cron },
            { header: "TZ", value: (s) => s.timeZone },
            { header: "TYPE", value: (s) => s.task.type },
            { header: "STATUS", value: (s) => s.status },
            { header: "NEXT", value: (s) => s.nextFireAt },
            { header: "FIRINGS", value: (s) => s.firingCount, right: true },
          ],
          "(no schedules)",
        ) + (schedules.pageInfo.hasNextPage ? `\n(more: --after ${schedules.pageInfo.endCursor})` : ""),
      { schedules: rows, ...schedules.pageInfo },
    );
  },
};

/** pause / resume / delete: one mutation on one schedule, printing what it became. */
function change(verb: "pause" | "resume" | "delete", summary: string): Verb {
  const mutation = `${verb}Schedule`;
  return {
    name: `schedules ${verb}`,
    summary,
    args: ["ID"],
    client: true,
    flags: {},
    examples: [`taskstream schedules ${verb} 0193a0c2-7f1e-7b4a-9c1d-2f0e5a6b7c8d`],
    async run(c: VerbContext) {
      const data = await c.api.graphql<Record<string, Schedule>>(
        `mutation($id: ID!) { ${mutation}(id: $id) { ${FIELDS} } }`,
        { id: c.arg(0, "ID") },
      );
      const schedule = data[mutation]!;
      c.print(
        () =>
          `${schedule.id} ${schedule.status}${schedule.nextFireAt ? ` (next firing ${schedule.nextFireAt})` : ""}`,
        schedule,
      );
    },
  };
}

export const pause = change("pause", "Stop a schedule firing until resumed.");
export const resume = change(
  "resume",
  "Fire a paused schedule again from now on (firings missed while paused are not fired).",
);
export const remove = change("delete", "Delete a schedule for good (it stays readable, DELETED).");
