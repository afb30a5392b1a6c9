import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import {
  HTTP_STATUS,
  ResourceExhaustedError,
  TaskstreamError,
  ValidationError,
} from "../../domain/task/index.ts";

export { HTTP_STATUS };

/** Codes for the HTTP layer's own refusals (Fastify's), in the same body shape as ours. */
const STATUS_CODE: Record<number, string> = {
  400: "BAD_REQUEST",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  406: "NOT_ACCEPTABLE",
  408: "REQUEST_TIMEOUT",
  413: "PAYLOAD_TOO_LARGE",
  414: "URI_TOO_LONG",
  415: "UNSUPPORTED_MEDIA_TYPE",
  431: "HEADERS_TOO_LARGE",
};

/** Unknown routes answer in the error shape every other refusal has. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.status(404).send({
    error: {
      code: "NOT_FOUND",
      message: `no route ${request.method} ${shorten(request.url.split("?")[0]!)}`,
    },
  });
}

export interface ErrorBody {
  error: { code: string; message: string; fields?: { field: string; reason: string }[] };
}

/** Fastify error handler: typed errors keep their code; Fastify's own (bad JSON, body too large) get ours. */
export function httpErrorHandler(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (error instanceof TaskstreamError) {
    const body: ErrorBody = { error: { code: error.code, message: error.message } };
    if (error instanceof ValidationError) body.error.fields = error.fields;
    if (error instanceof ResourceExhaustedError)
      void reply.header("retry-after", Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
    if (error.code === "UNAUTHENTICATED") void reply.header("www-authenticate", 'Bearer realm="taskstream"');
    return reply.status(HTTP_STATUS[error.code]).send(body);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return reply
      .status(413)
      .send({ error: { code: "PAYLOAD_TOO_LARGE", message: "request body exceeds the size limit" } });
  }
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode < 500) {
    const fields =
      fastifyError.code === "FST_ERR_CTP_INVALID_JSON_BODY" ||
      fastifyError.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
        ? [{ field: "(body)", reason: fastifyError.message }]
        : undefined;
    const code = fields ? "VALIDATION" : (STATUS_CODE[fastifyError.statusCode] ?? "BAD_REQUEST");
    // Fastify's messages may quote the request (a 5,000-character path): keep them short.
    return reply
      .status(fastifyError.statusCode)
      .send({ error: { code, message: shorten(fastifyError.message), fields } });
  }
  request.log.error({ err: error }, "request failed");
  return reply.status(500).send({ error: { code: "INTERNAL", message: "internal error" } });
}

function shorten(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
