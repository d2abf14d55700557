// Small pieces the pages share: polling, time, state badges, a confirm dialog.
import { useEffect, useRef, useState } from 'preact/hooks';

// Runs `load` now and every `seconds`; returns [data, error, reload].
export function usePoll(load, seconds, deps = []) {
  const [data, setData] = useState(null);
  const [error, setError] = useState('');
  const tick = useRef(0);
  const reload = async () => {
    const mine = ++tick.current;
    try {
      const value = await load();
      if (mine === tick.current) { setData(value); setError(''); }
    } catch (failure) {
      if (mine === tick.current) setError(failure.message);
    }
  };
  useEffect(() => {
    reload();
    const timer = seconds ? setInterval(reload, seconds * 1000) : null;
    return () => { tick.current++; if (timer) clearInterval(timer); };
  }, deps);
  return [data, error, reload];
}

export function time(ms) {
  if (!ms) return '';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function Badge({ value }) {
  return <span class={`badge badge-${String(value).replace(/\s+/g, '-')}`}>{value}</span>;
}

export function ErrorLine({ error }) {
  return error ? <p class="error" role="alert">{error}</p> : null;
}

// A modal that asks before an action; `ask` is {text, run} or null.
export function Confirm({ ask, onClose }) {
  if (!ask) return null;
  return (
    <div class="modal" role="dialog" aria-modal="true">
      <div class="modal-box">
        <p>{ask.text}</p>
        {ask.input !== undefined && (
          <input type="number" min="0" max="65535" name="value" value={ask.input}
            onInput={(e) => { ask.input = e.currentTarget.value; }} />
        )}
        <div class="modal-buttons">
          <button class="danger" onClick={() => { onClose(); ask.run(ask.input); }}>{ask.confirm || 'Confirm'}</button>
          <button onClick={onClose}>Cancel</button>
        </div>
      </div>
    </div>
  );
}

// The array's state as the overview shows it, from GET /v1/explain.
export function arrayState(explain) {
  if (!explain) return 'unknown';
  if (explain.answered_from_fallback) return 'fallback';
  const array = explain.array;
  if (!array) return 'unknown';
  if (array.panic) return 'panic';
  if (array.failed_open) return 'failing open';
  if (array.degraded) return 'degraded';
  return 'ok';
}
