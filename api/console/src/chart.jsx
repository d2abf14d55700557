// A small uPlot line chart: `series` is [{label, values}], `times` in seconds.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#4d7c0f'];

// `windowSeconds`: the x axis always spans that much up to now, so a few
// samples do not stretch over the whole axis.
export function LineChart({ times, series, width = 640, height = 180, yLabel = '', windowSeconds = 600 }) {
  const box = useRef(null);
  const plot = useRef(null);
  const shape = series.map((s) => s.label).join('\n');
  useEffect(() => {
    const options = {
      width, height,
      scales: {
        x: { time: true, range: () => { const now = Date.now() / 1000; return [now - windowSeconds, now]; } },
        y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{}, { label: yLabel, size: 50 }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2 }))],
      legend: { show: series.length > 0 },
    };
    plot.current = new uPlot(options, [times, ...series.map((s) => s.values)], box.current);
    return () => { plot.current.destroy(); plot.current = null; };
  }, [shape, width, height]);
  useEffect(() => {
    if (plot.current) plot.current.setData([times, ...series.map((s) => s.values)]);
  }, [times, series]);
  return <div class="chart" ref={box} />;
}
