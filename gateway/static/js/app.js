// The dashboard's entry point: token, router (#/, #/campaigns/<id>, #/templates), connection
// indicator.

import { Api, ApiError, forgetToken, storeToken, takeToken, tokenWorkspace } from "./api.js";
import { h, setText, toast } from "./dom.js";
import { LiveSocket } from "./live.js";
import { CampaignView } from "./views/campaign.js";
import { ListView } from "./views/list.js";
import { TemplatesView } from "./views/templates.js";

const STATE_TEXT = {
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  live: "Live",
  offline: "Offline",
};

class App {
  constructor(token) {
    this.api = new Api(token);
    this.main = document.getElementById("main");
    this.names = new Map();
    this.workspaceId = "";
    this.view = null;
    this.live = new LiveSocket(token, {
      onSnapshot: (channel, data) => this.view?.onSnapshot(channel, data),
      onState: (state, detail) => this.showState(state, detail),
      onResync: () => this.resync(),
      onError: (error) => this.socketError(error),
      onRetry: (attempt) => this.probe(attempt),
    });
  }

  start() {
    const workspace = tokenWorkspace(this.api.token);
    if (workspace) this.setWorkspace(workspace);
    window.addEventListener("hashchange", () => this.route());
    this.route();
    this.live.start();
  }

  rememberCampaigns(campaigns) {
    for (const c of campaigns) this.names.set(String(c.campaign_id), c.name);
    if (campaigns.length && !this.workspaceId) this.setWorkspace(String(campaigns[0].workspace_id));
  }

  setWorkspace(id) {
    this.workspaceId = id;
    const label = document.getElementById("workspace-label");
    label.hidden = false;
    label.textContent = `Workspace ${id}`;
  }

  campaignName(id) {
    return this.names.get(String(id)) || "";
  }

  viewOf(hash) {
    const match = hash.match(/^#\/campaigns\/(.+)$/);
    if (match) return new CampaignView(this, decodeURIComponent(match[1]));
    return hash === "#/templates" ? new TemplatesView(this) : new ListView(this);
  }

  async route() {
    this.view?.destroy();
    this.view = this.viewOf(window.location.hash);
    const view = this.view;
    this.main.replaceChildren(view.element);
    document.title = `${view.title()} · tickstream`;
    this.main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    try {
      if (view instanceof CampaignView && this.names.size === 0) {
        this.rememberCampaigns((await this.api.campaigns()).campaigns);
      }
      await view.load();
      this.viewLoaded = true;
    } catch (error) {
      if (view === this.view) this.fail(error);
    }
  }

  // After a reconnect: fetch what the page shows again, so nothing missed while offline is lost.
  async resync() {
    const first = !this.hadSocket;
    this.hadSocket = true;
    if (!this.view || (first && this.viewLoaded)) return; // just loaded: nothing missed yet
    try {
      await this.view.resync();
    } catch (error) {
      this.fail(error);
    }
  }

  // A WebSocket refused at the upgrade tells the browser nothing; REST says whether the token
  // was the reason (401), so an expired token leads to the sign-in form, not endless retries.
  async probe(attempt) {
    if (attempt % 3 !== 0) return;
    try {
      await this.api.campaigns();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.live.stop();
        this.fail(error);
      }
    }
  }

  showState(state, detail) {
    const conn = document.getElementById("conn");
    conn.dataset.state = state;
    setText(document.getElementById("conn-text"), detail ? `${STATE_TEXT[state]} · ${detail}` : STATE_TEXT[state], {
      flash: false,
    });
    conn.title = state === "live" ? "Receiving live updates" : "Live updates paused; the page resyncs when the connection is back";
  }

  socketError(error) {
    if (error.code === "unauthorized" || error.code === "forbidden") {
      this.fail(new ApiError(401, error.message));
    } else if (error.message) {
      toast(error.message, { kind: "error" });
    }
  }

  fail(error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      forgetToken();
      this.live.stop();
      showSignIn(`The gateway refused the token (${error.message}). Paste a new one.`);
      return;
    }
    if (error instanceof ApiError && error.status === 404) {
      this.main.replaceChildren(
        h("div", { class: "notice" }, h("h1", {}, "Campaign not found"), h("p", {}, error.message), h("a", { href: "#/" }, "← All campaigns")),
      );
      return;
    }
    toast(error.message || String(error), { kind: "error" });
  }
}

function showSignIn(message = "") {
  const input = h("input", {
    id: "token-input",
    type: "password",
    autocomplete: "off",
    required: true,
    spellcheck: "false",
  });
  const form = h(
    "form",
    {
      class: "card signin",
      onsubmit: (event) => {
        event.preventDefault();
        storeToken(input.value.trim());
        window.location.reload();
      },
    },
    h("h1", {}, "Open the dashboard"),
    message ? h("p", { class: "error-text", role: "alert" }, message) : null,
    h("p", {}, "The dashboard needs a workspace token. Create one with ", h("code", {}, "tickstream token --workspace <id>"), " and open the page as ", h("code", {}, "/?token=…"), " or paste it here."),
    h("label", { for: "token-input" }, "Workspace token"),
    input,
    h("button", { type: "submit", class: "button button-primary" }, "Open"),
  );
  document.getElementById("main").replaceChildren(form);
  document.getElementById("conn").hidden = true;
  input.focus();
}

const token = takeToken();
if (token) new App(token).start();
else showSignIn();
