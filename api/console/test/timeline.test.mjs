// The array page's health timeline (src/timeline.js) from a fixed event list:
// ctest console/timeline, `node --test` (Node's own runner, no packages).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timelines } from '../src/timeline.js';

const admin = (id, at, reason, old, now) => ({ instance_id: id, time_ms: at, kind: 'admin', reason, old, new: now });
const health = (id, at, old, now) => ({ instance_id: id, time_ms: at, kind: 'health', reason: '', old, new: now });
const damping = (id, at, now) => ({ instance_id: id, time_ms: at, kind: 'damping', reason: '', old: '', new: now });

test('health, damping and drain become stretches from the instance being added', () => {
  const events = [
    admin(7, 100, 'instance added', '', '{"address":"192.0.2.1","state":"enabled"}'),
    health(7, 200, 'unknown', 'up'),
    health(7, 400, 'up', 'down'),
    damping(7, 500, 'held'),
    damping(7, 600, 'off'),
    health(7, 600, 'down', 'up'),
    admin(7, 800, 'instance changed: state', '{"state":"enabled"}', '{"state":"draining"}'),
  ];
  const out = timelines(events, [{ id: 7, health: 'up', state: 'draining' }], 0, 1000);
  assert.deepEqual(out[7], [
    { from: 100, to: 200, status: 'unknown' },
    { from: 200, to: 400, status: 'up' },
    { from: 400, to: 500, status: 'down' },
    { from: 500, to: 600, status: 'damped' },
    { from: 600, to: 800, status: 'up' },
    { from: 800, to: 1000, status: 'drained' },
  ]);
});

test('an instance with no events in the window shows its current state throughout', () => {
  const out = timelines([], [{ id: 3, health: 'down', state: 'enabled' }, { id: 4, health: 'up', state: 'disabled' }], 0, 50);
  assert.deepEqual(out[3], [{ from: 0, to: 50, status: 'down' }]);
  assert.deepEqual(out[4], [{ from: 0, to: 50, status: 'disabled' }]);
});

test('events before the window start the first stretch at the window', () => {
  const out = timelines([health(1, 10, 'up', 'down')], [{ id: 1, health: 'down', state: 'enabled' }], 20, 40);
  assert.deepEqual(out[1], [{ from: 20, to: 40, status: 'down' }]);
});
