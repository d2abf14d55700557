// Overview: the zones and the arrays (healthy of total, state) and the
// answers per second over the last minutes, from the history rotor keeps
// (GET /v1/rates), so the chart is drawn at first view.
import { api, enc } from './api.js';
import { LineChart } from './chart.jsx';
import { Badge, ErrorLine, arrayState, usePoll } from './util.jsx';

// rotor closes an interval every 10 s; asking twice as often shows each soon.
const RATES_POLL_SECONDS = 5;

// uPlot's data from GET /v1/rates: x in seconds, one series per array
// (null, a rate rotor does not know, draws as a gap).
function rateSeries(rates) {
  return {
    times: rates.times_ms.map((ms) => ms / 1000),
    series: rates.arrays.map((a) => ({ label: a.name, values: a.answers_per_second })),
  };
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

function AnswersChart() {
  const [rates, error] = usePoll(() => api('GET', '/v1/rates'), RATES_POLL_SECONDS);
  if (error) return <ErrorLine error={error} />;
  if (!rates) return null;
  if (rates.times_ms.length < 1) {
    return <p class="hint">Answers per second appear {rates.interval_seconds} s after rotor starts.</p>;
  }
  const { times, series } = rateSeries(rates);
  return <LineChart times={times} series={series} yLabel="answers/s" windowSeconds={rates.window_seconds} />;
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
          <AnswersChart />
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
