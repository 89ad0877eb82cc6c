'use strict';

// The reporter a whatsapp-web.js service adds in three lines (README of this package):
//
//   const reporter = new Reporter({ url, token });
//   reporter.dispatch({ message_id: sent.id._serialized, campaign_id, workspace_id, recipient });
//   (optionally with template, variant and tags, the labels of the campaign's breakdowns)
//   client.on('message_ack', (message, ack) => reporter.ack(message, ack));
//
// Every call is written to the spool before it returns; a sender loop delivers the spool in
// order, in batches, to ingest's bulk API, and retries with backoff while ingest answers 503
// or cannot be reached. Nothing is sent from the calling code's path.

const { Journal, SpoolInUse } = require('./journal');
const {
  ENDPOINTS,
  LABEL_LIMITS,
  STATUS_OF_ACK,
  ackReport,
  campaignReport,
  dispatchReport,
  skipReport,
} = require('./reports');

const DEFAULTS = {
  spoolDir: './tickstream-spool',
  maxBatch: 500,
  maxBatchBytes: 512 * 1024, // half of ingest's default MAX_BODY_BYTES
  lingerMs: 50,
  retryMinMs: 200,
  retryMaxMs: 5000,
  requestTimeoutMs: 15000,
};

class Reporter {
  constructor(options) {
    const settings = { ...DEFAULTS, ...options };
    if (!settings.url) throw new TypeError('url (tickstream ingest) is required');
    if (!settings.token) throw new TypeError('token (a sender key or INGEST_API_TOKEN) is required');
    this.settings = settings;
    this.url = settings.url.replace(/\/+$/, '');
    this.log = settings.logger || console;
    this.journal = new Journal(settings.spoolDir);
    this.closing = false;
    this.stopped = false;
    this.wake = null;
    this.controller = null;
    this.loop = this._run();
  }

  campaign(campaign) {
    this._report('campaign', campaignReport(campaign));
  }

  dispatch(dispatch) {
    this._report('dispatch', dispatchReport(dispatch));
  }

  skip(skip) {
    this._report('skip', skipReport(skip));
  }

  ack(message, ack) {
    this._report('ack', ackReport(message, ack));
  }

  // How many bytes of reports wait in the spool.
  get pending() {
    return this.journal.pending;
  }

  // Deliver what the spool holds (at most `timeoutMs`), then stop. What could not be delivered
  // stays in the spool for the next start.
  async close({ timeoutMs = 10000 } = {}) {
    if (this.closing) return this.loop;
    this.closing = true;
    const deadline = setTimeout(() => this._stop(), timeoutMs);
    this._nudge();
    try {
      await this.loop;
    } finally {
      clearTimeout(deadline);
      this.journal.close();
    }
    return { pending: this.journal.pending };
  }

  _report(kind, item) {
    if (this.closing) throw new Error('the reporter is closed');
    this.journal.append(kind, item);
    this._nudge();
  }

  _nudge() {
    if (this.wake) this.wake();
  }

  _stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
    this._nudge();
  }

  async _run() {
    const { maxBatch, maxBatchBytes, lingerMs } = this.settings;
    while (!this.stopped) {
      const batch = this.journal.next(maxBatch, maxBatchBytes);
      if (batch === null) {
        if (this.closing) return;
        await this._sleep(null); // until the next report
        if (!this.closing) await this._sleep(lingerMs); // let a few more join the batch
        continue;
      }
      if (await this._deliver(batch.reports)) this.journal.commit(batch.end);
    }
  }

  // Each kind of the batch to its endpoint; true once all are answered for good.
  async _deliver(reports) {
    for (const [kind, path] of ENDPOINTS) {
      const items = reports.filter((report) => report.k === kind).map((report) => report.v);
      if (items.length > 0 && !(await this._post(kind, path, items))) return false;
    }
    return true;
  }

  async _post(kind, path, items) {
    const body = JSON.stringify(items);
    for (let attempt = 0; !this.stopped; attempt += 1) {
      const answer = await this._request(path, body);
      if (answer.ok) return true;
      if (!answer.retry) {
        this.log.error(`tickstream: ${path} refused ${items.length} reports (${answer.status}): ${answer.text}`);
        this.journal.setAside(kind, items, answer.status, answer.text);
        return true;
      }
      const backoff = Math.min(this.settings.retryMaxMs, this.settings.retryMinMs * 2 ** attempt);
      const wait = Math.max(answer.retryAfterMs, backoff * (0.5 + Math.random() / 2));
      if (attempt === 0 || attempt % 10 === 0) {
        this.log.warn(`tickstream: ${path} ${answer.status || answer.text}; retrying, reports kept in the spool`);
      }
      await this._sleep(wait);
    }
    return false;
  }

  async _request(path, body) {
    this.controller = new AbortController();
    const timer = setTimeout(() => this.controller.abort(), this.settings.requestTimeoutMs);
    try {
      const response = await fetch(this.url + path, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.settings.token}`, 'Content-Type': 'application/json' },
        body,
        signal: this.controller.signal,
      });
      const text = await response.text();
      const retryAfterMs = 1000 * Number(response.headers.get('retry-after') || 0);
      return { ok: response.ok, status: response.status, text, retry: retryable(response.status, text), retryAfterMs };
    } catch (error) {
      return { ok: false, status: 0, text: String(error.cause || error), retry: true, retryAfterMs: 0 };
    } finally {
      clearTimeout(timer);
      this.controller = null;
    }
  }

  // Wait `ms` (null: until nudged); a report or close() ends the wait early. Timers are unref'd:
  // the reporter never keeps a process alive, the spool keeps what is left.
  _sleep(ms) {
    return new Promise((resolve) => {
      const timer = ms === null ? null : setTimeout(done, ms);
      if (timer) timer.unref();
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wake === done) self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }
}

// Worth retrying: ingest or Kafka unavailable, or a configuration a person will fix (a wrong or
// missing token). Any other refusal would be refused again.
function retryable(status, text) {
  if (status >= 500 || [401, 408, 429].includes(status)) return true;
  return status === 403 && text.includes('"not configured"');
}

module.exports = { Reporter, SpoolInUse, STATUS_OF_ACK, LABEL_LIMITS, retryable };
