// Deliveries per hour over the last 24 hours, stacked by outcome, drawn with uPlot on a canvas. A summary in text
// goes with it for screen readers and for anyone who cannot tell the colours apart.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { WebhookStats } from "../api";

const COLORS = { succeeded: "#16a34a", failed: "#dc2626", pending: "#d97706" };

export function DeliveryChart({ stats }: { stats: WebhookStats }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const x = stats.hourly.map((h) => new Date(h.hour).getTime() / 1000);
    const succeeded = stats.hourly.map((h) => h.succeeded);
    const failed = stats.hourly.map((h, i) => succeeded[i] + h.failed);
    const total = stats.hourly.map((h, i) => failed[i] + h.pending);
    // Stacked by drawing the running totals from the tallest down: each bar covers the one behind it.
    const bars = uPlot.paths.bars!({ size: [0.7, 28], align: 0 });
    const series = (label: string, color: string): uPlot.Series => ({ label, fill: color, stroke: color, width: 0, paths: bars, points: { show: false } });
    const plot = new uPlot(
      {
        width: Math.max(280, el.clientWidth),
        height: 180,
        legend: { show: false },
        cursor: { show: false },
        padding: [8, 8, 0, 0],
        // Half an hour of room either side, so the first and last bars are whole.
        scales: { x: { time: true, range: (_u, min, max) => [min - 1800, max + 1800] }, y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
        axes: [
          { stroke: "#6b7280", grid: { show: false }, ticks: { show: false }, font: "11px system-ui, sans-serif", space: 60 },
          { stroke: "#6b7280", grid: { stroke: "#eef0f3", width: 1 }, ticks: { show: false }, font: "11px system-ui, sans-serif", size: 36, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000] },
        ],
        series: [{}, series("Pending", COLORS.pending), series("Failed", COLORS.failed), series("Succeeded", COLORS.succeeded)],
      },
      [x, total, failed, succeeded],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [stats]);
  const peak = Math.max(...stats.hourly.map((h) => h.succeeded + h.failed + h.pending));
  return (
    <figure class="chart">
      <div ref={box} class="chart-canvas" role="img"
        aria-label={`Deliveries per hour over the last 24 hours: ${stats.succeeded} succeeded, ${stats.failed} failed, ${stats.pending} pending; at most ${peak} in one hour.`} />
      <figcaption class="legend">
        <span><i class="swatch swatch-succeeded" aria-hidden="true" /> Succeeded {stats.succeeded}</span>
        <span><i class="swatch swatch-failed" aria-hidden="true" /> Failed {stats.failed}</span>
        <span><i class="swatch swatch-pending" aria-hidden="true" /> Pending {stats.pending}</span>
      </figcaption>
    </figure>
  );
}
