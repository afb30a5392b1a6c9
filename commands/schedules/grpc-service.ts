import type { UntypedHandleCall } from "@grpc/grpc-js";
import type { Schedule, ScheduleServiceServer } from "../../proto/gen/taskstream/v1/schedules.ts";
import { authenticatedUnary, type GrpcAuthenticate } from "../grpc/unary.ts";
import type { ScheduleCommands } from "./schedule-commands.ts";
import type { ScheduleView } from "../../domain/schedule/view.ts";
import { templateFromMessage, templateMessage } from "./template-message.ts";

/**
 * gRPC ScheduleService over the same command layer as REST. Errors map through the shared table
 * (commands/grpc/status.ts): INVALID_ARGUMENT with `field-errors`, NOT_FOUND, FAILED_PRECONDITION.
 */
export function scheduleService(
  commands: ScheduleCommands,
  authenticate: GrpcAuthenticate,
): ScheduleServiceServer & Record<string, UntypedHandleCall> {
  const unary = authenticatedUnary(authenticate);
  return {
    createSchedule: unary(async ({ request }, principal) => {
      const input: Record<string, unknown> = { cron: request.cron, task: templateFromMessage(request.task) };
      if (request.timeZone !== "") input.timeZone = request.timeZone;
      if (request.catchUp !== "") input.catchUp = request.catchUp;
      return scheduleMessage(await commands.create(input, principal));
    }),
    getSchedule: unary(async ({ request }, principal) =>
      scheduleMessage(await commands.get(request.id, principal)),
    ),
    listSchedules: unary(async ({ request }, principal) => {
      const page = await commands.list(
        {
          status: request.status || undefined,
          limit: request.limit || undefined,
          after: request.after || undefined,
        },
        principal,
      );
      return { schedules: page.schedules.map(scheduleMessage), nextAfter: page.nextAfter ?? "" };
    }),
    pauseSchedule: unary(async ({ request }, principal) =>
      scheduleMessage(await commands.pause(request.id, principal)),
    ),
    resumeSchedule: unary(async ({ request }, principal) =>
      scheduleMessage(await commands.resume(request.id, principal)),
    ),
    deleteSchedule: unary(async ({ request }, principal) =>
      scheduleMessage(await commands.delete(request.id, principal)),
    ),
  };
}

/** The gRPC Schedule message for a schedule view. */
export function scheduleMessage(view: ScheduleView): Schedule {
  return {
    id: view.id,
    status: view.status,
    cron: view.cron,
    timeZone: view.timeZone,
    catchUp: view.catchUp,
    task: templateMessage(view.task),
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
    lastFiredAt: view.lastFiredAt ?? "",
    lastTaskId: view.lastTaskId ?? "",
    nextFireAt: view.nextFireAt ?? "",
    firings: view.firings,
    version: view.version,
  };
}
