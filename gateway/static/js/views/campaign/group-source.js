// A panel fed by a REST read that the snapshot can only tell is out of date: the variants'
// comparison and the tags' rates are the gateway's (/variants, /tags), so they are read again
// when the snapshot's groups of that kind changed, and not at all while there are none.

export class GroupSource {
  constructor(kind, read, panel) {
    this.kind = kind;
    this.read = read;
    this.panel = panel;
    this.reset();
  }

  // Forget what was read, so the next refresh reads again (a resync after being offline).
  reset() {
    this.shown = null;
  }

  async refresh(insights) {
    const groups = (insights?.groups ?? []).filter((g) => g.kind === this.kind);
    const key = JSON.stringify(groups);
    if (key === this.shown) return;
    this.shown = key;
    const request = (this.request = Symbol("request"));
    if (groups.length === 0) {
      this.panel.update(null);
      return;
    }
    try {
      const answer = await this.read();
      if (request === this.request) this.panel.update(answer); // else a newer read won
    } catch (error) {
      this.shown = null; // read again next time
      throw error;
    }
  }
}
