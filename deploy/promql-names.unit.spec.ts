import { describe, expect, it } from "vitest";
import { dashboardExpressions, exportedNames, metricNames, variableMetricNames } from "./promql-names.ts";

describe("metric names in PromQL", () => {
  it("finds the metrics of an expression, not its functions, labels, strings or durations", () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (job, type, le) (rate(taskstream_schedule_to_start_seconds_bucket{job=~"$job", type="a.b"}[$__rate_interval])))',
      ),
    ).toEqual(["taskstream_schedule_to_start_seconds_bucket"]);
    expect(
      metricNames(
        'max by (job, type) (taskstream_queue_backlog{state="due"}) > 0 unless on (job, type) max by (job, type) (taskstream_queue_workers) > 1e3',
      ),
    ).toEqual(["taskstream_queue_backlog", "taskstream_queue_workers"]);
    expect(
      metricNames("job_type:failed:rate5m / ignoring(outcome) group_left(type) other offset 5m"),
    ).toEqual(["job_type:failed:rate5m", "other"]);
    expect(
      metricNames('changes(max by (job) (taskstream_dispatcher_epoch)[30m:1m]) > 4 or absent(up{job="x"})'),
    ).toEqual(["taskstream_dispatcher_epoch", "up"]);
  });

  it("reads Grafana variables and every panel of a dashboard, nested rows too", () => {
    expect(variableMetricNames('label_values(taskstream_queue_backlog{job=~"$job"}, type)')).toEqual([
      "taskstream_queue_backlog",
    ]);
    expect(variableMetricNames("label_values(job)")).toEqual([]);
    const found = dashboardExpressions({
      title: "D",
      panels: [
        { title: "a", targets: [{ expr: "sum(rate(x_total[1m]))" }] },
        { title: "row", panels: [{ title: "b", targets: [{ expr: "y" }] }] },
      ],
      templating: { list: [{ name: "job", type: "query", query: { query: "label_values(z, job)" } }] },
    });
    expect(found).toEqual([
      { where: "D / a", names: ["x_total"] },
      { where: "D / b", names: ["y"] },
      { where: "D / $job", names: ["z"] },
    ]);
  });

  it("takes a histogram's series from its # TYPE line", () => {
    const page = '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 0\n# TYPE c_total counter\nc_total 1\n';
    expect([...exportedNames(page)].sort()).toEqual(["c_total", "h", "h_bucket", "h_count", "h_sum"]);
  });
});
