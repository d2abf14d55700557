// An instance's health timeline over a window, from the event log: health
// (up, down, unknown), flap damping (held) and the admin state (draining,
// disabled) combined into one status per stretch of time.

function parse(text) {
  try { return JSON.parse(text); } catch { return null; }
}

// What an instance shows: its admin state first, then damping, then health.
function shown({ health, held, state }) {
  if (state === 'draining') return 'drained';
  if (state === 'disabled') return 'disabled';
  if (held) return 'damped';
  return health;
}

// `events`: the array's events, oldest first. Returns
// {instanceId: [{from, to, status}]} for every instance id in `instances`
// (their current health and state as the last stretch's start).
export function timelines(events, instances, fromMs, toMs) {
  const out = {};
  for (const instance of instances) {
    const mine = events.filter((e) => e.instance_id === instance.id);
    // The state before the first event: what that event changed from.
    const now = { health: 'unknown', held: false, state: 'enabled' };
    const firstHealth = mine.find((e) => e.kind === 'health');
    if (firstHealth) now.health = firstHealth.old || 'unknown'; else now.health = instance.health;
    const firstState = mine.find((e) => e.kind === 'admin' && parse(e.old)?.state);
    if (firstState) now.state = parse(firstState.old).state; else now.state = instance.state;
    const stretches = [];
    // Nothing is drawn before the instance was added within the window.
    const added = mine.find((e) => e.kind === 'admin' && e.reason === 'instance added');
    let from = added ? Math.max(fromMs, added.time_ms) : fromMs;
    const close = (at) => {
      const status = shown(now);
      const last = stretches[stretches.length - 1];
      if (at <= from) return;
      if (last && last.status === status) last.to = at;
      else stretches.push({ from, to: at, status });
      from = at;
    };
    for (const event of mine) {
      const at = Math.max(from, event.time_ms);
      close(at);
      if (event.kind === 'health') now.health = event.new;
      else if (event.kind === 'damping') now.held = event.new === 'held';
      else if (event.kind === 'admin') {
        const changed = parse(event.new);
        if (changed && changed.state) now.state = changed.state;
      }
    }
    close(toMs);
    out[instance.id] = stretches;
  }
  return out;
}
