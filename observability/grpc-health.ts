import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { Server, ServiceDefinition } from "@grpc/grpc-js";
import { runReadiness, type CheckRecorder, type CheckResult, type ReadinessCheck } from "./health.ts";

/**
 * The standard gRPC health service (`grpc.health.v1.Health`, docs/apis.md) over the process's one
 * readiness, the checks `/readyz` runs. The overall status (service `""`) is SERVING exactly when
 * `/readyz` answers 200; each public service is SERVING when the checks it depends on pass (a
 * standby dispatcher's WorkerService is NOT_SERVING while its TaskService serves). `Check` runs the
 * checks before it answers, so a Kubernetes gRPC probe sees what `/readyz` would; `Watch` streams
 * follow a refresh every `watchIntervalMs`, sent only on a change.
 */
export class GrpcHealth {
  private readonly health = new HealthImplementation();
  private readonly statuses = new Map<string, ServingStatus>();
  /** Each reported service and the names of the checks it needs ("" needs every check). */
  private readonly gates = new Map<string, readonly string[] | "all">([["", "all"]]);
  private running: Promise<CheckResult[]> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private readonly checks: readonly ReadinessCheck[];
  private readonly options: { record?: CheckRecorder; watchIntervalMs?: number };

  /** `checks` is read at each refresh: checks added later count too. */
  constructor(
    checks: readonly ReadinessCheck[],
    options: { record?: CheckRecorder; watchIntervalMs?: number } = {},
  ) {
    this.checks = checks;
    this.options = options;
    this.publish("", "NOT_SERVING");
  }

  /** Reports `service` (a full name, `taskstream.v1.TaskService`) as SERVING when the named checks pass. */
  serve(service: string, checkNames: readonly string[]): void {
    this.gates.set(service, checkNames);
    this.publish(service, "NOT_SERVING");
  }

  /** Adds the health service to `server`; its `Check` refreshes the statuses before answering. */
  addToServer(server: Server): void {
    this.health.addToServer({
      addService: (definition, implementation) =>
        server.addService(definition, {
          ...implementation,
          check: (call: unknown, callback: (error: { code: number; details: string }) => void) => {
            const answer = implementation.check as (call: unknown, callback: unknown) => void;
            void this.refresh().then(
              () => answer(call, callback),
              () => callback({ code: 14, details: "readiness could not be evaluated" }),
            );
          },
        }),
    });
  }

  /** Runs the readiness checks (or joins the run in flight: a probe storm runs them once) and publishes. */
  async refresh(): Promise<void> {
    this.running ??= runReadiness([...this.checks], this.options.record).finally(() => {
      this.running = undefined;
    });
    const results = await this.running;
    const ok = new Map(results.map((r) => [r.name, r.ok]));
    for (const [service, needs] of this.gates) {
      const names = needs === "all" ? [...ok.keys()] : needs.filter((name) => ok.has(name));
      this.publish(service, names.every((name) => ok.get(name)) ? "SERVING" : "NOT_SERVING");
    }
  }

  /** Keeps `Watch` streams current until `stop()`. */
  start(): void {
    const interval = this.options.watchIntervalMs ?? 5000;
    const tick = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.refresh().finally(tick), interval);
      this.timer.unref();
    };
    void this.refresh().finally(tick);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The status last published for `service`, if it is reported. */
  status(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Watchers hear a status only when it changes. */
  private publish(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    this.health.setStatus(service, status);
  }
}

/** The full name of the service a generated definition describes (`taskstream.v1.TaskService`). */
export function serviceName(definition: ServiceDefinition): string {
  const path = Object.values(definition)[0]?.path;
  const name = path?.split("/")[1];
  if (!name) throw new Error("a service definition without methods has no name");
  return name;
}
