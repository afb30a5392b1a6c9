import { afterAll, afterEach, beforeAll } from "vitest";
import { TaskCommands } from "../../commands/task-commands.ts";
import { fold, type TaskState } from "../../domain/task/index.ts";
import type { Config } from "../../cli/config.ts";
import type { RunningServer } from "../../cli/server.ts";
import { RawWorker } from "./raw-worker.ts";
import { startTestServer } from "./server.ts";
import { leading } from "./signals.ts";

/** No trace context: what a submission records when its caller sends none. */
export const noTrace = { traceparent: null, tracestate: null };

export interface DispatcherFixture {
  readonly server: RunningServer;
  readonly commands: TaskCommands;
  /** A raw-protocol worker, closed after the test. */
  worker(): RawWorker;
  /** A task's state folded from the log. */
  stateOf(id: string): Promise<TaskState>;
}

/**
 * For a describe block: one API + dispatcher process on the real services, leading before the first
 * test, with a command layer over its store and raw workers closed after each test.
 */
export function useDispatcher(name: string, overrides: Partial<Config> = {}): DispatcherFixture {
  let server: RunningServer | undefined;
  let commands: TaskCommands | undefined;
  const workers: RawWorker[] = [];
  beforeAll(async () => {
    server = await startTestServer({ roles: new Set(["api", "dispatcher"]), ...overrides }, name);
    commands = new TaskCommands(server.store, { maxPayloadBytes: 1 << 20 });
    await leading(server.dispatcher!);
  });
  afterEach(() => {
    for (const w of workers.splice(0)) w.close();
  });
  afterAll(async () => server?.close());
  return {
    get server() {
      return server!;
    },
    get commands() {
      return commands!;
    },
    worker() {
      const w = new RawWorker(server!.grpcAddress);
      workers.push(w);
      return w;
    },
    async stateOf(id: string) {
      return fold(await server!.store.readTask(id));
    },
  };
}
