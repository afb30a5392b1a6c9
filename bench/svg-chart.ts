/** Line charts as plain SVG (no dependency), for the soak benchmark's plot. */

export interface Series {
  name: string;
  color: string;
  points: [x: number, y: number][];
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
}

const WIDTH = 900;
const PANEL_HEIGHT = 230;
const MARGIN = { left: 70, right: 190, top: 30, bottom: 40 };

const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** A tick step of 1, 2 or 5 × 10^n giving about `count` ticks over `span`. */
function tickStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

const label = (value: number) =>
  Math.abs(value) >= 1000
    ? value.toLocaleString("en-US", { maximumFractionDigits: 0 })
    : String(+value.toPrecision(3));

function panel(p: Panel, top: number, xMax: number, marks: { x: number; label: string }[]): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const ys = p.series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  const yMax = Math.max(1e-9, ...ys) * 1.1;
  const yStep = tickStep(yMax, 5);
  const xStep = tickStep(xMax, 10);
  const sx = (x: number) => MARGIN.left + (x / xMax) * plotW;
  const sy = (y: number) => top + MARGIN.top + plotH - (y / yMax) * plotH;
  const out: string[] = [
    `<text x="${MARGIN.left}" y="${top + 18}" font-size="14" font-weight="bold">${escape(p.title)}</text>`,
    `<text x="14" y="${top + MARGIN.top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${top + MARGIN.top + plotH / 2})" text-anchor="middle">${escape(p.yLabel)}</text>`,
  ];
  for (let y = 0; y <= yMax; y += yStep) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${sy(y)}" y2="${sy(y)}" stroke="#e4e4e4"/>`,
      `<text x="${MARGIN.left - 6}" y="${sy(y) + 4}" font-size="10" text-anchor="end">${label(y)}</text>`,
    );
  }
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    out.push(
      `<line x1="${sx(x)}" x2="${sx(x)}" y1="${top + MARGIN.top}" y2="${top + MARGIN.top + plotH}" stroke="#f0f0f0"/>`,
      `<text x="${sx(x)}" y="${top + MARGIN.top + plotH + 14}" font-size="10" text-anchor="middle">${label(x)}</text>`,
    );
  }
  out.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${top + PANEL_HEIGHT - 6}" font-size="11" text-anchor="middle">minutes</text>`,
    `<rect x="${MARGIN.left}" y="${top + MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
  );
  for (const mark of marks) {
    out.push(
      `<line x1="${sx(mark.x)}" x2="${sx(mark.x)}" y1="${top + MARGIN.top}" y2="${top + MARGIN.top + plotH}" stroke="#c00" stroke-dasharray="4 3"/>`,
      `<text x="${sx(mark.x) + 4}" y="${top + MARGIN.top + 12}" font-size="10" fill="#c00">${escape(mark.label)}</text>`,
    );
  }
  p.series.forEach((s, i) => {
    const path = s.points
      .filter(([, y]) => Number.isFinite(y))
      .map(([x, y], j) => `${j === 0 ? "M" : "L"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join(" ");
    if (path) out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    const ly = top + MARGIN.top + 8 + i * 16;
    const lx = MARGIN.left + plotW + 12;
    out.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.5"/>`,
      `<text x="${lx + 24}" y="${ly + 4}" font-size="11">${escape(s.name)}</text>`,
    );
  });
  return out.join("\n");
}

/** Panels stacked vertically over one x axis (minutes), with dashed vertical marks (e.g. a kill). */
export function chart(
  title: string,
  panels: Panel[],
  xMax: number,
  marks: { x: number; label: string }[] = [],
) {
  const height = 30 + panels.length * PANEL_HEIGHT;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" font-size="15" text-anchor="middle">${escape(title)}</text>`,
    ...panels.map((p, i) => panel(p, 30 + i * PANEL_HEIGHT, Math.max(xMax, 1e-9), marks)),
    "</svg>",
    "",
  ].join("\n");
}
