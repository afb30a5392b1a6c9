import { LogController, type FastifyReply, type FastifyRequest } from "fastify";

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
