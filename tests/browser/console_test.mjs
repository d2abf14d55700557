// The web console in a real browser (Debian's chromium, driven headless by
// playwright-core from api/console's lockfile): rotor with the quickstart's
// zone and array on loopback ports the kernel picks, three web servers on
// 127.0.0.51-53, and the console used as a person would. Saves a screenshot
// of each page into $ROTOR_SCREENSHOTS. Each action is checked where it
// takes effect: the API's reads and real DNS answers (node's resolver).
// Run by ctest as browser/console (tests/CMakeLists.txt sets the environment):
//   ROTOR_BIN=build/release/rotor NODE_PATH=build/release/console/node_modules \
//   ROTOR_SCREENSHOTS=build/release/console/screenshots node tests/browser/console_test.mjs
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Resolver } from 'node:dns/promises';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
const SOURCE = resolve(new URL('../..', import.meta.url).pathname);
const ROTOR = process.env.ROTOR_BIN;
const CHROMIUM = process.env.ROTOR_CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.ROTOR_SCREENSHOTS || join(tmpdir(), 'rotor-console-screenshots');
const TOKEN = 'console-test-token';
const READ_TOKEN = 'console-test-read-token';
const ARRAY = 'web.lb.example.test';
const API_ARRAY = 'api.lb.example.test';  // made through the API, so its settings are the API's
const BACKENDS = ['127.0.0.51', '127.0.0.52', '127.0.0.53'];
const DRAINED = '127.0.0.52';
const DEADLINE_MS = 90_000;
const started = Date.now();
// Progress with the seconds since start, so a slow step shows in the log.
const step = (what) => console.log(`browser/console: ${((Date.now() - started) / 1000).toFixed(1)} s ${what}`);

const work = mkdtempSync(join(tmpdir(), 'rotor-console-'));
const servers = [];
let rotor = null;
let browser = null;

function fail(message) {
  console.error(`browser/console: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

async function until(what, check, ms = 10_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) { last = error; }
    await new Promise((done) => setTimeout(done, 100));
  }
  fail(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

// Three web servers answering 200 on one port the kernel picks.
async function startBackends() {
  let port = 0;
  for (const address of BACKENDS) {
    const server = createServer((request, response) => response.end(`hello from ${address}\n`));
    await new Promise((done, error) => { server.once('error', error); server.listen(port, address, done); });
    port = server.address().port;
    servers.push(server);
  }
  return port;
}

// The arrays' health check: the backends' port, every second.
const CHECK = (port) => ({ type: 'http', port, path: '/', interval: '1s', timeout: '500ms', rise: 1, fall: 1 });

// rotor serve with the quickstart's zone and array; resolves to its ports.
async function startRotor(checkPort) {
  const config = {
    listen: ['127.0.0.1:0'], threads: 1, db: join(work, 'rotor.db'), log_level: 'warn',
    zones: [`lb.example.test=${SOURCE}/examples/zones/lb.example.test.zone`],
    api: { listen: '127.0.0.1:0', token: TOKEN, tokens: [{ name: 'viewer', scope: 'read',
      sha256: createHash('sha256').update(READ_TOKEN).digest('hex') }] },
    arrays: [{ name: ARRAY, ttl: 30, degraded_ttl: 5, policy: 'round_robin', check: CHECK(checkPort) }],
  };
  writeFileSync(join(work, 'rotor.json'), JSON.stringify(config));
  rotor = spawn(ROTOR, ['serve', '--config', join(work, 'rotor.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  rotor.stdout.on('data', (chunk) => { out += chunk; });
  return until('rotor to print its addresses', () => {
    const dns = /^listening 127\.0\.0\.1:(\d+)/m.exec(out);
    const api = /^api (127\.0\.0\.1:\d+)/m.exec(out);
    if (rotor.exitCode !== null) fail(`rotor exited with ${rotor.exitCode}`);
    return dns && api ? { dnsPort: Number(dns[1]), api: `http://${api[1]}` } : null;
  });
}

async function call(api, method, path, body) {
  const response = await fetch(api + path, {
    method, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: HTTP ${response.status}`);
  return response.status === 204 ? null : response.json();
}

// The A records rotor answers for `name`, sorted (with their TTLs when asked).
async function answers(dnsPort, name = ARRAY, options = undefined) {
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
  return (await resolver.resolve4(name, options)).sort();
}

async function login(page, api, token) {
  await page.goto(`${api}/ui/`);
  await page.fill('input[name=token]', token);
  await page.click('button[type=submit]');
}

// The instance as the API shows it, or null.
async function findInstance(api, address) {
  return (await call(api, 'GET', `/v1/arrays/${ARRAY}`)).instances.find((i) => i.address === address) || null;
}

// Clicks `button` in the instance's row and confirms in the dialog, after
// typing `value` into it when given.
async function act(page, address, button, confirm, value) {
  await page.locator(`tr[data-address="${address}"] button:has-text("${button}")`).click();
  if (value !== undefined) await page.fill('.modal input[name=value]', value);
  await page.locator(`.modal button:has-text("${confirm}")`).click();
  await page.locator(`.notice:has-text("${confirm}: done")`).waitFor();
}

// The array page's other actions, each checked where it takes effect: in the
// API and in real DNS answers.
async function arrayActions(page, api, dnsPort) {
  const [KEPT, , REMOVED] = BACKENDS;
  await page.goto(`${api}/ui/#/arrays/${ARRAY}.`);
  await page.locator(`tr[data-address="${DRAINED}"] .badge:has-text("draining")`).waitFor();

  await act(page, DRAINED, 'Enable', 'Enable');
  assert.equal((await findInstance(api, DRAINED)).state, 'enabled');
  await until('the enabled instance back in the DNS answers', async () =>
    (await answers(dnsPort)).join() === BACKENDS.join());

  step('disable');
  await act(page, DRAINED, 'Disable', 'Disable');
  assert.equal((await findInstance(api, DRAINED)).state, 'disabled');
  await until('the disabled instance out of the DNS answers', async () =>
    (await answers(dnsPort)).join() === [KEPT, REMOVED].join());

  step('weight');
  await act(page, KEPT, 'Weight', 'Set weight', '250');
  assert.equal((await findInstance(api, KEPT)).weight, 250);
  await page.locator(`tr[data-address="${KEPT}"] td:nth-child(3):text-is("250")`).waitFor();

  step('remove');
  // Cancel changes nothing; confirming removes it from the API and DNS.
  await page.locator(`tr[data-address="${REMOVED}"] button:has-text("Remove")`).click();
  await page.locator('.modal button:has-text("Cancel")').click();
  assert.ok(await findInstance(api, REMOVED), 'a cancelled removal removed the instance');
  await act(page, REMOVED, 'Remove', 'Remove');
  assert.equal(await findInstance(api, REMOVED), null);
  await page.locator(`tr[data-address="${REMOVED}"]`).waitFor({ state: 'detached' });
  await until('the removed instance out of the DNS answers', async () =>
    (await answers(dnsPort)).join() === KEPT);
}

// A config array's settings are the config's (the API refuses other ones):
// its page shows them with a note naming the file instead of a form. An array
// made through the API has its settings edited on its page, and its answers
// carry the new TTL.
async function arraySettings(page, api, dnsPort, checkPort) {
  const declared = await call(api, 'GET', `/v1/arrays/${ARRAY}`);
  assert.match(declared.source, /rotor\.json: arrays\[0\]$/);
  const note = await page.locator('.config-note').textContent();
  assert.ok(note.includes('Declared in the config file') && note.includes(declared.source), note);
  assert.equal(await page.locator('.settings-shown dd[data-key=ttl]').textContent(), '30');
  assert.equal(await page.locator('form.settings').count(), 0);

  const [address] = BACKENDS;
  await call(api, 'PUT', `/v1/arrays/${API_ARRAY}`, { ttl: 30, check: CHECK(checkPort) });
  await call(api, 'POST', `/v1/arrays/${API_ARRAY}/instances`, { address });
  assert.equal((await call(api, 'GET', `/v1/arrays/${API_ARRAY}`)).source, 'api');
  await page.goto(`${api}/ui/#/arrays/${API_ARRAY}.`);
  await page.locator(`tr[data-address="${address}"] .badge:has-text("up")`).waitFor();
  await page.locator('form.settings').waitFor();
  assert.equal(await page.locator('.config-note').count(), 0);
  await page.fill('form.settings input[name=ttl]', '42');
  await page.click('form.settings button[type=submit]');
  await page.locator('.notice:has-text("settings saved")').waitFor();
  assert.equal((await call(api, 'GET', `/v1/arrays/${API_ARRAY}`)).ttl, 42);
  await until('answers with the new TTL', async () => {
    const records = await answers(dnsPort, API_ARRAY, { ttl: true });
    return records.length === 1 && records[0].address === address && records[0].ttl === 42;
  });
}

async function main() {
  if (!ROTOR) fail('ROTOR_BIN is not set (ctest sets it; see the comment at the top)');
  if (!existsSync(CHROMIUM)) {
    fail(`no browser at ${CHROMIUM}: install Debian's chromium (tests/deps.sh does) or set ROTOR_CHROMIUM`);
  }
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch {
    fail('playwright-core is not installed: build rotor first (the build runs npm ci in build/<preset>/console) and set NODE_PATH');
  }
  mkdirSync(SHOTS, { recursive: true });
  const checkPort = await startBackends();
  const { dnsPort, api } = await startRotor(checkPort);
  for (const address of BACKENDS) await call(api, 'POST', `/v1/arrays/${ARRAY}/instances`, { address });
  await until('every instance up', async () => {
    const health = await call(api, 'GET', `/v1/arrays/${ARRAY}/health`);
    return health.instances.every((i) => i.health === 'up');
  });
  // The health checks' verdicts reach the answers a moment after the API shows them.
  await until('every instance in the DNS answers', async () => (await answers(dnsPort)).join() === BACKENDS.join());

  step('rotor and the backends are up; starting chromium');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const context = await browser.newContext({ viewport: { width: 1360, height: 820 } });
  const page = await context.newPage();
  const violations = [];
  page.on('console', (message) => { if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text()); });
  page.on('pageerror', (error) => violations.push(error.message));

  step('a wrong token');
  // A wrong token: the API's refusal shown, nothing kept, nothing changed.
  const eventsBefore = (await call(api, 'GET', '/v1/events?limit=1000')).events.length;
  await login(page, api, 'not-the-token');
  await page.waitForSelector('.error:has-text("refused")');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('rotor.token')), null);
  assert.equal(await page.locator('input[name=token]').count(), 1);
  await page.screenshot({ path: join(SHOTS, 'login-wrong-token.png') });
  assert.equal((await call(api, 'GET', '/v1/events?limit=1000')).events.length, eventsBefore);

  step('the right token: the overview');
  // The right token: the overview lists the array, all three healthy.
  await page.fill('input[name=token]', TOKEN);
  await page.click('button[type=submit]');
  const row = page.locator(`tr[data-array="${ARRAY}."]`);
  await row.locator('.healthy:has-text("3 / 3")').waitFor();
  await row.locator('.badge:has-text("ok")').waitFor();
  for (let i = 0; i < 20; i++) await answers(dnsPort);  // something for the chart (last step)

  step('the events tab');
  // A second tab follows the event log live.
  const events = await context.newPage();
  await login(events, api, TOKEN);
  await events.waitForSelector('header nav');
  await events.goto(`${api}/ui/#/events`);
  await events.waitForSelector('.live');

  step('a read token');
  // A read token sees the array page but cannot act: the refusal is shown
  // and the instance stays as it was.
  const viewer = await context.newPage();
  await login(viewer, api, READ_TOKEN);
  await viewer.waitForSelector('header nav');
  await viewer.goto(`${api}/ui/#/arrays/${ARRAY}.`);
  const seen = viewer.locator(`tr[data-address="${DRAINED}"]`);
  await seen.locator('button:has-text("Drain")').click();
  await viewer.locator('.modal button:has-text("Drain")').click();
  await viewer.waitForSelector('.error:has-text("scope read")');
  assert.equal((await call(api, 'GET', `/v1/arrays/${ARRAY}`)).instances.find((i) => i.address === DRAINED).state, 'enabled');
  await viewer.close();

  step('drain from the array page');
  // Drain one instance from the array page, confirming in the dialog.
  await row.locator('a').click();
  const instance = page.locator(`tr[data-address="${DRAINED}"]`);
  await instance.locator('.badge:has-text("up")').waitFor();
  await instance.locator('button:has-text("Drain")').click();
  await page.locator('.modal button:has-text("Drain")').click();
  await instance.locator('.badge:has-text("draining")').waitFor();
  await page.screenshot({ path: join(SHOTS, 'array.png') });
  await until('the drained instance to leave the DNS answers', async () => {
    const now = await answers(dnsPort);
    return !now.includes(DRAINED) && now.length === 2;
  });

  step('the event arrives live');
  // The drain shows up in the other tab without a reload.
  await events.locator(`tr[data-kind=admin]:has-text("${DRAINED}"):has-text("instance changed: state")`)
    .waitFor({ timeout: 10_000 });
  await events.screenshot({ path: join(SHOTS, 'events.png') });

  step('the explain tester');
  // The explain tester: the answer now, and why the drained one is not in it.
  await page.click('a[href="#/explain"]');
  await page.fill('input[name=name]', ARRAY);
  await page.fill('input[name=client]', '198.51.100.7');
  await page.click('button:has-text("Explain")');
  await page.waitForSelector('.explain-result .answer');
  const answer = await page.textContent('.explain-result .answer');
  assert.ok(answer.includes('127.0.0.51') && answer.includes('127.0.0.53') && !answer.includes(DRAINED), answer);
  assert.match(await page.textContent(`.explained tr[data-address="${DRAINED}"]`), /draining/);
  await page.screenshot({ path: join(SHOTS, 'explain.png') });

  step('enable, disable, weight and remove on the array page');
  await arrayActions(page, api, dnsPort);
  step('the array settings');
  await arraySettings(page, api, dnsPort, checkPort);

  step('the cluster page');
  await page.click('a[href="#/cluster"]');
  await page.waitForSelector('.single');
  // The single-node shape of GET /v1/cluster/nodes: this node, named local.
  assert.match(await page.textContent('.single'), /single node.*: local\./);
  await page.screenshot({ path: join(SHOTS, 'cluster.png') });

  step('the answer rates');
  // rotor closes an interval of its answer history every 10 s: by now the
  // answers above are in one, and the overview draws it.
  const rate = await until('GET /v1/rates to count the answers', async () => {
    const rates = await call(api, 'GET', '/v1/rates');
    const series = rates.arrays.find((a) => a.name === `${ARRAY}.`);
    return series && series.answers_per_second.find((r) => r > 0);
  }, 25_000);
  assert.ok(rate > 0 && rate < 1000, `answers per second ${rate}`);
  await page.click('a[href="#/"]');
  await page.waitForSelector('.chart canvas', { timeout: 10_000 });
  await page.screenshot({ path: join(SHOTS, 'overview.png') });

  assert.deepEqual(violations, [], 'the page broke its Content-Security-Policy or threw');
  console.log(`browser/console: passed; screenshots in ${SHOTS}`);
}

const timer = setTimeout(() => { console.error('browser/console: over the deadline'); process.exit(1); }, DEADLINE_MS);
try {
  await main();
} catch (error) {
  process.exitCode = 1;
  console.error(error);
} finally {
  clearTimeout(timer);
  if (browser) await browser.close().catch(() => {});
  if (rotor && rotor.exitCode === null) {
    rotor.kill('SIGTERM');
    await new Promise((done) => rotor.once('exit', done));
  }
  for (const server of servers) server.close();
  rmSync(work, { recursive: true, force: true });
}
