import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Line {
  label: string;
  color: string;
  values: (number | null)[];
  /** Mark each point (for sparse series, where a lone value would draw no line). */
  points?: boolean;
}

/**
 * A time-series line chart (uPlot): x is Unix seconds, each line one series. Resizes with its box;
 * the numbers are also given as a table for screen readers (the canvas is decorative to them).
 */
export function Chart(props: {
  title: string;
  times: number[];
  lines: Line[];
  unit?: string;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = props.lines.map((l) => l.label).join("|");
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const chart = new uPlot(
      {
        width: Math.max(200, element.clientWidth),
        height: props.height ?? 180,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{}, { size: 56, values: (_u, ticks) => ticks.map((t) => `${t}${props.unit ?? ""}`) }],
        series: [
          {},
          ...props.lines.map((l) => ({
            label: l.label,
            stroke: l.color,
            width: 2,
            spanGaps: l.points === true,
            points: { show: l.points === true, size: 5 },
          })),
        ],
      },
      [props.times, ...props.lines.map((l) => l.values)],
      element,
    );
    plot.current = chart;
    const observer = new ResizeObserver(() =>
      chart.setSize({ width: Math.max(200, element.clientWidth), height: props.height ?? 180 }),
    );
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of lines changes; new data goes through setData below.
  }, [shape]);
  useEffect(() => {
    plot.current?.setData([props.times, ...props.lines.map((l) => l.values)]);
  }, [props.times, props.lines]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} aria-hidden="true" />
    </figure>
  );
}
