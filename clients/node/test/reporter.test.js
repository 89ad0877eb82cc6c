'use strict';

// The reporter against a stand-in for ingest (a real HTTP server on 127.0.0.1): batching,
// retries, the spool across an unreachable ingest and a killed process, refusals set aside.
// tests/integration/test_node_reporter.py runs it against the real ingest and Kafka.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const { Reporter, SpoolInUse, STATUS_OF_ACK, LABEL_LIMITS } = require('../src');
const { Journal } = require('../src/journal');
const { ackReport, dispatchReport } = require('../src/reports');

const QUIET = { warn() {}, error() {} };

// Answers each POST with the next of `answers` (then 200), recording what it accepted.
function fakeIngest(answers = [], port = 0) {
  const received = [];
  const requests = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      requests.push(request.url);
      const [status, headers] = answers.shift() || [200, {}];
      if (status === 200) {
        const items = JSON.parse(body);
        received.push(...items.map((item) => ({ path: request.url, item })));
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ accepted: items.length }));
        return;
      }
      response.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      response.end(JSON.stringify({ error: status === 422 ? 'invalid body' : 'kafka unavailable' }));
    });
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      resolve({ server, received, requests, url: `http://127.0.0.1:${server.address().port}` });
    });
  });
}

function spool() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tickstream-spool-'));
}

function dispatches(count, campaign = 'c1') {
  return Array.from({ length: count }, (_, n) => ({
    message_id: `true_5511${n}@c.us_3EB0${n}`,
    campaign_id: campaign,
    workspace_id: 7,
    recipient: `+5511${n}`,
  }));
}

async function unusedPort() {
  const { server } = await fakeIngest();
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('every ack level maps to its status, timed when the ack happened', () => {
  const message = { id: { _serialized: 'true_1@c.us_A' }, to: '1@c.us' };
  for (const [ack, status] of STATUS_OF_ACK) {
    const before = Date.now();
    const report = ackReport(message, ack);
    assert.equal(report.status, status);
    assert.equal(report.provider, 'webjs');
    assert.ok(Date.parse(report.occurred_at) >= before - 1);
  }
  const group = { id: { _serialized: 'x', participant: { _serialized: '5511@c.us' } }, to: 'g@g.us' };
  assert.equal(ackReport(group, 3).participant, '5511@c.us');
  assert.throws(() => ackReport(message, 5), RangeError);
  assert.throws(() => ackReport({ id: {} }, 1), TypeError);
});

test('a dispatch carries the labels it is given, and only those', () => {
  const base = { message_id: 'm1', campaign_id: 'c1', workspace_id: 7 };
  const at = new Date('2026-11-25T12:00:00Z');
  assert.deepEqual(dispatchReport(base, at), {
    message_id: 'm1',
    campaign_id: 'c1',
    workspace_id: '7',
    recipient: '',
    dispatched_at: '2026-11-25T12:00:00.000Z',
  });
  const labelled = dispatchReport({ ...base, template: 'promo_nov', variant: 'B', tags: ['vip', 42] }, at);
  assert.deepEqual(
    [labelled.template, labelled.variant, labelled.tags],
    ['promo_nov', 'B', ['vip', '42']],
  );
  assert.equal('tags' in dispatchReport({ ...base, variant: '', tags: null }, at), false);
  assert.equal('variant' in dispatchReport({ ...base, variant: '' }, at), false);
  // the longest labels pass, counted in characters as ingest counts them (one emoji is one)
  const longest = {
    ...base,
    template: 't'.repeat(LABEL_LIMITS.template),
    variant: '🅰'.repeat(LABEL_LIMITS.variant),
    tags: Array.from({ length: LABEL_LIMITS.tags }, (_, n) => String(n).repeat(LABEL_LIMITS.tag)),
  };
  assert.deepEqual(dispatchReport(longest, at).tags, longest.tags);
});

test('a label ingest would refuse throws at the call, before the spool', async () => {
  const base = { message_id: 'm1', campaign_id: 'c1', workspace_id: 7 };
  const refused = [
    [{ template: 't'.repeat(LABEL_LIMITS.template + 1) }, RangeError],
    [{ variant: 'v'.repeat(LABEL_LIMITS.variant + 1) }, RangeError],
    [{ tags: Array.from({ length: LABEL_LIMITS.tags + 1 }, (_, n) => `t${n}`) }, RangeError],
    [{ tags: ['ok', 'x'.repeat(LABEL_LIMITS.tag + 1)] }, RangeError],
    [{ tags: ['ok', ''] }, RangeError],
    [{ tags: 'vip' }, TypeError],
  ];
  const ingest = await fakeIngest();
  const reporter = new Reporter({ url: ingest.url, token: 't', spoolDir: spool(), logger: QUIET });
  for (const [labels, kind] of refused) {
    assert.throws(() => reporter.dispatch({ ...base, ...labels }), kind, JSON.stringify(labels));
  }
  assert.equal(reporter.pending, 0);
  reporter.dispatch({ ...base, variant: 'A', tags: ['vip'] });
  assert.deepEqual(await reporter.close(), { pending: 0 });
  ingest.server.close();
  assert.deepEqual(ingest.received.map((r) => [r.item.variant, r.item.tags]), [['A', ['vip']]]);
});

test('reports are delivered in batches, in order, campaigns before their dispatches', async () => {
  const ingest = await fakeIngest();
  const reporter = new Reporter({ url: ingest.url, token: 't', spoolDir: spool(), maxBatch: 100, logger: QUIET });
  reporter.campaign({ campaign_id: 'c1', workspace_id: 7, total_recipients: 450 });
  for (const dispatch of dispatches(450)) reporter.dispatch(dispatch);
  reporter.ack({ id: { _serialized: 'true_55110@c.us_3EB00' }, to: '55110@c.us' }, 3);
  assert.deepEqual(await reporter.close(), { pending: 0 });
  ingest.server.close();
  const paths = ingest.received.map((r) => r.path);
  assert.equal(paths[0], '/v1/campaigns');
  const sent = ingest.received.filter((r) => r.path === '/v1/dispatches').map((r) => r.item.message_id);
  assert.deepEqual(sent, dispatches(450).map((d) => d.message_id));
  assert.equal(ingest.received.at(-1).item.status, 'read');
  assert.ok(ingest.requests.length <= 8, `${ingest.requests.length} requests for 452 reports`);
  assert.equal(ingest.received[1].item.workspace_id, '7');
});

test('503 and network errors are retried until ingest takes the reports', async () => {
  const ingest = await fakeIngest([[503, { 'Retry-After': '0' }], [503, {}], [500, {}]]);
  const reporter = new Reporter({ url: ingest.url, token: 't', spoolDir: spool(), retryMinMs: 10, logger: QUIET });
  for (const dispatch of dispatches(10)) reporter.dispatch(dispatch);
  assert.deepEqual(await reporter.close(), { pending: 0 });
  ingest.server.close();
  assert.equal(ingest.received.length, 10);
  assert.ok(ingest.requests.length >= 4);
});

test('while ingest is unreachable the spool keeps everything, delivered in order later', async () => {
  const port = await unusedPort();
  const reporter = new Reporter({
    url: `http://127.0.0.1:${port}`,
    token: 't',
    spoolDir: spool(),
    retryMinMs: 20,
    retryMaxMs: 100,
    logger: QUIET,
  });
  for (const dispatch of dispatches(300)) reporter.dispatch(dispatch);
  await new Promise((resolve) => setTimeout(resolve, 300)); // a few failed attempts
  assert.ok(reporter.pending > 0);
  const ingest = await fakeIngest([], port);
  assert.deepEqual(await reporter.close({ timeoutMs: 30000 }), { pending: 0 });
  ingest.server.close();
  assert.deepEqual(
    ingest.received.map((r) => r.item.message_id),
    dispatches(300).map((d) => d.message_id),
  );
});

test('a killed process loses nothing it spooled: the next one delivers it', async () => {
  const dir = spool();
  const port = await unusedPort();
  const plan = path.join(dir, '..', `plan-${process.pid}.json`);
  fs.writeFileSync(plan, JSON.stringify(dispatches(120).map((body) => ({ kind: 'dispatch', body }))));
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'campaign.js'), plan], {
    env: {
      ...process.env,
      TICKSTREAM_URL: `http://127.0.0.1:${port}`,
      TICKSTREAM_TOKEN: 't',
      TICKSTREAM_SPOOL_DIR: dir,
      TICKSTREAM_HOLD: '1',
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let output = '';
  await new Promise((resolve) => {
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('reported 120\n')) resolve();
    });
  });
  assert.throws(() => new Reporter({ url: 'http://x', token: 't', spoolDir: dir }), SpoolInUse);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('exit', resolve));
  const ingest = await fakeIngest();
  const next = new Reporter({ url: ingest.url, token: 't', spoolDir: dir, logger: QUIET });
  assert.deepEqual(await next.close(), { pending: 0 });
  ingest.server.close();
  assert.deepEqual(
    ingest.received.map((r) => r.item.message_id),
    dispatches(120).map((d) => d.message_id),
  );
});

test('a refused batch is set aside, and what follows is still delivered', async () => {
  const dir = spool();
  const ingest = await fakeIngest([[422, {}]]);
  const reporter = new Reporter({ url: ingest.url, token: 't', spoolDir: dir, logger: QUIET });
  reporter.dispatch(dispatches(1)[0]);
  while (reporter.pending > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  reporter.dispatch(dispatches(2)[1]);
  assert.deepEqual(await reporter.close(), { pending: 0 });
  ingest.server.close();
  assert.deepEqual(ingest.received.map((r) => r.item.message_id), [dispatches(2)[1].message_id]);
  const aside = JSON.parse(fs.readFileSync(path.join(dir, 'rejected.ndjson'), 'utf8'));
  assert.equal(aside.status, 422);
  assert.equal(aside.items[0].message_id, dispatches(1)[0].message_id);
});

test('half a line left by a kill is cut, the whole lines before it kept', () => {
  const dir = spool();
  const journal = new Journal(dir);
  journal.append('dispatch', { message_id: 'a' });
  journal.append('dispatch', { message_id: 'b' });
  journal.close();
  fs.appendFileSync(path.join(dir, 'journal.ndjson'), '{"k":"dispatch","v":{"mess');
  const reopened = new Journal(dir);
  reopened.append('dispatch', { message_id: 'c' });
  const batch = reopened.next(10, 1024);
  assert.deepEqual(batch.reports.map((r) => r.v.message_id), ['a', 'b', 'c']);
  reopened.commit(batch.end);
  assert.equal(reopened.pending, 0);
  reopened.close();
});
