import { useEffect, useState } from "preact/hooks";
import { Card, ErrorNote, Figure, StateBadge } from "../components/bits.tsx";
import { Chart } from "../components/chart.tsx";
import { Link } from "../components/layout.tsx";
import { count, duration, percent, shortId, time } from "../format.ts";
import { useQuery, useTaskFeed, useThrottle, type FeedEvent } from "../hooks.ts";

const WINDOWS = ["15m", "1h", "6h", "24h", "7d"];

interface Latency {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
interface Overview {
  stats: {
    total: number;
    byState: { state: string; count: number }[];
    totals: {
      submitted: number;
      succeeded: number;
      failed: number;
      deadLettered: number;
      failureRate: number | null;
      retryRate: number | null;
      scheduleToStart: Latency;
      runTime: Latency;
    };
    byType: {
      type: string;
      submitted: number;
      succeeded: number;
      failed: number;
      deadLettered: number;
      failureRate: number | null;
      scheduleToStart: Latency;
      runTime: Latency;
    }[];
    series: {
      at: string;
      submitted: number;
      succeeded: number;
      failed: number;
      deadLettered: number;
      scheduleToStart: Latency;
      runTime: Latency;
    }[];
    projection: { lagMs: number; partitionsBehind: number };
    dispatch: { at: string; unroutable: number; queueDepthByPriority: number[] } | null;
  };
}

const RECENT = `{ recentEvents(first: 12) { events { cursor taskId version type queue state at } endCursor } }`;

const QUERY = `query ($window: String) {
  stats(window: $window) {
    total byState { state count }
    totals { submitted succeeded failed deadLettered failureRate retryRate
             scheduleToStart { p50 p95 p99 } runTime { p50 p95 p99 } }
    byType(first: 8) { type submitted succeeded failed deadLettered failureRate
                       scheduleToStart { p50 p95 p99 } runTime { p50 p95 p99 } }
    series { at submitted succeeded failed deadLettered scheduleToStart { p95 } runTime { p95 } }
    projection { lagMs partitionsBehind }
    dispatch { at unroutable queueDepthByPriority }
  }
}`;

/** The overview: counts by state, throughput and latency over a window, queue depth, lag, leader, recent events. */
export function OverviewPage() {
  const [window, setWindow] = useState("1h");
  const { data, error, refresh } = useQuery<Overview>(QUERY, { window }, 5000);
  // The latest events when the page opens, then the feed live from exactly there.
  const latest = useQuery<{ recentEvents: { events: FeedEvent[]; endCursor: string } }>(RECENT);
  const [recent, setRecent] = useState<FeedEvent[]>([]);
  useEffect(() => setRecent(latest.data?.recentEvents.events ?? []), [latest.data]);
  const soon = useThrottle(refresh, 1000);
  useTaskFeed(
    null,
    (event) => {
      setRecent((events) => [event, ...events].slice(0, 12));
      soon();
    },
    latest.data?.recentEvents.endCursor,
  );
  const stats = data?.stats;
  const times = stats?.series.map((p) => Date.parse(p.at) / 1000) ?? [];
  return (
    <>
      <div class="heading">
        <h1>Overview</h1>
        <div class="segmented" role="group" aria-label="Window">
          {WINDOWS.map((w) => (
            <button key={w} type="button" aria-pressed={w === window} onClick={() => setWindow(w)}>
              {w}
            </button>
          ))}
        </div>
      </div>
      <ErrorNote error={error} />
      {stats && (
        <div class="grid">
          <Card title="Tasks by state" wide>
            <div class="figures">
              {stats.byState.map((s) => (
                <Link key={s.state} to={`/tasks?state=${s.state}`} class="figure-link">
                  <Figure
                    label={s.state.replace("_", " ").toLowerCase()}
                    value={count(s.count)}
                    tone={`s-${s.state.toLowerCase()}`}
                  />
                </Link>
              ))}
              <Figure label="total" value={count(stats.total)} />
            </div>
          </Card>
          <Card title={`Throughput (last ${window})`} wide>
            <Chart
              title="Tasks per step"
              times={times}
              lines={[
                { label: "submitted", color: "#2563eb", values: stats.series.map((p) => p.submitted) },
                { label: "succeeded", color: "#16a34a", values: stats.series.map((p) => p.succeeded) },
                { label: "failed", color: "#d97706", values: stats.series.map((p) => p.failed) },
                { label: "dead-lettered", color: "#dc2626", values: stats.series.map((p) => p.deadLettered) },
              ]}
            />
            <div class="figures small">
              <Figure label="submitted" value={count(stats.totals.submitted)} />
              <Figure label="succeeded" value={count(stats.totals.succeeded)} />
              <Figure label="failure rate" value={percent(stats.totals.failureRate)} />
              <Figure label="retry rate" value={percent(stats.totals.retryRate)} />
            </div>
          </Card>
          <Card title="Latency (p95 per step)" wide>
            <Chart
              title="Milliseconds"
              unit=" ms"
              times={times}
              lines={[
                {
                  label: "schedule-to-start",
                  color: "#7c3aed",
                  values: stats.series.map((p) => p.scheduleToStart.p95),
                },
                {
                  label: "run time",
                  color: "#0891b2",
                  values: stats.series.map((p) => p.runTime.p95),
                  points: true,
                },
              ]}
            />
            <LatencyTable rows={[{ type: "all types", ...stats.totals }, ...stats.byType]} />
          </Card>
          <Card title="Queue depth by priority">
            <DepthBars depth={stats.dispatch?.queueDepthByPriority ?? []} />
            <p class="muted">
              {stats.dispatch
                ? `${stats.dispatch.unroutable} due tasks no worker can run`
                : "no dispatcher reports"}
            </p>
          </Card>
          <Card title="System">
            <dl class="facts">
              <dt>Dispatch</dt>
              <dd>
                {stats.dispatch
                  ? `partition owners reported ${time(stats.dispatch.at)}`
                  : "no dispatcher reports"}
              </dd>
              <dt>Projection lag</dt>
              <dd>
                {stats.projection.partitionsBehind === 0
                  ? "caught up"
                  : `${duration(stats.projection.lagMs)} (${stats.projection.partitionsBehind} partitions behind)`}
              </dd>
            </dl>
          </Card>
          <Card title="Latest events">
            <ol class="events">
              {recent.length === 0 && <li class="muted">waiting for events…</li>}
              {recent.map((e) => (
                <li key={`${e.taskId}:${e.version}`}>
                  <Link to={`/tasks/${e.taskId}`}>{shortId(e.taskId)}</Link> {e.type.replace("Task", "")}{" "}
                  <StateBadge state={e.state} />
                </li>
              ))}
            </ol>
          </Card>
        </div>
      )}
    </>
  );
}

function LatencyTable({ rows }: { rows: { type: string; scheduleToStart: Latency; runTime: Latency }[] }) {
  return (
    <div class="scroll">
      <table>
        <caption class="sr-only">Latency percentiles by task type</caption>
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">Start p50</th>
            <th scope="col">p95</th>
            <th scope="col">p99</th>
            <th scope="col">Run p50</th>
            <th scope="col">p95</th>
            <th scope="col">p99</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.type}>
              <th scope="row">{r.type}</th>
              <td>{duration(r.scheduleToStart.p50)}</td>
              <td>{duration(r.scheduleToStart.p95)}</td>
              <td>{duration(r.scheduleToStart.p99)}</td>
              <td>{duration(r.runTime.p50)}</td>
              <td>{duration(r.runTime.p95)}</td>
              <td>{duration(r.runTime.p99)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DepthBars({ depth }: { depth: number[] }) {
  const max = Math.max(1, ...depth);
  return (
    <ol class="bars" aria-label="Ready tasks per priority, 9 most urgent">
      {depth
        .map((n, priority) => ({ n, priority }))
        .reverse()
        .map(({ n, priority }) => (
          <li key={priority}>
            <span class="bar-label">p{priority}</span>
            <span class="bar" style={{ width: `${(100 * n) / max}%` }} />
            <span class="bar-value">{count(n)}</span>
          </li>
        ))}
    </ol>
  );
}
