/** What a long-running operator command reports as it goes. */
export interface ProgressSample {
  /** The step under way ("archive", "log", …). */
  phase: string;
  done: number;
  /** An estimate of `done` at the end (0: unknown). */
  total: number;
  /** Words after the figures: "events", and anything else worth a glance ("12,000 tasks"). */
  unit: string;
  extra?: string;
}

export interface ProgressOptions {
  /** Redraws one line in place (a terminal) instead of printing a line now and then. */
  tty: boolean;
  /** Least time between two redraws on a terminal (default 100 ms). */
  redrawMs?: number;
  /** Least time between two printed lines otherwise (default 5000 ms); a new phase prints at once. */
  lineMs?: number;
  now?: () => number;
}

const WINDOW_MS = 5000;
const BAR = 24;

/**
 * A progress display: on a terminal, a bar redrawn in place with the rate and the time left, one
 * line per phase; on anything else (a log file, CI), a plain line every few seconds, and the first
 * and last figures of each phase. The rate is measured over the last few seconds, the time left
 * from it and the estimated total.
 */
export class ProgressDisplay {
  private readonly write: (text: string) => void;
  private readonly options: Required<Omit<ProgressOptions, "now">> & { now: () => number };
  private readonly samples: { at: number; done: number }[] = [];
  private lastDraw = Number.NEGATIVE_INFINITY;
  private lastPhase = "";
  private drawn = false;
  /** The latest sample not drawn yet: drawn when its phase ends, so each phase's last figures show. */
  private pending: string | null = null;

  constructor(write: (text: string) => void, options: ProgressOptions) {
    this.write = write;
    this.options = { redrawMs: 100, lineMs: 5000, now: Date.now, ...options };
  }

  update(sample: ProgressSample): void {
    const now = this.options.now();
    const newPhase = sample.phase !== this.lastPhase;
    if (newPhase) {
      this.flush();
      if (this.drawn) this.write("\n");
      this.drawn = false;
      this.samples.length = 0;
    }
    this.samples.push({ at: now, done: sample.done });
    while (this.samples.length > 2 && now - this.samples[0]!.at > WINDOW_MS) this.samples.shift();
    this.pending = formatProgress(sample, this.rate(), this.options.tty);
    const wait = this.options.tty ? this.options.redrawMs : this.options.lineMs;
    if (!newPhase && now - this.lastDraw < wait) return;
    this.lastDraw = now;
    this.lastPhase = sample.phase;
    this.flush();
  }

  /** Draws the last figures and ends the line a terminal display was redrawing. */
  end(): void {
    this.flush();
    if (this.drawn) this.write("\n");
    this.drawn = false;
  }

  private flush(): void {
    if (this.pending === null) return;
    if (this.options.tty) {
      this.write(`\r\x1b[2K${this.pending}`);
      this.drawn = true;
    } else this.write(`${this.pending}\n`);
    this.pending = null;
  }

  /** Units per second over the window (0 until two samples span some time). */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at <= first.at) return 0;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }
}

/** One line: phase, bar (terminal only), share, figures, rate, time left. */
export function formatProgress(sample: ProgressSample, ratePerSecond: number, bar: boolean): string {
  const { phase, done, total, unit, extra } = sample;
  const share = total > 0 ? Math.min(1, done / total) : 0;
  const parts = [phase.padEnd(7)];
  if (total > 0) {
    if (bar) {
      const filled = Math.round(share * BAR);
      parts.push(`[${"#".repeat(filled)}${".".repeat(BAR - filled)}]`);
    }
    parts.push(`${Math.floor(share * 100)}%`.padStart(4), `${count(done)}/${count(total)} ${unit}`);
  } else parts.push(`${count(done)} ${unit}`);
  if (ratePerSecond > 0) parts.push(`${count(Math.round(ratePerSecond))} ${unit}/s`);
  if (extra) parts.push(extra);
  if (total > done && ratePerSecond > 0) parts.push(`ETA ${duration((total - done) / ratePerSecond)}`);
  return parts.join("  ");
}

/** 1234567 → "1,234,567". */
export function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Seconds as "42s", "3m05s", "1h02m". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
