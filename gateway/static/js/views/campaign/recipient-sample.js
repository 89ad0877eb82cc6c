// The recipients the latency and breakdown panels are computed from, read page by page up to a
// cap (docs/dashboard.md). A live campaign re-reads them at most every 5 s, longer for a big one
// (2 s per thousand recipients read), so that following it does not load the gateway.

const CAP = 20000;
const REFRESH_MS = 5000;
const MS_PER_THOUSAND = 2000;

export class RecipientSample {
  constructor(api, campaignId) {
    this.api = api;
    this.id = campaignId;
    this.lastRead = 0;
    this.interval = REFRESH_MS;
  }

  // Milliseconds until the next read is due.
  dueIn() {
    return Math.max(0, this.lastRead + this.interval - Date.now());
  }

  // The skipped recipients have a read of their own, so the cap on all recipients cannot cut a
  // big campaign's skip breakdown short.
  async read() {
    this.lastRead = Date.now();
    const [all, skipped] = await Promise.all([
      this.api.allRecipients(this.id, CAP),
      this.api.allRecipients(this.id, CAP, { status: "skipped" }),
    ]);
    const count = all.rows.length + skipped.rows.length;
    this.interval = Math.max(REFRESH_MS, (count / 1000) * MS_PER_THOUSAND);
    return { rows: all.rows, complete: all.complete, skipped: skipped.rows };
  }
}
