import { afterEach } from "vitest";
import { Worker } from "../src/worker.ts";
import type { Logger, WorkerOptions } from "../src/types.ts";
import { FakeDispatcher, type FakeOptions } from "./fake-dispatcher.ts";

/** Keeps test output clean; warnings are still collected for assertions. */
export const quietLogger = (): Logger & { warnings: string[] } => {
  const warnings: string[] = [];
  return { debug() {}, info() {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m), warnings };
};

const workers: Worker[] = [];
const fakes: FakeDispatcher[] = [];

/** Starts a fake dispatcher that is shut down after the test. */
export async function fakeDispatcher(options: FakeOptions = {}): Promise<FakeDispatcher> {
  const fake = await FakeDispatcher.start(options);
  fakes.push(fake);
  return fake;
}

/** A worker that is stopped after the test (with no grace, so a hung handler cannot hang the suite). */
export function worker(
  options: Partial<WorkerOptions> & Pick<WorkerOptions, "addresses" | "handlers">,
): Worker {
  const created = new Worker({ logger: quietLogger(), ...options });
  workers.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(
    workers.splice(0).map((w) => w.stop({ graceMs: 0, settleMs: 0, flushMs: 0 }).catch(() => {})),
  );
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

/** A promise with its resolve function, to hold a handler until the test lets it go. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** A handler that answers its payload. */
export const echo = (payload: unknown): Promise<unknown> => Promise.resolve(payload);
