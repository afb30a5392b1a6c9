import { NodeSDK } from "@opentelemetry/sdk-node";

/**
 * Starts the OpenTelemetry SDK when the standard variables ask for it (OTEL_TRACES_EXPORTER or
 * OTEL_EXPORTER_OTLP_*ENDPOINT, and not OTEL_SDK_DISABLED); the SDK reads the rest of its
 * configuration (service name, sampler, exporter endpoint) from OTEL_* itself. Off by default.
 */
export function startTelemetry(env = process.env): NodeSDK | null {
  const wanted =
    env.OTEL_TRACES_EXPORTER !== undefined ||
    env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
  if (!wanted || env.OTEL_SDK_DISABLED === "true" || env.OTEL_TRACES_EXPORTER === "none") return null;
  env.OTEL_SERVICE_NAME ??= "taskstream";
  const sdk = new NodeSDK();
  sdk.start();
  return sdk;
}
