import { ANONYMOUS } from "../auth/principal.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { TasksProjector } from "../projections/tasks-projector.ts";
import {
  createReadModelFixture,
  newTaskId,
  on,
  taskSpec,
  type ReadModelFixture,
} from "../projections/testing/read-model-fixture.ts";
import { readApiPlugin } from "./plugin.ts";
import { taskUpdatesChannel } from "../projections/task-row.ts";

interface Message {
  id?: string;
  type: string;
  payload?: {
    data?: Record<
      string,
      { id: string; state: string; version: number; result: unknown; events: { type: string }[] }
    >;
  };
}

/** A minimal graphql-transport-ws client on Node's WebSocket. */
async function connect(url: string) {
  const socket = new WebSocket(url, "graphql-transport-ws");
  const inbox: Message[] = [];
  let wake = () => {};
  socket.addEventListener("message", (event: MessageEvent) => {
    inbox.push(JSON.parse(String(event.data)) as Message);
    wake();
  });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  /** The first message (taken from the inbox) that matches, waiting up to timeoutMs for it. */
  const next = async (match: (m: Message) => boolean, timeoutMs = 5000): Promise<Message | undefined> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = inbox.findIndex(match);
      if (index >= 0) return inbox.splice(index, 1)[0];
      if (Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  const send = (message: Record<string, unknown>) => socket.send(JSON.stringify(message));
  send({ type: "connection_init" });
  if (!(await next((m) => m.type === "connection_ack"))) throw new Error("no connection_ack");
  return { send, next, close: () => socket.close() };
}

describe("read API subscriptions over a real WebSocket", () => {
  let fx: ReadModelFixture;
  let app: FastifyInstance;
  let projector: TasksProjector;
  let url: string;

  beforeAll(async () => {
    fx = await createReadModelFixture("subs");
    projector = new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool });
    app = Fastify();
    await app.register(readApiPlugin, {
      authenticate: async () => ANONYMOUS,
      pool: fx.pool,
      redis: fx.redis,
      prefix: fx.prefix,
      graphiql: false,
    });
    url = (await app.listen({ host: "127.0.0.1", port: 0 })).replace("http", "ws") + "/graphql";
  });
  afterAll(async () => {
    try {
      await app?.close();
    } finally {
      await fx?.close();
    }
  });

  it("delivers a task's updates and the filtered stream of all tasks once the projector commits them", async () => {
    const id = newTaskId();
    const other = newTaskId();
    await fx.store.append(id, 0, [
      on.submitted(1000, taskSpec({ type: "watched" })),
      on.assigned(1, 1001),
      on.started(1, 1002),
    ]);
    await projector.catchUp();
    const client = await connect(url);
    try {
      client.send({
        id: "filtered",
        type: "subscribe",
        payload: {
          query: `subscription { tasksUpdated(filter: { type: "watched", state: SUCCEEDED }) { id state } }`,
        },
      });
      client.send({
        id: "one",
        type: "subscribe",
        payload: {
          query: `subscription($id: ID!) { taskUpdated(id: $id) { id state version result events { type } } }`,
          variables: { id },
        },
      });
      // The server subscribes asynchronously (in the order asked): project progress until the first update arrives.
      let version = 3;
      let first: Message | undefined;
      for (let tries = 0; !first && tries < 40; tries++) {
        await fx.store.append(id, version, [on.progress(1, 1003 + version, { step: version })]);
        version++;
        await projector.catchUp();
        first = await client.next((m) => m.id === "one" && m.type === "next", 250);
      }
      expect(first?.payload?.data?.taskUpdated).toMatchObject({ id, state: "RUNNING" });

      await fx.store.append(other, 0, [on.submitted(2000, taskSpec({ type: "ignored" }))]);
      await fx.store.append(id, version, [on.succeeded(1, 5000, { done: true })]);
      await projector.catchUp();
      const succeeded = await client.next(
        (m) => m.id === "one" && m.type === "next" && m.payload?.data?.taskUpdated?.state === "SUCCEEDED",
      );
      const task = succeeded?.payload?.data?.taskUpdated;
      expect(task).toMatchObject({ id, state: "SUCCEEDED", version: version + 1, result: { done: true } });
      expect(task?.events).toHaveLength(version + 1);
      expect(task?.events.at(-1)).toEqual({ type: "TaskSucceeded" });
      const filtered = await client.next((m) => m.id === "filtered" && m.type === "next");
      expect(filtered?.payload?.data?.tasksUpdated).toEqual({ id, state: "SUCCEEDED" });
      expect(await client.next((m) => m.id === "filtered", 300)).toBeUndefined();
    } finally {
      client.close();
    }
  });

  it("listens to the projector's channel only while a subscription is open", async () => {
    const listeners = async () => {
      const reply = (await fx.redis.pubsub("NUMSUB", taskUpdatesChannel(fx.prefix))) as [string, number];
      return Number(reply[1]);
    };
    await expect.poll(listeners).toBe(0);
    const id = newTaskId();
    await fx.store.append(id, 0, [on.submitted(1000, taskSpec({ type: "watched" }))]);
    await projector.catchUp();
    const client = await connect(url);
    try {
      const watch = (subscription: string) =>
        client.send({
          id: subscription,
          type: "subscribe",
          payload: {
            query: `subscription($id: ID!) { taskUpdated(id: $id) { id version } }`,
            variables: { id },
          },
        });
      watch("first");
      await expect.poll(listeners).toBe(1);
      await fx.store.append(id, 1, [on.assigned(1, 1001)]);
      await projector.catchUp();
      expect(
        (await client.next((m) => m.id === "first" && m.type === "next"))?.payload?.data?.taskUpdated,
      ).toEqual({
        id,
        version: 2,
      });
      client.send({ id: "first", type: "complete" });
      await expect.poll(listeners).toBe(0);

      watch("second");
      await expect.poll(listeners).toBe(1);
      await fx.store.append(id, 2, [on.started(1, 1002)]);
      await projector.catchUp();
      expect(
        (await client.next((m) => m.id === "second" && m.type === "next"))?.payload?.data?.taskUpdated,
      ).toEqual({
        id,
        version: 3,
      });
    } finally {
      client.close();
    }
    await expect.poll(listeners).toBe(0);
  });
});
