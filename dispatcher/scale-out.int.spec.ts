import { afterEach, describe, expect, it } from "vitest";
import { TaskCommands } from "../commands/task-commands.ts";
import { fold } from "../domain/task/index.ts";
import { RawWorker } from "../tests/support/raw-worker.ts";
import { eventually, startTestServer } from "../tests/support/server.ts";
import { uniquePrefix } from "../tests/support/services.ts";
import type { RunningServer } from "../cli/server.ts";

const noTrace = { traceparent: null, tracestate: null };
const SLOTS = 3;

/**
 * Several dispatchers share the partitions (docs/partition-ownership.md): each partition has one
 * owner, a worker connected to any dispatcher is offered every partition's tasks, and its slots are
 * never over-committed across the owners.
 */
describe("dispatchers sharing the partitions", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  const start = async (prefix: string, name: string) => {
    // Raw workers do not heartbeat: a long timeout keeps them connected through the test.
    const server = await startTestServer(
      { prefix, roles: new Set(["api", "dispatcher"]), heartbeatTimeoutMs: 120_000 },
      name,
    );
    cleanup.push(() => server.close());
    return server;
  };
  const worker = (server: RunningServer) => {
    const w = new RawWorker(server.grpcAddress);
    cleanup.push(() => w.close());
    return w;
  };
  /** Each partition owned by exactly one of the servers, every server leading its share. */
  const settled = (servers: RunningServer[], partitions: number) =>
    eventually(
      () => {
        const owned = servers.map((s) => [...s.dispatcher!.partitions.keys()]);
        const all = owned.flat();
        const [least, most] = [
          Math.floor(partitions / servers.length),
          Math.ceil(partitions / servers.length),
        ];
        const spread = owned.every((mine) => mine.length >= least && mine.length <= most);
        const leading = servers.every((s) => s.dispatcher!.leading);
        return spread && leading && all.length === partitions && new Set(all).size === partitions
          ? owned
          : undefined;
      },
      30_000,
      "partitions spread over the dispatchers",
    ).catch((error: unknown) => {
      // Say who owned what, and who led, when they did not settle.
      const state = servers.map((s) => ({
        owns: [...s.dispatcher!.partitions.keys()],
        leading: s.dispatcher!.leading,
      }));
      throw new Error(`${(error as Error).message}: ${JSON.stringify(state)}`);
    });

  /**
   * Takes assignments until every task is done, completing them SLOTS at a time — so the owners
   * must wait for credits coming back — and returns the most it ever held at once.
   */
  const drain = async (w: RawWorker, ids: Set<string>, servers: RunningServer[]) => {
    const running = new Map<string, number>();
    const done = new Set<string>();
    let most = 0;
    while (done.size < ids.size) {
      const assignment = await w.next("assignment", 15_000).catch((error: unknown) => {
        // What the worker's host and the owners knew when it waited in vain.
        const state = servers.map((s) => ({
          owns: [...s.dispatcher!.partitions.keys()],
          ledgers: s.dispatcher!.hostedLedgers(),
          terms: [...s.dispatcher!.owner.terms.values()].map((t) => ({
            p: t.partition,
            ready: t.ready.size,
            sessions: [...t.sessions.values()].map((x) => [x.slots, x.attempts.size, x.stream !== null]),
          })),
        }));
        throw new Error(`${(error as Error).message}; running ${running.size}: ${JSON.stringify(state)}`);
      });
      running.set(assignment.taskId, assignment.attempt);
      most = Math.max(most, running.size);
      if (running.size === SLOTS || done.size + running.size === ids.size) {
        for (const [taskId, attempt] of running) {
          w.send({ $case: "completed", value: { taskId, attempt, resultJson: "1" } });
          done.add(taskId);
        }
        running.clear();
      }
    }
    return { done, most };
  };

  it("spreads the partitions over three dispatchers; a worker on one is offered every partition's tasks, never more at once than its slots", async () => {
    const prefix = uniquePrefix("spread");
    const servers = [await start(prefix, "d1"), await start(prefix, "d2"), await start(prefix, "d3")];
    const partitions = servers[0]!.store.partitions;
    const owned = await settled(servers, partitions);
    expect(owned.flat().sort((x, y) => x - y)).toEqual([...Array(partitions).keys()]);

    const commands = new TaskCommands(servers[0]!.store, { maxPayloadBytes: 1 << 20 });
    const ids = new Set<string>();
    for (let i = 0; i < 60; i++) ids.add((await commands.submit({ type: "spread", payload: i }, noTrace)).id);
    const touched = new Set([...ids].map((id) => servers[0]!.store.partitionOf(id)));
    expect(touched.size).toBeGreaterThan(1);

    // One worker with three slots, on the third dispatcher: it completes each task it is given.
    const w = worker(servers[2]!);
    await w.register(["spread"], { slots: SLOTS });
    const { done, most } = await drain(w, ids, servers);
    expect(done).toEqual(ids);
    expect(most).toBeLessThanOrEqual(SLOTS);
    for (const id of ids)
      await eventually(
        async () => (fold(await servers[0]!.store.readTask(id)).state === "SUCCEEDED" ? true : undefined),
        10_000,
        `task ${id} succeeded`,
      );
  }, 90_000);

  it("keeps a worker's slots lent while the partitions move to dispatchers joining", async () => {
    const prefix = uniquePrefix("moving-credits");
    const first = await start(prefix, "m1");
    const partitions = first.store.partitions;
    await settled([first], partitions);
    const commands = new TaskCommands(first.store, { maxPayloadBytes: 1 << 20 });
    const ids = new Set<string>();
    for (let i = 0; i < 90; i++) ids.add((await commands.submit({ type: "moving", payload: i }, noTrace)).id);
    const w = worker(first);
    await w.register(["moving"], { slots: SLOTS });
    const servers = [first];
    const [{ done, most }] = await Promise.all([
      drain(w, ids, servers),
      (async () => {
        servers.push(await start(prefix, "m2"));
        servers.push(await start(prefix, "m3"));
      })(),
    ]);
    expect(done).toEqual(ids);
    expect(most).toBeLessThanOrEqual(SLOTS);
    await settled(servers, partitions);
  }, 90_000);

  it("rebalances when dispatchers join and hands over when one stops: every task runs exactly once", async () => {
    const prefix = uniquePrefix("rebalance");
    const first = await start(prefix, "r1");
    const partitions = first.store.partitions;
    await settled([first], partitions);
    const commands = new TaskCommands(first.store, { maxPayloadBytes: 1 << 20 });

    // Workers on the first dispatcher; submissions continue while the membership changes.
    const w = worker(first);
    await w.register(["moving"], { slots: 20 });
    const ids: string[] = [];
    const assigned: string[] = [];
    let stop = false;
    const serve = (async () => {
      while (!stop || assigned.length < ids.length) {
        const a = await w.next("assignment", 30_000);
        assigned.push(a.taskId);
        w.send({ $case: "completed", value: { taskId: a.taskId, attempt: a.attempt, resultJson: "1" } });
      }
    })();
    const submit = async (n: number) => {
      for (let i = 0; i < n; i++)
        ids.push((await commands.submit({ type: "moving", payload: i }, noTrace)).id);
    };

    await submit(40);
    const second = await start(prefix, "r2");
    const third = await start(prefix, "r3");
    await Promise.all([submit(80), settled([first, second, third], partitions)]);
    expect(first.dispatcher!.partitions.size).toBeLessThan(partitions);

    // The third stops: it hands its partitions over, the others take them.
    const handedOver = [...third.dispatcher!.partitions.keys()];
    await Promise.all([third.close(), submit(40)]);
    await settled([first, second], partitions);
    for (const p of handedOver)
      expect(first.dispatcher!.partitions.has(p) || second.dispatcher!.partitions.has(p)).toBe(true);
    await submit(20);

    stop = true;
    await serve;
    expect(new Set(assigned)).toEqual(new Set(ids));
    expect(assigned.length).toBe(ids.length);
    for (const id of ids) {
      const state = await eventually(
        async () => {
          const s = fold(await first.store.readTask(id));
          return s.state === "SUCCEEDED" ? s : undefined;
        },
        10_000,
        `task ${id} succeeded`,
      );
      expect(state.attempt).toBe(1);
    }
  });
});
