// The completion notice: a toast, and a desktop notification for those who asked for one with
// the "Notify me when done" button.

import { h, toast } from "../../dom.js";
import { formatCount, formatDuration, lifecycle } from "../../format.js";

function bellIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML =
    '<path d="M6 16V11a6 6 0 1 1 12 0v5l2 2H4z M10 20a2 2 0 0 0 4 0" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"/>';
  return svg;
}

export class CompletionNotice {
  constructor(campaignId) {
    this.id = campaignId;
    this.completed = null; // null until the first figures arrive
    this.announced = false;
    // Browsers block a permission prompt that no click asked for.
    this.button = h(
      "button",
      { type: "button", class: "button", hidden: true, onclick: () => this.askPermission() },
      bellIcon(),
      "Notify me when done",
    );
  }

  update(stats, phaseKey, name) {
    const canNotify = "Notification" in window && Notification.permission === "default";
    this.button.hidden = !(canNotify && phaseKey === "running");
    if (!stats) return;
    const done = phaseKey === "done";
    const wasDone = this.completed;
    this.completed = done;
    if (done && wasDone === false && !this.announced) this.announce(stats, name);
  }

  // Only a campaign seen sending and then finishing is announced, never one that was done
  // already, and only once per view even if later snapshots reopen and close it again.
  announce(stats, name) {
    this.announced = true;
    const seconds = lifecycle(stats).seconds;
    const took = stats.completed_at && seconds != null ? ` in ${formatDuration(seconds)}` : "";
    const text = `${name} completed${took}: ${formatCount(stats.total_delivered_count)} delivered, ${formatCount(stats.total_read_count)} read, ${formatCount(stats.total_failed_count)} failed, ${formatCount(stats.skipped_count)} skipped.`;
    toast(text, { kind: "success", timeout: 0 });
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        new Notification("Campaign completed", { body: text, tag: `campaign-${this.id}` });
      } catch {
        // some browsers allow notifications only from a service worker; the toast is enough
      }
    }
  }

  async askPermission() {
    const answer = await Notification.requestPermission();
    this.button.hidden = true;
    toast(answer === "granted" ? "You will be notified when this campaign completes." : "Notifications are blocked; the page will show a message instead.");
  }
}
