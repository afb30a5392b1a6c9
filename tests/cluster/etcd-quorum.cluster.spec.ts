import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { Worker } from "../../sdk/typescript/src/index.ts";
import { fold } from "../../domain/task/index.ts";
import { eventually, startTestServer } from "../support/server.ts";
import { etcdLeader, etcdMembers, killEtcdMember, reviveNodes } from "../support/cluster-nodes.ts";
import type { RunningServer } from "../../cli/server.ts";

// Long enough that a busy machine does not demote a healthy leader between the failures under test.
const TTL_SECONDS = 6;

/**
 * The dispatcher on a three-member etcd: one member lost, the etcd leader lost, the quorum lost and
 * regained. Each case submits work around the failure and requires every task to finish once.
 */
describe("a three-member etcd", () => {
  let server: RunningServer;
  let worker: Worker;
  const runs = new Map<string, number>();

  beforeAll(async () => {
    server = await startTestServer(
      { roles: new Set(["api", "dispatcher"]), leaseTtlSeconds: TTL_SECONDS },
      "etcd-chaos",
    );
    await eventually(() => (server.dispatcher!.leading ? true : undefined), 20_000, "leadership");
    worker = new Worker({
      addresses: [server.grpcAddress],
      name: "etcd-chaos",
      slots: 20,
      handlers: {
        work: async (payload: unknown, ctx) => {
          runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
          await Promise.resolve();
          return payload;
        },
      },
    });
    await worker.start();
  });

  afterEach(async () => {
    await reviveNodes();
    await etcdLeader();
  });

  afterAll(async () => {
    await worker?.stop({ graceMs: 1000 });
    await server?.close();
  });

  const submit = async (count: number, tag: string): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const reply = await fetch(`${server.httpUrl}/v1/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "work", payload: { tag, i }, idempotencyKey: `${tag}-${i}` }),
      });
      expect(reply.status).toBe(201);
      ids.push(((await reply.json()) as { id: string }).id);
    }
    return ids;
  };

  const finishedOnce = async (ids: string[]) => {
    await eventually(
      async () => {
        for (const id of ids)
          if (fold(await server.store.readTask(id)).state !== "SUCCEEDED") return undefined;
        return true;
      },
      60_000,
      "every task SUCCEEDED",
    );
    for (const id of ids) {
      const history = await server.store.readTask(id);
      expect(history.filter((e) => e.type === "TaskSucceeded")).toHaveLength(1);
    }
  };

  it("loses one member: dispatch goes on", async () => {
    const follower = (await etcdMembers()).find((m) => !m.isLeader)!;
    killEtcdMember(follower.name);
    await eventually(
      async () => ((await etcdMembers()).length === 2 ? true : undefined),
      10_000,
      "two members",
    );
    const ids = await submit(30, "one-lost");
    await finishedOnce(ids);
    expect(server.dispatcher!.leading).toBe(true);
  });

  it("loses the etcd leader: another member leads, the dispatcher keeps or regains the lease, nothing is lost", async () => {
    const before = await submit(30, "leader-before");
    const leader = await etcdLeader();
    killEtcdMember(leader);
    const during = await submit(30, "leader-during");
    const next = await etcdLeader();
    expect(next).not.toBe(leader);
    await eventually(() => (server.dispatcher!.leading ? true : undefined), 30_000, "a dispatcher leads");
    await finishedOnce([...before, ...during, ...(await submit(30, "leader-after"))]);
  });

  it("loses the quorum: the leader stops before its lease can expire and is not ready; regains it: work resumes", async () => {
    const leadership = server.dispatcher!.leadership;
    expect(server.dispatcher!.leading).toBe(true);
    // The last keepalive etcd answered: the lease cannot expire before that moment plus its TTL.
    const lastKeepalive = () => (leadership as unknown as { lastKeepaliveAt: number }).lastKeepaliveAt;
    const demoted = once(leadership, "demoted").then(() => ({ at: Date.now(), keepalive: lastKeepalive() }));
    const members = await etcdMembers();
    for (const member of members.slice(0, 2)) killEtcdMember(member.name);

    const { at, keepalive } = await demoted;
    expect(at).toBeLessThan(keepalive + TTL_SECONDS * 1000);
    expect(server.dispatcher!.leading).toBe(false);
    expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(503);
    // Submissions go on (the log is in Redis) but nobody dispatches them without a quorum.
    const during = await submit(30, "quorum-lost");
    expect(during.filter((id) => runs.has(id))).toEqual([]);

    await reviveNodes();
    await etcdLeader();
    await eventually(() => (server.dispatcher!.leading ? true : undefined), 30_000, "leading again");
    expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(200);
    await finishedOnce([...during, ...(await submit(30, "quorum-back"))]);
  });
});
