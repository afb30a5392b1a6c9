import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { context, trace } from "@opentelemetry/api";
import { tracingOn } from "./tracing.ts";

/**
 * Fastify's request logging, one line per request: Fastify's own two info lines per request
 * (received, completed) become one debug line once the request is answered — method, URL, status,
 * time — so `--log-level debug` shows every request and `info` shows events, not traffic.
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (!error && reply.log.level !== "debug" && reply.log.level !== "trace") return;
    const fields = {
      method: request.method,
      url: request.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) reply.log.error({ ...fields, err: error }, "request failed");
    else reply.log.debug(fields, "request");
  }

  override routeNotFound(): void {}
}

/**
 * Names each request's server span (made by the HTTP instrumentation) by its route, as
 * `POST /v1/tasks` with `http.route`, instead of by its method alone. A root hook: it sees every
 * route. Added only when tracing is on (OpenTelemetry starts before the server).
 */
export function nameServerSpans(app: FastifyInstance): void {
  if (!tracingOn()) return;
  app.addHook("onRequest", async (request) => {
    const span = trace.getSpan(context.active());
    const route = request.routeOptions.url;
    if (!span?.isRecording() || route === undefined) return;
    span.updateName(`${request.method} ${route}`);
    span.setAttribute("http.route", route);
  });
}
