// The gateway's REST API with the workspace token (docs/dashboard.md).

const TOKEN_KEY = "tickstream.token";

export class ApiError extends Error {
  constructor(status, message, code = "") {
    super(message);
    this.status = status;
    this.code = code; // the gateway's error code, e.g. not_found or no_snapshot
  }
}

// The token comes from `?token=` once; it is kept in sessionStorage and taken out of the address
// bar so it does not end up in screenshots, history or a shared link.
export function takeToken() {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// The workspace a token names (its payload is base64url JSON {"w": id, "exp": …}); only a label
// and the workspace channel come from it, the gateway checks the signature of every request.
export function tokenWorkspace(token) {
  try {
    const payload = token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(payload)).w ?? "");
  } catch {
    return "";
  }
}

export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  async get(path, params = {}) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    let response;
    try {
      response = await fetch(url, {
        headers: { Authorization: `Bearer ${this.token}`, Accept: "application/json" },
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "The gateway cannot be reached.");
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      let code = "";
      try {
        const body = await response.json();
        message = body.message || body.error || message;
        code = body.error || "";
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(response.status, message, code);
    }
    return response.json();
  }

  campaigns() {
    return this.get("/api/campaigns");
  }

  campaign(id) {
    return this.get(`/api/campaigns/${encodeURIComponent(id)}`);
  }

  series(id) {
    return this.get(`/api/campaigns/${encodeURIComponent(id)}/series`);
  }

  variants(id) {
    return this.get(`/api/campaigns/${encodeURIComponent(id)}/variants`);
  }

  tags(id) {
    return this.get(`/api/campaigns/${encodeURIComponent(id)}/tags`);
  }

  templates() {
    return this.get("/api/templates");
  }

  recipients(id, { status, after, limit }) {
    return this.get(`/api/campaigns/${encodeURIComponent(id)}/recipients`, { status, after, limit });
  }

  csvUrl(id) {
    const url = new URL(`/api/campaigns/${encodeURIComponent(id)}/recipients.csv`, window.location.origin);
    url.searchParams.set("token", this.token);
    return url.pathname + url.search;
  }
}
