import type { FastifyInstance } from "fastify";
import type { ScheduleCommands } from "./schedule-commands.ts";
import { scheduleInputSchema, scheduleListQuerySchema } from "./schedule-input.ts";
import { documented, type RouteDocs } from "../http/openapi/route-docs.ts";
import { errorBody, history, notFound, refusals, schedule, schedulePage } from "../http/openapi/responses.ts";

const idParams = { type: "object", properties: { id: { type: "string" } }, required: ["id"] } as const;
type ById = { Params: { id: string } };
const tags = ["schedules"];
const illegal = { 409: { description: "not allowed in the schedule's status", schema: errorBody } };
/** A route on one schedule, answering the schedule. */
const onOne = (summary: string, extra: RouteDocs["responses"] = {}) =>
  documented(
    {
      summary,
      tags,
      responses: { 200: { description: "the schedule", schema: schedule }, ...notFound, ...extra },
    },
    idParams,
  );

/**
 * REST for recurring schedules: create (201), read, list, pause, resume, delete, history. Errors go
 * through the shared error handler (commands/http/errors.ts): 400 naming each bad field, 404 for an
 * unknown id, 409 for an illegal transition (nothing written).
 */
export function scheduleRoutes(commands: ScheduleCommands) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.post(
      "/v1/schedules",
      documented({
        summary: "Create a schedule",
        tags,
        body: scheduleInputSchema,
        responses: { 201: { description: "created", schema: schedule }, ...refusals },
      }),
      async (request, reply) =>
        reply.status(201).send(await commands.create(request.body, request.principal)),
    );

    app.get<{ Querystring: { status?: string; limit?: string; after?: string } }>(
      "/v1/schedules",
      documented({
        summary: "List schedules, a page at a time",
        tags,
        querystring: scheduleListQuerySchema,
        responses: { 200: { description: "one page", schema: schedulePage }, ...refusals },
      }),
      async (request) => commands.list(request.query, request.principal),
    );

    app.get<ById>("/v1/schedules/:id", onOne("Get a schedule"), async (request) =>
      commands.get(request.params.id, request.principal),
    );

    app.get<ById>(
      "/v1/schedules/:id/history",
      documented(
        {
          summary: "Every event of a schedule",
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

    app.post<ById>("/v1/schedules/:id/pause", onOne("Pause a schedule", illegal), async (request) =>
      commands.pause(request.params.id, request.principal),
    );

    app.post<ById>("/v1/schedules/:id/resume", onOne("Resume a paused schedule", illegal), async (request) =>
      commands.resume(request.params.id, request.principal),
    );

    app.delete<ById>("/v1/schedules/:id", onOne("Delete a schedule", illegal), async (request) =>
      commands.delete(request.params.id, request.principal),
    );
  };
}
