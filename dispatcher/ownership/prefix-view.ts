import { EventEmitter } from "node:events";
import type { Etcd3, Watcher } from "etcd3";

/**
 * A live copy of the keys under an etcd prefix: read whole, then kept current by a watch from the
 * revision read, read whole again whenever the watch breaks (a compacted revision, a lost
 * connection). Announces `changed` after every change.
 */
export class PrefixView extends EventEmitter<{ changed: []; error: [unknown] }> {
  private readonly etcd: Etcd3;
  private readonly prefix: string;
  private readonly values = new Map<string, string>();
  private watcher: Watcher | null = null;
  private closed = false;
  private generation = 0;

  constructor(etcd: Etcd3, prefix: string) {
    super();
    this.etcd = etcd;
    this.prefix = prefix;
  }

  /** The keys (without the prefix) and their values. */
  get entries(): ReadonlyMap<string, string> {
    return this.values;
  }

  async start(): Promise<void> {
    this.closed = false;
    await this.load();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    const watcher = this.watcher;
    this.watcher = null;
    await watcher?.cancel().catch(() => undefined);
  }

  private async load(): Promise<void> {
    const generation = ++this.generation;
    const previous = this.watcher;
    this.watcher = null;
    await previous?.cancel().catch(() => undefined);
    const response = await this.etcd.getAll().prefix(this.prefix).exec();
    if (generation !== this.generation) return;
    this.values.clear();
    for (const kv of response.kvs)
      this.values.set(kv.key.toString().slice(this.prefix.length), kv.value.toString());
    const watcher = await this.etcd
      .watch()
      .prefix(this.prefix)
      .startRevision(String(Number(response.header.revision) + 1))
      .create();
    if (generation !== this.generation) {
      await watcher.cancel().catch(() => undefined);
      return;
    }
    this.watcher = watcher;
    watcher.on("put", (kv) => {
      this.values.set(kv.key.toString().slice(this.prefix.length), kv.value.toString());
      this.emit("changed");
    });
    watcher.on("delete", (kv) => {
      this.values.delete(kv.key.toString().slice(this.prefix.length));
      this.emit("changed");
    });
    const reload = (error?: unknown) => {
      if (this.closed || this.watcher !== watcher) return;
      if (error) this.emit("error", error);
      void this.retry();
    };
    watcher.on("disconnected", reload);
    watcher.on("error", reload);
    this.emit("changed");
  }

  private async retry(): Promise<void> {
    while (!this.closed) {
      try {
        await this.load();
        return;
      } catch (error) {
        this.emit("error", error);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
}
