import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { withSubmissionSpan } from "../../observability/trace-context.ts";
import type { TaskCommands } from "../task-commands.ts";
import { submissionSchema } from "../validation/task-spec.ts";
import { parseOrFail } from "../validation/parse.ts";
import { documented } from "./openapi/route-docs.ts";
import {
  batchResult,
  errorBody,
  history,
  notFound,
  refusals,
  submitResult,
  task,
} from "./openapi/responses.ts";

const idParams = { type: "object", properties: { id: { type: "string" } }, required: ["id"] } as const;

const BATCH_SIZE = "must be an array of 1 to 1000 tasks";
const tasksArray = (entry: z.ZodType) =>
  z.array(entry, { error: BATCH_SIZE }).min(1, { error: BATCH_SIZE }).max(1000, { error: BATCH_SIZE });
/** `POST /v1/tasks/batch` as documented: each entry a submission. */
const batchBody = z.object({ tasks: tasksArray(submissionSchema) });
/** Checked first; the entries are then judged by the submission rules, named `tasks[i].…`. */
const batchShape = z.object({ tasks: tasksArray(z.unknown()) });
const cancelBody = z.object({ reason: z.string({ error: "must be a string" }).optional() }).optional();
const retryBody = z
  .object({
    maxAttempts: z
      .number({ error: "must be a number" })
      .optional()
      .meta({ description: "the new attempt budget; the task's own when absent" }),
    reason: z.string({ error: "must be a string" }).optional(),
  })
  .optional();

const tags = ["tasks"];
const tooMany = {
  429: { description: "the queue's backlog limit: retry after Retry-After", schema: errorBody },
};
const tooLarge = { 413: { description: "a payload over TASKSTREAM_MAX_PAYLOAD_BYTES", schema: errorBody } };
const conflict = { 409: { description: "the task has already finished", schema: errorBody } };

/** REST command API: POST /v1/tasks (one or `{tasks: [...]}`), GET /v1/tasks/:id, its history, cancel. */
export function taskRoutes(commands: TaskCommands) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.post(
      "/v1/tasks",
      documented({
        summary: "Submit a task",
        tags,
        body: submissionSchema,
        responses: {
          201: { description: "submitted", schema: submitResult },
          200: { description: "deduplicated: the idempotency key's first task", schema: submitResult },
          ...refusals,
          409: { description: "the idempotency key was first used with other fields", schema: errorBody },
          ...tooLarge,
          ...tooMany,
        },
      }),
      async (request, reply) => {
        const result = await withSubmissionSpan("taskstream.submit", request.headers, (trace) =>
          commands.submit(request.body, trace, request.principal),
        );
        return reply.status(result.deduplicated ? 200 : 201).send(result);
      },
    );

    app.post(
      "/v1/tasks/batch",
      documented({
        summary: "Submit up to 1000 tasks",
        description:
          "All or nothing on bad input: every bad field of every entry is named (`tasks[3].type`).",
        tags,
        body: batchBody,
        responses: {
          200: { description: "one result per entry, in order", schema: batchResult },
          ...refusals,
          ...tooLarge,
          ...tooMany,
        },
      }),
      async (request, reply) => {
        const tasks = parseOrFail(batchShape, request.body ?? {}).tasks;
        const results = await withSubmissionSpan("taskstream.submit_batch", request.headers, (trace) =>
          commands.submitMany(tasks, trace, request.principal),
        );
        return reply.status(200).send({ results });
      },
    );

    app.get<{ Params: { id: string } }>(
      "/v1/tasks/:id",
      documented(
        {
          summary: "Get a task: its state folded from the log",
          tags,
          responses: { 200: { description: "the task", schema: task }, ...notFound },
        },
        idParams,
      ),
      async (request) => commands.get(request.params.id, request.principal),
    );

    app.get<{ Params: { id: string } }>(
      "/v1/tasks/:id/history",
      documented(
        {
          summary: "Every event of a task, from the log and the archive",
          tags,
          responses: { 200: { description: "the events, oldest first", schema: history }, ...notFound },
        },
        idParams,
      ),
      async (request) => {
        const events = await commands.history(request.params.id, request.principal);
        return {
          events: events.map(({ version, type, data, streamId }) => ({ version, type, data, streamId })),
        };
      },
    );

    app.post<{ Params: { id: string } }>(
      "/v1/tasks/:id/cancel",
      documented(
        {
          summary: "Cancel a task",
          tags,
          body: cancelBody,
          responses: {
            200: { description: "the task, cancelled or with its cancellation requested", schema: task },
            ...refusals,
            ...notFound,
            ...conflict,
          },
        },
        idParams,
      ),
      async (request) => {
        const reason = parseOrFail(cancelBody, request.body)?.reason;
        return commands.cancel(request.params.id, reason ?? "", request.principal);
      },
    );

    app.post<{ Params: { id: string } }>(
      "/v1/tasks/:id/retry",
      documented(
        {
          summary: "Revive a dead-lettered task",
          tags,
          body: retryBody,
          responses: {
            200: { description: "the task, queued again", schema: task },
            ...refusals,
            ...notFound,
            409: { description: "the task is not dead-lettered", schema: errorBody },
          },
        },
        idParams,
      ),
      async (request) => {
        const { maxAttempts, reason } = parseOrFail(retryBody, request.body) ?? {};
        return commands.retry(request.params.id, maxAttempts ?? null, reason ?? "", request.principal);
      },
    );
  };
}
