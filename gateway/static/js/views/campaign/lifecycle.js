// When the campaign started and completed, and how long it took (or has taken so far).

import { h, setText, timeOf } from "../../dom.js";
import { formatDuration, lifecycle } from "../../format.js";

export class Lifecycle {
  constructor() {
    this.started = h("dd", { id: "started-at" }, "–");
    this.completed = h("dd", { id: "completed-at" }, "–");
    this.duration = h("dd", { id: "duration" }, "–");
    this.element = h(
      "dl",
      { class: "lifecycle" },
      h("div", {}, h("dt", {}, "Started"), this.started),
      h("div", {}, h("dt", {}, "Completed"), this.completed),
      h("div", {}, h("dt", {}, "Duration"), this.duration),
    );
  }

  update(stats) {
    const life = lifecycle(stats);
    this.started.replaceChildren(life.started ? timeOf(life.started) : "–");
    this.completed.replaceChildren(life.completed ? timeOf(life.completed) : life.started ? "not yet" : "–");
    const took = formatDuration(life.seconds);
    setText(this.duration, life.seconds == null ? "–" : life.completed ? took : `${took} so far`, { flash: false });
  }
}
