// A stacked bar chart over time (uPlot on a canvas) with a data-table twin for screen
// readers and for when the canvas cannot be drawn.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { shortDate, hhmm } from '../format';

export interface ChartSeries {
  label: string;
  color: string;
  values: number[];
}

export interface StackedBarsProps {
  /** Bucket starts, Unix ms, ascending. */
  xs: number[];
  series: ChartSeries[];
  /** Visible x range, Unix ms. */
  range: [number, number];
  bucket: 'hour' | 'day';
  format: (v: number) => string;
  label: string;
  height?: number;
}

function cssVar(el: Element, name: string, fallback: string): string {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

/**
 * uPlot has no stacking of its own: each drawn series is the cumulative sum of the
 * models below it, drawn tallest first so the shorter bars paint over it. The legend
 * and tooltip values read the raw (non-cumulative) numbers.
 */
function buildOptions(p: StackedBarsProps, width: number, el: Element): uPlot.Options {
  const axis = cssVar(el, '--fg-muted', '#666');
  const grid = cssVar(el, '--grid', 'rgba(128,128,128,0.2)');
  const fmtX = p.bucket === 'hour' ? hhmm : shortDate;
  const bars = uPlot.paths.bars!({ size: [0.7, 48], align: 0 });
  const drawOrder = [...p.series].reverse(); // top of the stack first in the legend
  return {
    width,
    height: p.height ?? 220,
    legend: { show: true, live: false }, // values live in the table twin
    cursor: { points: { show: false }, drag: { x: false, y: false } },
    scales: {
      x: { time: false, range: () => [p.range[0] / 1000, p.range[1] / 1000] },
      y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] },
    },
    axes: [
      {
        stroke: axis,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        // Ticks on bucket starts (about 8 of them), not on uPlot's round numbers.
        splits: () => {
          const every = Math.max(1, Math.ceil(p.xs.length / 8));
          return p.xs.filter((_, i) => i % every === 0).map((x) => x / 1000);
        },
        values: (_u, splits) => splits.map((s) => fmtX(s * 1000)),
      },
      {
        stroke: axis,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        values: (_u, splits) => splits.map((s) => p.format(s)),
        size: 56,
      },
    ],
    series: [
      { label: p.bucket === 'hour' ? 'Hour' : 'Day' },
      ...drawOrder.map((s) => ({
        label: s.label,
        stroke: s.color,
        fill: s.color,
        width: 0,
        paths: bars,
        points: { show: false },
      })),
    ],
  };
}

function buildData(p: StackedBarsProps): uPlot.AlignedData {
  const n = p.xs.length;
  const cumulative: number[][] = [];
  let running = new Array<number>(n).fill(0);
  for (const s of p.series) {
    running = running.map((v, i) => v + (s.values[i] ?? 0));
    cumulative.push(running);
  }
  return [p.xs.map((x) => x / 1000), ...cumulative.reverse()];
}

/** uPlot draws in a microtask after construction, so a missing 2D context must be caught before. */
function canDraw(): boolean {
  try {
    return document.createElement('canvas').getContext('2d') != null;
  } catch {
    return false;
  }
}

export function StackedBars(p: StackedBarsProps) {
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = host.current;
    if (!el || !canDraw()) return; // no canvas (e.g. a test DOM): the table carries the numbers
    let plot: uPlot | null = null;
    const make = () => {
      plot?.destroy();
      plot = null;
      try {
        plot = new uPlot(buildOptions(p, Math.max(240, el.clientWidth), el), buildData(p), el);
      } catch {
        // Drawing failed: the table below still carries the numbers.
      }
    };
    make();
    const ro = typeof ResizeObserver !== 'undefined'
      ? new ResizeObserver(() => plot?.setSize({ width: Math.max(240, el.clientWidth), height: p.height ?? 220 }))
      : null;
    ro?.observe(el);
    const mq = window.matchMedia?.('(prefers-color-scheme: dark)');
    mq?.addEventListener?.('change', make); // axis colours come from CSS variables
    return () => {
      ro?.disconnect();
      mq?.removeEventListener?.('change', make);
      plot?.destroy();
    };
  }, [p.xs, p.series, p.range[0], p.range[1], p.bucket]);

  const fmtX = p.bucket === 'hour' ? hhmm : shortDate;
  return (
    <figure class="chart" aria-label={p.label}>
      <div ref={host} class="chart-canvas" aria-hidden="true" />
      <details class="chart-table">
        <summary>Show as table</summary>
        <table>
          <caption class="sr-only">{p.label}</caption>
          <thead>
            <tr>
              <th scope="col">{p.bucket === 'hour' ? 'Hour' : 'Day'}</th>
              {p.series.map((s) => (
                <th scope="col" key={s.label}>
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {p.xs.map((x, i) => (
              <tr key={x}>
                <th scope="row">{fmtX(x)}</th>
                {p.series.map((s) => (
                  <td key={s.label}>{p.format(s.values[i] ?? 0)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
