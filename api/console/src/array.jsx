// One array: its instances (health, why, last check, effective weight),
// each one's health over the last 24 h, actions that ask first, and its settings.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api, enc, errorText } from './api.js';
import { timelines } from './timeline.js';
import { Badge, Confirm, ErrorLine, time, usePoll } from './util.jsx';

const DAY_MS = 24 * 3600 * 1000;

async function loadArray(name) {
  const path = `/v1/arrays/${enc(name)}`;
  const [array, health, explain] = await Promise.all([
    api('GET', path), api('GET', `${path}/health`),
    api('GET', `/v1/explain?name=${enc(name)}`).catch(() => null),
  ]);
  const toMs = Date.now();
  const fromMs = toMs - DAY_MS;
  let events = [];
  for (let since = 0, page = 0; page < 5; page++) {
    const reply = await api('GET', `/v1/events?array=${enc(name)}&from_ms=${fromMs}&since=${since}&limit=1000`);
    events = events.concat(reply.events);
    if (reply.events.length < 1000) break;
    since = reply.next;
  }
  const byId = Object.fromEntries(health.instances.map((i) => [i.id, i]));
  const explained = Object.fromEntries(((explain && explain.array && explain.array.instances) || []).map((i) => [i.id, i]));
  const instances = array.instances.map((i) => {
    const seen = explained[i.id];
    return {
      ...i, ...(byId[i.id] || {}), weight: i.weight, region: i.region,
      effective: seen ? (seen.candidate ? i.weight : 0) : null,
      why: seen ? seen.reason : '',
    };
  });
  return { name, array, instances, timeline: timelines(events, instances, fromMs, toMs), fromMs, toMs };
}

function Timeline({ stretches, fromMs, toMs }) {
  const span = toMs - fromMs;
  return (
    <div class="timeline" title="the last 24 hours">
      {stretches.map((s) => (
        <span class={`stretch stretch-${s.status}`} title={`${s.status} from ${time(s.from)} to ${time(s.to)}`}
          style={{ left: `${((s.from - fromMs) / span) * 100}%`, width: `${((s.to - s.from) / span) * 100}%` }} />
      ))}
    </div>
  );
}

// In a cluster: each observing node's view and the quorum's decision.
function Observers({ instance }) {
  const observers = instance.observers || [];
  if (observers.length < 2) return null;
  return (
    <ul class="observers" title={instance.quorum ? instance.quorum.decision : ''}>
      {observers.map((o) => (
        <li key={o.node}>{o.node}: {o.health}{o.abstaining ? ' (abstains)' : ''}{o.counted ? '' : ' (not counted)'}</li>
      ))}
    </ul>
  );
}

const SETTINGS = [
  ['policy', 'select', ['round_robin', 'weighted', 'geo', 'sticky']],
  ['ttl', 'number'], ['degraded_ttl', 'number'], ['max_answers', 'number'],
  ['when_all_down', 'select', ['all', 'none']], ['min_healthy', 'number'],
];

function Settings({ array, onSaved, setError }) {
  const [draft, setDraft] = useState({});
  const value = (key) => (key in draft ? draft[key] : array[key]);
  const save = async (event) => {
    event.preventDefault();
    const patch = {};
    for (const [key, kind] of SETTINGS) {
      if (!(key in draft)) continue;
      patch[key] = kind === 'number' ? Number(draft[key]) : draft[key];
    }
    try {
      await api('PATCH', `/v1/arrays/${enc(array.name)}`, patch);
      setDraft({});
      onSaved('settings saved');
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  return (
    <form class="settings" onSubmit={save}>
      {SETTINGS.map(([key, kind, choices]) => (
        <label key={key}>{key}{' '}
          {kind === 'select'
            ? <select name={key} value={value(key)} onChange={(e) => setDraft({ ...draft, [key]: e.currentTarget.value })}>
                {choices.map((c) => <option value={c}>{c}</option>)}
              </select>
            : <input name={key} type="number" step="any" value={value(key)}
                onInput={(e) => setDraft({ ...draft, [key]: e.currentTarget.value })} />}
        </label>
      ))}
      <button type="submit" disabled={Object.keys(draft).length === 0}>Save settings</button>
    </form>
  );
}

// An array the config file declares (`source` names the file and arrays[N]):
// the API refuses other settings (409), so they are shown, not offered.
function ConfigSettings({ array }) {
  return (
    <>
      <p class="config-note" role="note">
        Declared in the config file ({array.source}): change its settings there and reload
        (SIGHUP or POST /v1/reload). Instances can still be added and changed here.
      </p>
      <dl class="settings-shown">
        {SETTINGS.map(([key]) => <Fragment key={key}><dt>{key}</dt><dd data-key={key}>{String(array[key])}</dd></Fragment>)}
      </dl>
    </>
  );
}

export function ArrayPage({ name }) {
  const [polled, loadError, reload] = usePoll(() => loadArray(name), 5, [name]);
  // Until the new name's first load, the last poll is the previous array's: not shown under this name.
  const data = polled && polled.name === name ? polled : null;
  const [ask, setAsk] = useState(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const act = (text, confirm, run, input) => setAsk({ text, confirm, input, run: async (value) => {
    try {
      await run(value);
      setError('');
      setNotice(`${confirm}: done`);
      reload();
    } catch (failure) {
      setNotice('');
      setError(`${confirm} failed: ${failure.message}`);
    }
  } });
  const instancePath = (i) => `/v1/arrays/${enc(name)}/instances/${i.id}`;
  return (
    <section>
      <h1>{name}</h1>
      <ErrorLine error={error || loadError} />
      {notice && <p class="notice" role="status">{notice}</p>}
      <Confirm ask={ask} onClose={() => setAsk(null)} />
      {data && (
        <>
          <table class="instances">
            <thead><tr>
              <th>address</th><th>region</th><th>weight</th><th>effective</th><th>state</th><th>health</th>
              <th>reason</th><th>last check</th><th>last 24 h</th><th>actions</th>
            </tr></thead>
            <tbody>
              {data.instances.map((i) => (
                <tr key={i.id} data-address={i.address}>
                  <td>{i.address}</td>
                  <td>{i.region || ''}</td>
                  <td>{i.weight}</td>
                  <td title={i.why}>{i.effective ?? ''}</td>
                  <td><Badge value={i.state} /></td>
                  <td><Badge value={i.health} /><Observers instance={i} /></td>
                  <td class="reason">{i.reason}</td>
                  <td>{i.last_check ? `${i.last_check.latency_ms} ms ${i.last_check.passed ? 'passed' : 'failed'}` : 'never'}</td>
                  <td><Timeline stretches={data.timeline[i.id] || []} fromMs={data.fromMs} toMs={data.toMs} /></td>
                  <td class="actions">
                    {i.state !== 'draining' && <button onClick={() => act(`Drain ${i.address}? It stops being answered; its health is still checked.`, 'Drain',
                      () => api('PATCH', instancePath(i), { state: 'draining' }))}>Drain</button>}
                    {i.state !== 'enabled' && <button onClick={() => act(`Enable ${i.address}?`, 'Enable',
                      () => api('PATCH', instancePath(i), { state: 'enabled' }))}>Enable</button>}
                    {i.state !== 'disabled' && <button onClick={() => act(`Disable ${i.address}? It is neither answered nor checked.`, 'Disable',
                      () => api('PATCH', instancePath(i), { state: 'disabled' }))}>Disable</button>}
                    <button onClick={() => act(`New weight for ${i.address}:`, 'Set weight',
                      (value) => api('PATCH', instancePath(i), { weight: Number(value) }), String(i.weight))}>Weight</button>
                    <button class="danger" onClick={() => act(`Remove ${i.address} from ${name}?`, 'Remove',
                      () => api('DELETE', instancePath(i)))}>Remove</button>
                  </td>
                </tr>
              ))}
              {data.instances.length === 0 && <tr><td colspan="10">No instances.</td></tr>}
            </tbody>
          </table>
          <p class="legend">
            {['up', 'down', 'unknown', 'damped', 'drained', 'disabled'].map((s) => <span class={`key stretch-${s}`}>{s}</span>)}
          </p>
          <h2>Settings</h2>
          {data.array.source === 'api'
            ? <Settings array={data.array} setError={setError} onSaved={(text) => { setError(''); setNotice(text); reload(); }} />
            : <ConfigSettings array={data.array} />}
        </>
      )}
    </section>
  );
}
