import type { FastifyInstance } from "fastify";
import { ValidationError } from "../../domain/task/index.ts";
import { withSubmissionSpan } from "../../observability/trace-context.ts";
import type { TaskCommands } from "../task-commands.ts";

const idParams = { type: "object", properties: { id: { type: "string" } }, required: ["id"] } as const;

/** REST command API: POST /v1/tasks (one or `{tasks: [...]}`), GET /v1/tasks/:id, its history, cancel. */
export function taskRoutes(commands: TaskCommands) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.post("/v1/tasks", async (request, reply) => {
      const result = await withSubmissionSpan("taskstream.submit", request.headers, (trace) =>
        commands.submit(request.body, trace, request.principal),
      );
      return reply.status(result.deduplicated ? 200 : 201).send(result);
    });

    app.post("/v1/tasks/batch", async (request, reply) => {
      const body = request.body as { tasks?: unknown } | null;
      if (!body || !Array.isArray(body.tasks) || body.tasks.length === 0 || body.tasks.length > 1000) {
        throw new ValidationError([{ field: "tasks", reason: "must be an array of 1 to 1000 tasks" }]);
      }
      const tasks = body.tasks;
      const results = await withSubmissionSpan("taskstream.submit_batch", request.headers, (trace) =>
        commands.submitMany(tasks, trace, request.principal),
      );
      return reply.status(200).send({ results });
    });

    app.get<{ Params: { id: string } }>("/v1/tasks/:id", { schema: { params: idParams } }, async (request) =>
      commands.get(request.params.id, request.principal),
    );

    app.get<{ Params: { id: string } }>(
      "/v1/tasks/:id/history",
      { schema: { params: idParams } },
      async (request) => {
        const events = await commands.history(request.params.id, request.principal);
        return {
          events: events.map(({ version, type, data, streamId }) => ({ version, type, data, streamId })),
        };
      },
    );

    app.post<{ Params: { id: string }; Body: { reason?: unknown } | undefined }>(
      "/v1/tasks/:id/cancel",
      { schema: { params: idParams } },
      async (request) => {
        const reason = request.body?.reason;
        if (reason !== undefined && typeof reason !== "string")
          throw new ValidationError([{ field: "reason", reason: "must be a string" }]);
        return commands.cancel(request.params.id, reason ?? "", request.principal);
      },
    );

    app.post<{ Params: { id: string }; Body: { maxAttempts?: unknown; reason?: unknown } | undefined }>(
      "/v1/tasks/:id/retry",
      { schema: { params: idParams } },
      async (request) => {
        const { maxAttempts, reason } = request.body ?? {};
        if (maxAttempts !== undefined && typeof maxAttempts !== "number") {
          throw new ValidationError([{ field: "maxAttempts", reason: "must be a number" }]);
        }
        if (reason !== undefined && typeof reason !== "string") {
          throw new ValidationError([{ field: "reason", reason: "must be a string" }]);
        }
        return commands.retry(request.params.id, maxAttempts ?? null, reason ?? "", request.principal);
      },
    );
  };
}
