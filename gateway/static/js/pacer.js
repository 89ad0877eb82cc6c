// Runs a task at most once per interval however often it is asked for: live snapshots may come
// several times a second, and the REST reads they prompt should not (docs/dashboard.md).

export class Pacer {
  constructor(task, intervalMs) {
    this.task = task;
    this.intervalMs = intervalMs;
    this.last = 0;
    this.timer = null;
  }

  request() {
    if (this.timer) return;
    const wait = Math.max(0, this.last + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.last = Date.now();
      this.task();
    }, wait);
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}
