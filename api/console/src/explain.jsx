// The explain tester: what rotor answers a client now, and why, per instance.
import { useState } from 'preact/hooks';
import { api, enc, errorText } from './api.js';
import { Badge, ErrorLine, usePoll } from './util.jsx';

function ArrayModel({ title, model }) {
  return (
    <>
      <h2>{title}: {model.name}</h2>
      <p>policy {model.policy}, TTL {model.answer_ttl}
        {model.degraded && ', degraded'}{model.failed_open && ', failing open'}{model.panic && ', panic mode'}</p>
      <table class="explained">
        <thead><tr><th>address</th><th>region</th><th>weight</th><th>state</th><th>health</th><th>candidate</th><th>answered</th><th>why</th></tr></thead>
        <tbody>
          {model.instances.map((i) => (
            <tr key={i.id} data-address={i.address} class={i.answered ? 'answered' : ''}>
              <td>{i.address}</td><td>{i.region || ''}</td><td>{i.weight}</td><td>{i.state}</td>
              <td><Badge value={i.health} /></td><td>{i.candidate ? 'yes' : 'no'}</td>
              <td>{i.answered ? 'yes' : 'no'}</td><td>{i.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function Explain() {
  const [arrays] = usePoll(() => api('GET', '/v1/arrays'), 0);
  const [form, setForm] = useState({ name: '', type: 'A', client: '', ecs: '' });
  const [result, setResult] = useState(null);
  const [error, setError] = useState('');
  const run = async (event) => {
    event.preventDefault();
    let q = `/v1/explain?name=${enc(form.name)}&type=${form.type}`;
    if (form.client) q += `&client=${enc(form.client)}`;
    if (form.ecs) q += `&ecs=${enc(form.ecs)}`;
    try {
      setResult(await api('GET', q));
      setError('');
    } catch (failure) {
      setResult(null);
      setError(errorText(failure));
    }
  };
  const field = (key) => (e) => setForm({ ...form, [key]: e.currentTarget.value });
  const answer = result && result.answer;
  return (
    <section>
      <h1>Explain</h1>
      <form class="explain" onSubmit={run}>
        <label>name <input name="name" list="array-names" required value={form.name} onInput={field('name')} /></label>
        <datalist id="array-names">{(arrays ? arrays.arrays : []).map((a) => <option value={a.name} />)}</datalist>
        <label>type <select name="type" value={form.type} onChange={field('type')}>
          <option>A</option><option>AAAA</option></select></label>
        <label>client address <input name="client" placeholder="198.51.100.7" value={form.client} onInput={field('client')} /></label>
        <label>ECS subnet <input name="ecs" placeholder="198.51.100.0/24" value={form.ecs} onInput={field('ecs')} /></label>
        <button type="submit">Explain</button>
      </form>
      <ErrorLine error={error} />
      {answer && (
        <div class="explain-result">
          <h2>Answer</h2>
          <p class="answer">{answer.rcode}{answer.cname.length > 0 && ` via CNAME ${answer.cname.join(' → ')}`}:{' '}
            <strong>{answer.addresses.join(', ') || 'no addresses'}</strong> (TTL {answer.ttl})</p>
          <p>client: {result.client.source}{result.client.region && `, region ${result.client.region}`}
            {result.client.scope !== null && `, ECS scope /${result.client.scope}`}</p>
          {result.array && <ArrayModel title="Array" model={result.array} />}
          {result.answered_from_fallback && (
            <ArrayModel title={`Answered by its fallback (${result.answered_from_fallback.hops} hop)`} model={result.answered_from_fallback} />
          )}
        </div>
      )}
    </section>
  );
}
