/** A due time and what it is for. */
export interface Timer {
  at: number;
  taskId: string;
  /** due: a delayed task becomes ready; deadline: start-to-close; expire: schedule-to-start; heartbeat: silence of an attempt. */
  kind: "due" | "deadline" | "expire" | "heartbeat";
  /** What the timer was set for — the task's version (due) or attempt (deadline); it is stale once that moves on. */
  token: number;
}

/** A binary min-heap of timers by due time. Stale timers are discarded by the caller when they fire. */
export class TimerQueue {
  private readonly heap: Timer[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): Timer | undefined {
    return this.heap[0];
  }

  push(timer: Timer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  /** Removes and returns every timer due at or before `now`, earliest first. */
  popDue(now: number): Timer[] {
    const due: Timer[] = [];
    while (this.heap.length > 0 && this.heap[0]!.at <= now) due.push(this.pop()!);
    return due;
  }

  clear(): void {
    this.heap.length = 0;
  }

  /** Keeps only the timers `live` accepts (drops the stale ones), in O(n). */
  retain(live: (timer: Timer) => boolean): void {
    const kept = this.heap.filter(live);
    this.heap.length = 0;
    for (const timer of kept.sort((a, b) => a.at - b.at)) this.heap.push(timer);
  }

  private pop(): Timer | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && heap[left]!.at < heap[smallest]!.at) smallest = left;
        if (right < heap.length && heap[right]!.at < heap[smallest]!.at) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}
