import { ErrorNote } from "../components/bits.tsx";
import { count, duration } from "../format.ts";
import { useQuery } from "../hooks.ts";

interface Worker {
  id: string;
  name: string;
  types: string[];
  labels: Record<string, string> | null;
  slots: number;
  busy: number;
  connected: boolean;
}
interface WorkerStats {
  workerId: string;
  name: string | null;
  succeeded: number;
  failed: number;
  busyMs: number;
}

const QUERY = `{
  workers { id name types labels slots busy connected }
  stats(window: "1h") { busiestWorkers(first: 10) { workerId name succeeded failed busyMs } }
}`;

/** Workers: who is connected, what they run, their slots in use; the busiest of the last hour. */
export function WorkersPage() {
  const { data, error } = useQuery<{ workers: Worker[]; stats: { busiestWorkers: WorkerStats[] } }>(
    QUERY,
    {},
    2000,
  );
  return (
    <>
      <h1>Workers</h1>
      <ErrorNote error={error} />
      {data && data.workers.length === 0 && (
        <p class="muted">No worker is connected to the leading dispatcher.</p>
      )}
      <ul class="cards">
        {data?.workers.map((w) => (
          <li key={w.id} class="card">
            <h2>
              {w.name}{" "}
              <span class={w.connected ? "dot on" : "dot"}>{w.connected ? "connected" : "reconnecting"}</span>
            </h2>
            <p>
              <code>{w.id}</code>
            </p>
            <div
              class="meter"
              role="meter"
              aria-label="Slots in use"
              aria-valuemin={0}
              aria-valuemax={w.slots}
              aria-valuenow={w.busy}
            >
              <span style={{ width: `${(100 * w.busy) / Math.max(1, w.slots)}%` }} />
            </div>
            <p>
              {w.busy} of {w.slots} slots in use
            </p>
            <p>
              Types: {w.types.join(", ")}
              <br />
              Labels:{" "}
              {Object.entries(w.labels ?? {})
                .map(([k, v]) => `${k}=${v}`)
                .join(", ") || "none"}
            </p>
          </li>
        ))}
      </ul>
      <h2>Busiest in the last hour</h2>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Worker</th>
              <th scope="col">Succeeded</th>
              <th scope="col">Failed</th>
              <th scope="col">Time running</th>
            </tr>
          </thead>
          <tbody>
            {data?.stats.busiestWorkers.map((w) => (
              <tr key={w.workerId}>
                <th scope="row">{w.name ?? <code>{w.workerId}</code>}</th>
                <td>{count(w.succeeded)}</td>
                <td>{count(w.failed)}</td>
                <td>{duration(w.busyMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
