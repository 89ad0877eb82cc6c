// The campaign's tags, one compact row each (the gateway's /tags). Hidden without tags.

import { h } from "../../dom.js";
import { groupTable } from "../../group-table.js";
import { card } from "./card.js";

export class TagsPanel {
  constructor() {
    this.body = h("div", {});
    this.element = card("Tags", this.body, { id: "h-tags" });
    this.element.hidden = true;
  }

  // `report`: the gateway's /tags answer; null when the campaign has no tags.
  update(report) {
    const tags = report?.tags ?? [];
    this.element.hidden = tags.length === 0;
    this.body.replaceChildren(groupTable({ id: "tags", heading: "Tag", name: (t) => t.tag, groups: tags }));
  }
}
