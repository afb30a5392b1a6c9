/**
 * A progress bar on stderr for long work (verify, bulk retry): redrawn in place on a terminal and
 * ended with a summary line; nothing at all on anything else (a pipe, a log file), where stdout
 * carries the result.
 */
export class ProgressBar {
  private drawn = 0;
  private readonly label: string;
  private total: number;
  private readonly stream: NodeJS.WriteStream;
  private readonly live: boolean;

  constructor(
    label: string,
    total: number,
    stream: NodeJS.WriteStream = process.stderr,
    live = Boolean(stream.isTTY),
  ) {
    this.label = label;
    this.total = total;
    this.stream = stream;
    this.live = live;
  }

  /** Sets how far the work is (and the total, when it has grown). */
  update(current: number, total = this.total): void {
    this.total = Math.max(total, current);
    // At most one redraw per percent: a bar that redraws per item costs more than the work.
    const step = Math.max(1, Math.floor(this.total / 100));
    if (!this.live || (current - this.drawn < step && current < this.total)) return;
    this.drawn = current;
    this.stream.write(`\r${renderBar(this.label, current, this.total)}`);
  }

  /** Ends the bar with a summary line (on a terminal; stdout carries the result either way). */
  done(summary: string): void {
    if (this.live) this.stream.write(`\r\x1b[2K${this.label}: ${summary}\n`);
  }
}

/** `label [#####.....]  50% 5/10` in a fixed width. */
export function renderBar(label: string, current: number, total: number, width = 30): string {
  const share = total <= 0 ? 1 : Math.min(1, current / total);
  const filled = Math.round(share * width);
  const percent = `${Math.floor(share * 100)}%`.padStart(4);
  return `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${percent} ${current}/${total}`;
}
