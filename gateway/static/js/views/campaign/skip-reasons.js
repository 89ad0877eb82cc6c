// The skipped recipients behind *Skips by reason*. The insights carry no skip reasons, so this one
// panel still reads recipient rows (status=skipped, pages of 1,000, up to a cap), and only when the
// snapshot's skipped count differs from the rows last read: senders record skips before sending,
// so a campaign's skips are usually read once (docs/dashboard.md).

import { formatCount, skipBreakdown } from "../../format.js";

const CAP = 5000;

export class SkipReasons {
  constructor(api, campaignId) {
    this.api = api;
    this.id = campaignId;
    this.reset();
  }

  // Forget what was read, so the next refresh reads again (a resync after being offline).
  reset() {
    this.readFor = null; // the skipped count the rows shown match
  }

  // {groups, note} for the panel, or null when the rows shown already match `skippedCount`. Rows
  // can lag the snapshot's count (the sink writes them apart), so a short read is tried again.
  async refresh(skippedCount) {
    if (this.readFor === skippedCount) return null;
    if (skippedCount === 0) {
      this.readFor = 0;
      return { groups: [], note: "" };
    }
    const { rows, complete } = await this.api.allRecipients(this.id, CAP, { status: "skipped" });
    this.readFor = rows.length >= Math.min(skippedCount, CAP) ? skippedCount : null;
    const note = complete ? "" : `From the first ${formatCount(rows.length)} of ${formatCount(skippedCount)} skipped recipients.`;
    return { groups: skipBreakdown(rows), note };
  }
}
