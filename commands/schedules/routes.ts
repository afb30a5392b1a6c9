import type { FastifyInstance } from "fastify";
import type { ScheduleCommands } from "./schedule-commands.ts";

const idParams = { type: "object", properties: { id: { type: "string" } }, required: ["id"] } as const;
type ById = { Params: { id: string } };

/**
 * REST for recurring schedules: create (201), read, list, pause, resume, delete, history. Errors go
 * through the shared error handler (commands/http/errors.ts): 400 naming each bad field, 404 for an
 * unknown id, 409 for an illegal transition (nothing written).
 */
export function scheduleRoutes(commands: ScheduleCommands) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.post("/v1/schedules", async (request, reply) =>
      reply.status(201).send(await commands.create(request.body, request.principal)),
    );

    app.get<{ Querystring: { status?: string; limit?: string; after?: string } }>(
      "/v1/schedules",
      async (request) => commands.list(request.query, request.principal),
    );

    app.get<ById>("/v1/schedules/:id", { schema: { params: idParams } }, async (request) =>
      commands.get(request.params.id, request.principal),
    );

    app.get<ById>("/v1/schedules/:id/history", { schema: { params: idParams } }, async (request) => {
      const events = await commands.history(request.params.id, request.principal);
      return {
        events: events.map(({ version, type, data, streamId }) => ({ version, type, data, streamId })),
      };
    });

    app.post<ById>("/v1/schedules/:id/pause", { schema: { params: idParams } }, async (request) =>
      commands.pause(request.params.id, request.principal),
    );

    app.post<ById>("/v1/schedules/:id/resume", { schema: { params: idParams } }, async (request) =>
      commands.resume(request.params.id, request.principal),
    );

    app.delete<ById>("/v1/schedules/:id", { schema: { params: idParams } }, async (request) =>
      commands.delete(request.params.id, request.principal),
    );
  };
}
