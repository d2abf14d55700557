// The event log with filters, kept current by long polling
// GET /v1/events?since=NEXT&wait=25 (api/README.md): a new event shows up
// within a moment without reloading.
import { useEffect, useState } from 'preact/hooks';
import { api, enc } from './api.js';
import { Badge, ErrorLine, time, usePoll } from './util.jsx';

const KINDS = ['', 'admin', 'health', 'damping', 'reload', 'panic'];
const WINDOWS = [['1 hour', 3600e3], ['24 hours', 86400e3], ['7 days', 7 * 86400e3], ['all', 0]];
const SHOWN = 500;

function query(filters, since, extra = '') {
  let q = `/v1/events?since=${since}&limit=1000`;
  if (filters.array) q += `&array=${enc(filters.array)}`;
  if (filters.kind) q += `&kind=${filters.kind}`;
  if (filters.window) q += `&from_ms=${Date.now() - filters.window}`;
  return q + extra;
}

export function Events() {
  const [filters, setFilters] = useState({ array: '', kind: '', window: 86400e3 });
  const [events, setEvents] = useState([]);  // newest first
  const [error, setError] = useState('');
  const [live, setLive] = useState(false);
  const [arrays] = usePoll(() => api('GET', '/v1/arrays'), 0);
  useEffect(() => {
    let stopped = false;
    const run = async () => {
      setEvents([]);
      let next = 0;
      let all = [];
      try {
        for (;;) {  // what the window holds, page by page
          const page = await api('GET', query(filters, next));
          all = all.concat(page.events);
          next = page.next;
          if (page.events.length < 1000 || stopped) break;
        }
        if (stopped) return;
        setEvents(all.reverse().slice(0, SHOWN));
        setError('');
      } catch (failure) {
        if (!stopped) setError(failure.message);
        return;
      }
      setLive(true);
      while (!stopped) {
        try {
          const page = await api('GET', `/v1/events?since=${next}&limit=1000&wait=25` +
            (filters.array ? `&array=${enc(filters.array)}` : '') + (filters.kind ? `&kind=${filters.kind}` : ''));
          if (stopped) return;
          next = page.next;
          if (page.events.length) setEvents((shown) => page.events.slice().reverse().concat(shown).slice(0, SHOWN));
          setError('');
        } catch (failure) {
          if (stopped) return;
          setError(`live updates paused: ${failure.message}`);
          await new Promise((done) => setTimeout(done, 3000));
        }
      }
    };
    run();
    return () => { stopped = true; setLive(false); };
  }, [filters.array, filters.kind, filters.window]);
  const set = (key) => (e) => setFilters({ ...filters, [key]: key === 'window' ? Number(e.currentTarget.value) : e.currentTarget.value });
  return (
    <section>
      <h1>Events {live && <span class="live" title="updating live">live</span>}</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>array <select name="array" value={filters.array} onChange={set('array')}>
          <option value="">all</option>
          {(arrays ? arrays.arrays : []).map((a) => <option value={a.name}>{a.name}</option>)}
        </select></label>
        <label>kind <select name="kind" value={filters.kind} onChange={set('kind')}>
          {KINDS.map((k) => <option value={k}>{k || 'all'}</option>)}
        </select></label>
        <label>since <select name="window" value={filters.window} onChange={set('window')}>
          {WINDOWS.map(([label, ms]) => <option value={ms}>{label}</option>)}
        </select></label>
      </form>
      <ErrorLine error={error} />
      <table class="events">
        <thead><tr><th>id</th><th>time</th><th>kind</th><th>array</th><th>address</th><th>old → new</th><th>reason</th><th>by</th></tr></thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id} data-kind={e.kind}>
              <td>{e.id}</td><td>{time(e.time_ms)}</td><td><Badge value={e.kind} /></td><td>{e.array}</td>
              <td>{e.address}</td><td class="change">{e.old} → {e.new}</td><td>{e.reason}</td>
              <td>{[e.source, e.token, e.node].filter(Boolean).join(' ')}</td>
            </tr>
          ))}
          {events.length === 0 && <tr><td colspan="8">No events match.</td></tr>}
        </tbody>
      </table>
    </section>
  );
}
