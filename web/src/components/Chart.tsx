// A small time-series chart on uPlot (canvas, ~20 KB), sized to its box and themed.
import { useEffect, useRef } from "react";
import { useComputedColorScheme } from "@mantine/core";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: (number | null)[];
  color: string;
}

interface Props {
  title: string;
  times: number[]; // epoch seconds
  series: Series[];
  stacked?: boolean;
  height?: number;
  unit?: string;
}

function stack(series: Series[]): Series[] {
  const sums: number[] = [];
  return series.map((s) => ({
    ...s,
    values: s.values.map((v, i) => (sums[i] = (sums[i] ?? 0) + (v ?? 0))),
  }));
}

export function Chart({ title, times, series, stacked = false, height = 200, unit = "" }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const dark = useComputedColorScheme("light") === "dark";

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const axis = dark ? "#c1c2c5" : "#495057";
    const grid = dark ? "#373a40" : "#e9ecef";
    const shown = stacked ? stack(series) : series;
    const plot = new uPlot(
      {
        width: Math.max(el.clientWidth, 200),
        height,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [
          { stroke: axis, grid: { stroke: grid } },
          { stroke: axis, grid: { stroke: grid }, values: (_u, ticks) => ticks.map((t) => `${t}${unit}`) },
        ],
        series: [
          {},
          ...shown.map((s) => ({
            label: s.label,
            stroke: s.color,
            fill: stacked ? `${s.color}55` : undefined,
            width: 2,
            // Sparse data (a few requests) has lone points that no line joins: draw them.
            points: { show: s.values.filter((v) => v !== null).length < 12, size: 5 },
            spanGaps: true,
          })),
        ],
      },
      [times, ...shown.map((s) => s.values)] as uPlot.AlignedData,
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times, series, stacked, height, unit, dark]);

  // The canvas is not readable by screen readers: the label says what it is, and the totals
  // beside it carry the numbers.
  return <div ref={box} role="img" aria-label={title} className="chart" />;
}
