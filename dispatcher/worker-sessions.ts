import { status } from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { hasAttemptOut, type TaskState } from "../domain/task/index.ts";
import type { Register } from "../proto/gen/taskstream/v1/workers.ts";
import { WorkerSession, type SessionStream } from "./worker-session.ts";

/** Tells when a session is lost (its absence lasted too long; its host tells of its silence). */
export interface LivenessLimits {
  /** A worker whose stream broke may reconnect within this time and keep its attempts. */
  reconnectGraceMs: number;
}

/**
 * The workers of one partition (joined through their hosts), and which of them holds each attempt. A worker resumes its
 * identity (proven by its resume token before it gets here) and with it the attempts it still
 * holds; a session outlives a broken stream for the reconnect grace, and a silent or vanished one is
 * lost, its attempts to be retried elsewhere (docs/worker-liveness.md).
 */
export class WorkerSessions {
  private readonly byId = new Map<string, WorkerSession>();
  /** Task id → id of the session holding its current attempt. */
  private readonly holders = new Map<string, string>();

  /** Every session, connected or within its reconnect grace. */
  values(): IterableIterator<WorkerSession> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): WorkerSession | undefined {
    return this.byId.get(id);
  }

  /** Whether `session` still speaks for its worker (a newer connection may have resumed the identity). */
  isCurrent(session: WorkerSession): boolean {
    return this.byId.get(session.id) === session;
  }

  /**
   * A worker's Register: a new session, or a reconnect that keeps the previous session's attempts
   * and adopts those the worker lists that the log says are its own. Returns the session and the
   * attempts it held that the worker no longer knows of (an assignment lost in the reconnect).
   */
  register(
    message: Register,
    stream: SessionStream,
    stateOf: (taskId: string) => TaskState | undefined,
    now: number,
  ): { session: WorkerSession; forgotten: [taskId: string, attempt: number][] } {
    const id = message.workerId || uuidv7();
    const info = {
      id,
      name: message.name,
      types: message.types,
      labels: message.labels,
      slots: message.slots,
      sdk: message.sdk,
      // Workers reach a term through their host, which authenticated them (host/worker-host.ts).
      keyId: null,
      namespaces: null,
    };
    const previous = this.byId.get(id);
    const session = new WorkerSession(info, stream, now);
    if (previous) {
      previous.stream?.close(status.CANCELLED, "replaced by a newer connection");
      for (const [taskId, attempt] of previous.attempts) session.attempts.set(taskId, attempt);
    }
    this.byId.set(id, session);
    const reported = new Map(message.active.map((ref) => [ref.taskId, ref.attempt]));
    for (const [taskId, attempt] of reported) {
      const state = stateOf(taskId);
      // Only attempts assigned to this worker: its identity was proven by its resume token.
      if (state && hasAttemptOut(state) && state.attempt === attempt && state.workerId === id) {
        session.attempts.set(taskId, attempt);
        this.holders.set(taskId, id);
      }
    }
    const forgotten: [string, number][] = [];
    for (const [taskId, attempt] of session.attempts)
      if (attempt > 0 && reported.get(taskId) !== attempt) forgotten.push([taskId, attempt]);
    return { session, forgotten };
  }

  /** The stream broke: the session waits for its worker through the reconnect grace. */
  disconnected(session: WorkerSession, now: number): void {
    if (!this.isCurrent(session)) return;
    session.stream = null;
    session.disconnectedAt = now;
  }

  /** Removes and returns the sessions gone past the reconnect grace by `now`. */
  sweep(now: number, limits: LivenessLimits): { session: WorkerSession; reason: string }[] {
    const lost: { session: WorkerSession; reason: string }[] = [];
    for (const session of [...this.byId.values()]) {
      if (session.disconnectedAt !== null && now - session.disconnectedAt > limits.reconnectGraceMs) {
        this.byId.delete(session.id);
        lost.push({ session, reason: "disconnected" });
      }
    }
    return lost;
  }

  /** Removes a session at once (its host reported it lost). */
  remove(session: WorkerSession): void {
    if (this.isCurrent(session)) this.byId.delete(session.id);
  }

  /** The session holding the task's attempt, if any. */
  holderOf(taskId: string): WorkerSession | undefined {
    const id = this.holders.get(taskId);
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** Records that `session` holds the task's attempt (0 while the assignment is being written). */
  hold(taskId: string, session: WorkerSession, attempt: number): void {
    session.attempts.set(taskId, attempt);
    this.holders.set(taskId, session.id);
  }

  /**
   * Forgets who held the task's attempt; returns the session and the attempt when the attempt was
   * still out on it (ended without its result), null otherwise.
   */
  unhold(taskId: string): { session: WorkerSession; attempt: number } | null {
    const id = this.holders.get(taskId);
    if (id === undefined) return null;
    this.holders.delete(taskId);
    const session = this.byId.get(id);
    if (!session) return null;
    session.finishing.delete(taskId);
    const attempt = session.attempts.get(taskId);
    if (attempt === undefined) return null;
    session.attempts.delete(taskId);
    return { session, attempt };
  }

  /** Whether a live session holds this very attempt (running, or its result being written). */
  holds(taskId: string, attempt: number): boolean {
    const holder = this.holderOf(taskId);
    return (
      holder !== undefined &&
      (holder.attempts.get(taskId) === attempt || holder.finishing.get(taskId) === attempt)
    );
  }

  /** Forgets every session (the term is over): the hosts join their workers to the next owner. */
  clear(): void {
    this.byId.clear();
    this.holders.clear();
  }
}
