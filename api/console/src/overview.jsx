// Overview: the zones and the arrays (healthy of total, state) and the
// answers per second from /metrics, sampled while the console is open.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, metrics } from './api.js';
import { LineChart } from './chart.jsx';
import { Badge, ErrorLine, arrayState, usePoll } from './util.jsx';

const SAMPLE_SECONDS = 5;
const KEPT_SAMPLES = 120;  // ten minutes
// Kept across pages: [{t (s), totals: {array: answers}}], oldest first.
const samples = [];

async function sampleAnswers() {
  const families = await metrics();
  const totals = {};
  for (const { labels, value } of families.rotor_array_answers_total || []) {
    totals[labels.array] = (totals[labels.array] || 0) + value;
  }
  samples.push({ t: Date.now() / 1000, totals });
  if (samples.length > KEPT_SAMPLES) samples.shift();
}

// Answers per second between consecutive samples, per array.
function rates(names) {
  const times = [];
  const values = names.map(() => []);
  for (let i = 1; i < samples.length; i++) {
    const span = samples[i].t - samples[i - 1].t;
    times.push(samples[i].t);
    names.forEach((name, k) => {
      const delta = (samples[i].totals[name] || 0) - (samples[i - 1].totals[name] || 0);
      values[k].push(span > 0 ? Math.max(0, delta) / span : 0);
    });
  }
  return { times, series: names.map((name, k) => ({ label: name, values: values[k] })) };
}

async function loadOverview() {
  const [zones, arrays] = await Promise.all([api('GET', '/v1/zones'), api('GET', '/v1/arrays')]);
  const rows = await Promise.all(arrays.arrays.map(async (array) => {
    const [health, explain] = await Promise.all([
      api('GET', `/v1/arrays/${enc(array.name)}/health`),
      api('GET', `/v1/explain?name=${enc(array.name)}`).catch(() => null),
    ]);
    const enabled = health.instances.filter((i) => i.state === 'enabled');
    const healthy = enabled.filter((i) => i.health === 'up').length;
    return { ...array, healthy, total: health.instances.length, state: arrayState(explain) };
  }));
  return { zones: zones.zones, arrays: rows };
}

function AnswersChart({ names }) {
  const [, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const sample = () => sampleAnswers().then(() => live && setTick((t) => t + 1)).catch(() => {});
    // A second sample soon after the first, so the chart has a rate at once.
    sample();
    const soon = setTimeout(sample, 1000);
    const timer = setInterval(sample, SAMPLE_SECONDS * 1000);
    return () => { live = false; clearTimeout(soon); clearInterval(timer); };
  }, []);
  const { times, series } = rates(names);
  if (times.length < 1) return <p class="hint">Answers per second appear after two samples.</p>;
  return <LineChart times={times} series={series} yLabel="answers/s" windowSeconds={KEPT_SAMPLES * SAMPLE_SECONDS} />;
}

export function Overview() {
  const [data, error] = usePoll(loadOverview, 5);
  return (
    <section>
      <h1>Overview</h1>
      <ErrorLine error={error} />
      {data && (
        <>
          <h2>Arrays</h2>
          <table class="arrays">
            <thead><tr><th>array</th><th>policy</th><th>healthy / total</th><th>state</th><th>TTL</th></tr></thead>
            <tbody>
              {data.arrays.map((a) => (
                <tr key={a.name} data-array={a.name}>
                  <td><a href={`#/arrays/${enc(a.name)}`}>{a.name}</a></td>
                  <td>{a.policy}</td>
                  <td class="healthy">{a.healthy} / {a.total}</td>
                  <td><Badge value={a.state} /></td>
                  <td>{a.ttl}</td>
                </tr>
              ))}
              {data.arrays.length === 0 && <tr><td colspan="5">No arrays yet.</td></tr>}
            </tbody>
          </table>
          <h2>Answers per second</h2>
          <AnswersChart names={data.arrays.map((a) => a.name)} />
          <h2>Zones</h2>
          <table>
            <thead><tr><th>origin</th><th>serial</th><th>source</th><th>records</th></tr></thead>
            <tbody>
              {data.zones.map((z) => (
                <tr key={z.origin}><td>{z.origin}</td><td>{z.serial}</td><td>{z.source}</td><td>{z.records}</td></tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
