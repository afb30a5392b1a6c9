import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { createMetrics } from "../observability/metrics.ts";
import { metricNames } from "./promql-names.ts";

const HELM = fileURLToPath(new URL("../.tools/bin/helm", import.meta.url));
const CHART = fileURLToPath(new URL("./helm/taskstream", import.meta.url));
const CI = (file: string) => `${CHART}/ci/${file}`;

interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface Probe {
  httpGet?: { path: string; port: string };
  grpc?: { port: number; service?: string };
  periodSeconds: number;
}
interface Container {
  name: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop: { exec: { command: string[] } } };
  securityContext: Record<string, unknown> & { capabilities: { drop: string[] } };
  resources: { requests?: Record<string, string> };
}
interface PodSpec {
  securityContext: Record<string, unknown>;
  terminationGracePeriodSeconds?: number;
  initContainers?: unknown[];
  containers: Container[];
}

/** `helm template` of the chart with the given value files and --set pairs. */
function render(files: string[] = [], set: string[] = []): Resource[] {
  const args = [
    "template",
    "t",
    CHART,
    ...files.flatMap((f) => ["-f", f]),
    ...set.flatMap((s) => ["--set", s]),
  ];
  const out = execFileSync(HELM, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return parseAllDocuments(out)
    .map((doc) => doc.toJS() as Resource | null)
    .filter((r): r is Resource => r !== null);
}

/** The error helm prints when it refuses the values. */
function refusal(set: string[]): string {
  try {
    render([], set);
  } catch (error) {
    return String((error as { stderr?: string }).stderr);
  }
  throw new Error(`helm accepted ${set.join(" ")}`);
}

const podSpec = (r: Resource) => (r.spec as { template: { spec: PodSpec } }).template.spec;
const named = (resources: Resource[], kind: string, name: string) => {
  const found = resources.find((r) => r.kind === kind && r.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};
const envOf = (container: Container, name: string) => container.env.find((e) => e.name === name);

const helm = existsSync(HELM);
if (!helm) console.warn(`deploy/helm.unit.spec.ts skipped: ${HELM} is missing; deploy/check.sh installs it`);

describe.runIf(helm)("Helm chart", () => {
  const defaults = render();
  const deployments = defaults.filter((r) => r.kind === "Deployment");

  it("renders a Deployment per role, their Services, budgets, the migration hook and its Secret", () => {
    expect(defaults.map((r) => `${r.kind}/${r.metadata.name}`).sort()).toEqual([
      "Deployment/t-taskstream-api",
      "Deployment/t-taskstream-dispatcher",
      "Deployment/t-taskstream-projector",
      "Deployment/t-taskstream-read-api",
      "Job/t-taskstream-migrate",
      "PodDisruptionBudget/t-taskstream-api",
      "PodDisruptionBudget/t-taskstream-dispatcher",
      "PodDisruptionBudget/t-taskstream-read-api",
      "Secret/t-taskstream-connections",
      "Secret/t-taskstream-migrate",
      "Service/t-taskstream-api",
      "Service/t-taskstream-dispatcher",
      "Service/t-taskstream-metrics",
      "Service/t-taskstream-read-api",
      "ServiceAccount/t-taskstream",
    ]);
    for (const role of ["api", "dispatcher", "projector", "read-api"]) {
      const [container] = podSpec(named(defaults, "Deployment", `t-taskstream-${role}`)).containers;
      expect(container!.args).toEqual(["serve"]);
      expect(envOf(container!, "TASKSTREAM_ROLES")?.value).toBe(role);
    }
  });

  it("probes /readyz for readiness and /healthz for liveness, and drains longer than the preStop", () => {
    for (const deployment of deployments) {
      const spec = podSpec(deployment);
      const [container] = spec.containers;
      expect(container!.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "http" });
      expect(container!.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(container!.startupProbe?.httpGet).toEqual({ path: "/healthz", port: "http" });
      const preStop = Number(container!.lifecycle?.preStop.exec.command[1] ?? 0);
      expect(spec.terminationGracePeriodSeconds! - preStop, deployment.metadata.name).toBeGreaterThanOrEqual(
        20,
      );
      expect(spec.initContainers).toBeUndefined();
    }
    const dispatcher = named(defaults, "Deployment", "t-taskstream-dispatcher");
    // The Service adds a dispatcher within a probe or two of it leading its share of the partitions.
    expect(podSpec(dispatcher).containers[0]!.readinessProbe!.periodSeconds).toBe(2);
    expect(dispatcher.spec!.replicas).toBeGreaterThanOrEqual(2);
    // Every dispatcher is ready once it leads its share, so all roles roll one pod at a time and the
    // dispatchers hand their partitions over one by one.
    for (const deployment of deployments)
      expect(deployment.spec!.strategy, deployment.metadata.name).toEqual({
        type: "RollingUpdate",
        rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
      });
    const budget = named(defaults, "PodDisruptionBudget", "t-taskstream-dispatcher");
    expect(budget.spec).toMatchObject({
      maxUnavailable: 1,
      selector: { matchLabels: { "app.kubernetes.io/component": "dispatcher" } },
    });
  });

  it("probes readiness through the gRPC health service when asked", () => {
    for (const deployment of render([], ["probes.useGrpc=true"]).filter((r) => r.kind === "Deployment")) {
      const [container] = podSpec(deployment).containers;
      expect(container!.readinessProbe?.grpc, deployment.metadata.name).toEqual({ port: 50051 });
      expect(container!.readinessProbe?.httpGet).toBeUndefined();
      expect(container!.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "http" });
    }
    expect(refusal(["probes.useGrpc=yes"])).toMatch(/useGrpc/);
  });

  it("routes workers to every ready dispatcher and scales dispatchers on CPU when asked", () => {
    const service = named(defaults, "Service", "t-taskstream-dispatcher");
    expect(service.spec).toMatchObject({
      type: "ClusterIP",
      selector: { "taskstream.io/role-dispatcher": "true" },
    });
    expect((service.spec as { publishNotReadyAddresses?: boolean }).publishNotReadyAddresses).toBeUndefined();

    const scaled = render(
      [],
      [
        "components.dispatcher.autoscaling.enabled=true",
        "components.dispatcher.autoscaling.minReplicas=2",
        "components.dispatcher.autoscaling.maxReplicas=8",
      ],
    );
    const hpa = named(scaled, "HorizontalPodAutoscaler", "t-taskstream-dispatcher");
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { kind: "Deployment", name: "t-taskstream-dispatcher" },
      minReplicas: 2,
      maxReplicas: 8,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization" } } }],
    });
    expect(named(scaled, "Deployment", "t-taskstream-dispatcher").spec!.replicas).toBeUndefined();
  });

  it("runs every container as non-root on a read-only root with no capabilities and RuntimeDefault seccomp", () => {
    const job = named(defaults, "Job", "t-taskstream-migrate");
    for (const workload of [...deployments, job]) {
      const spec = podSpec(workload);
      expect(spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      for (const container of spec.containers) {
        expect(container.securityContext).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        });
        expect(container.securityContext.runAsUser).toBeGreaterThan(0);
        expect(container.resources.requests?.memory).toBeDefined();
      }
    }
  });

  it("migrates in a pre-install/pre-upgrade hook, reading the URL from a hook Secret or the user's", () => {
    const job = named(defaults, "Job", "t-taskstream-migrate");
    expect(job.metadata.annotations?.["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
    const hookSecret = named(defaults, "Secret", "t-taskstream-migrate");
    expect(Number(hookSecret.metadata.annotations?.["helm.sh/hook-weight"])).toBeLessThan(
      Number(job.metadata.annotations?.["helm.sh/hook-weight"]),
    );
    const [migrate] = podSpec(job).containers;
    expect(migrate!.args).toEqual(["migrate"]);
    expect(envOf(migrate!, "TASKSTREAM_PG_URL")?.valueFrom?.secretKeyRef).toEqual({
      name: "t-taskstream-migrate",
      key: "pg-url",
    });

    const own = render([CI("existing-secret-values.yaml")]);
    expect(own.filter((r) => r.kind === "Secret")).toEqual([]);
    for (const workload of own.filter((r) => r.kind === "Deployment" || r.kind === "Job"))
      for (const container of podSpec(workload).containers)
        expect(envOf(container, "TASKSTREAM_PG_URL")?.valueFrom?.secretKeyRef).toEqual({
          name: "taskstream-connections",
          key: "DATABASE_URL",
        });
  });

  it("scales workers on the due backlog gauge that /metrics exports, by KEDA or an External HPA", async () => {
    const registry = createMetrics().registry;
    const backlog = registry.getSingleMetric("taskstream_queue_backlog");
    expect(backlog, "observability/metrics.ts exports taskstream_queue_backlog").toBeDefined();
    expect((await backlog!.get()).type).toBe("gauge");

    const external = render([CI("autoscaling-external-values.yaml")]);
    const hpa = named(external, "HorizontalPodAutoscaler", "t-taskstream-worker-media");
    expect(hpa.spec!.metrics).toEqual([
      {
        type: "External",
        external: {
          metric: {
            name: "taskstream_queue_backlog",
            selector: {
              matchLabels: { state: "due" },
              matchExpressions: [{ key: "type", operator: "In", values: ["resize"] }],
            },
          },
          target: { type: "AverageValue", averageValue: "100" },
        },
      },
    ]);

    const keda = render([CI("autoscaling-keda-values.yaml")]);
    const scaled = named(keda, "ScaledObject", "t-taskstream-worker-media");
    const [trigger] = scaled.spec!.triggers as {
      type: string;
      metadata: { query: string; threshold: string };
    }[];
    expect(trigger!.type).toBe("prometheus");
    expect(trigger!.metadata.query).toBe(
      // Each dispatcher exports the backlog of the partitions it owns: summed over them.
      'sum(taskstream_queue_backlog{state="due",type=~"resize|thumbnail\\.v2",namespace="default"})',
    );
    for (const name of metricNames(trigger!.metadata.query))
      expect(registry.getSingleMetric(name), name).toBeDefined();
    const api = named(keda, "HorizontalPodAutoscaler", "t-taskstream-api");
    expect(api.spec!.metrics).toEqual([
      {
        type: "Resource",
        resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 65 } },
      },
    ]);
    expect(named(keda, "Deployment", "t-taskstream-api").spec!.replicas).toBeUndefined();
  });

  it("serves the rule file as the PrometheusRule and the dashboards as sidecar ConfigMaps", () => {
    const monitoring = render([CI("monitoring-values.yaml")]);
    const file = parse(readFileSync(`${CHART}/../../prometheus/taskstream.rules.yaml`, "utf8")) as {
      groups: { rules: { alert?: string; expr: string }[] }[];
    };
    const rule = named(monitoring, "PrometheusRule", "t-taskstream");
    const groups = (rule.spec as typeof file).groups;
    expect(groups.flatMap((g) => g.rules.map((r) => [r.alert, r.expr]))).toEqual(
      file.groups.flatMap((g) => g.rules.map((r) => [r.alert, r.expr])),
    );
    const unowned = groups
      .flatMap((g) => g.rules)
      .find((r) => r.alert === "TaskstreamPartitionsUnowned") as unknown as {
      labels: Record<string, string>;
      annotations: Record<string, string>;
    };
    expect(unowned.labels).toEqual({ severity: "critical", team: "platform" });
    expect(unowned.annotations.runbook_url).toBe(
      "https://git.example.com/taskstream/blob/main/docs/operations.md#taskstreampartitionsunowned",
    );
    const dashboards = monitoring.filter((r) => r.kind === "ConfigMap");
    expect(dashboards.map((r) => r.metadata.labels?.grafana_dashboard)).toEqual(["1", "1"]);
    const overview = dashboards.find((r) => r.data?.["taskstream-overview.json"]);
    expect(overview?.data?.["taskstream-overview.json"]).toBe(
      readFileSync(`${CHART}/../../grafana/taskstream-overview.json`, "utf8").trimEnd(),
    );
  });

  it("holds one component at its own image tag during a staged upgrade", () => {
    const staged = render([], ["image.tag=0.2.0", "components.dispatcher.imageTag=0.1.0"]);
    const images = Object.fromEntries(
      staged
        .filter((r) => r.kind === "Deployment" || r.kind === "Job")
        .map((r) => [r.metadata.name, (podSpec(r).containers[0] as unknown as { image: string }).image]),
    );
    expect(images).toEqual({
      "t-taskstream-api": "taskstream:0.2.0",
      "t-taskstream-dispatcher": "taskstream:0.1.0",
      "t-taskstream-projector": "taskstream:0.2.0",
      "t-taskstream-read-api": "taskstream:0.2.0",
      "t-taskstream-migrate": "taskstream:0.2.0",
    });
  });

  it("refuses values that cannot work", () => {
    expect(refusal(["components.api.replicas=-1"])).toMatch(/replicas/);
    expect(refusal(["components.api.roles={api,scheduler}"])).toMatch(/roles/);
    expect(refusal(["connections.redisUrl=http://redis:6379"])).toMatch(/redisUrl/);
    expect(refusal(["config.partitions=0"])).toMatch(/partitions/);
    expect(refusal(["components.projector.enabled=false"])).toMatch(
      /no enabled component runs the projector role/,
    );
    expect(
      refusal([
        "components.dispatcher.autoscaling.enabled=true",
        "components.dispatcher.autoscaling.minReplicas=4",
        "components.dispatcher.autoscaling.maxReplicas=3",
      ]),
    ).toMatch(/components\.dispatcher\.autoscaling\.minReplicas \(4\) must not exceed maxReplicas \(3\)/);
    const bare = [
      "components.extra.enabled=true",
      "components.extra.roles={api}",
      "components.extra.replicas=1",
      "components.extra.terminationGracePeriodSeconds=30",
      "components.extra.resources.requests.cpu=1",
      "components.extra.autoscaling.enabled=true",
    ];
    expect(refusal(bare)).toMatch(/minReplicas/);
    expect(refusal(["components.dispatcher.roles={dispatcher,api}"])).toMatch(
      /allowDispatcherWithOtherRoles/,
    );
    expect(refusal(["workerAutoscaling.provider=hpa"])).toMatch(/provider/);
    const zero = [
      "workerAutoscaling.enabled=true",
      "workerAutoscaling.provider=external",
      "workerAutoscaling.workers[0].name=w",
      "workerAutoscaling.workers[0].target.name=w",
      "workerAutoscaling.workers[0].types={a}",
      "workerAutoscaling.workers[0].minReplicas=0",
      "workerAutoscaling.workers[0].maxReplicas=3",
      "workerAutoscaling.workers[0].backlogPerReplica=10",
    ];
    expect(refusal(zero)).toMatch(/cannot scale to zero/);
  });
});
