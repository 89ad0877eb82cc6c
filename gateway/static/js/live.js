// The gateway's WebSocket: subscriptions that survive reconnects, and a connection state.
//
// The socket reconnects on its own with capped, jittered backoff. After every (re)connect it
// subscribes again to every channel and tells the page through `onResync`, which re-fetches what
// it shows over REST: snapshots missed while offline are then covered, and the gateway also sends
// the current snapshot of each channel at once on subscribe.

const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 5000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8000;

export class LiveSocket {
  constructor(token, { onSnapshot, onState, onResync, onError, onRetry }) {
    this.token = token;
    this.onSnapshot = onSnapshot;
    this.onState = onState;
    this.onResync = onResync;
    this.onError = onError;
    this.onRetry = onRetry;
    this.channels = new Set();
    this.socket = null;
    this.attempt = 0;
    this.timers = {};
    this.state = "connecting";
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.connect();
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.state !== "live") this.reconnectNow();
    });
  }

  setState(state, detail = "") {
    this.state = state;
    this.onState?.(state, detail);
  }

  connect() {
    clearTimeout(this.timers.retry);
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${window.location.host}/ws?token=${encodeURIComponent(this.token)}`;
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let socket;
    try {
      socket = new WebSocket(url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.attempt = 0;
      for (const channel of this.channels) this.send({ action: "subscribe", channel });
      this.setState("live");
      this.heartbeat();
      this.onResync?.();
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      this.handle(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      clearTimeout(this.timers.ping);
      clearTimeout(this.timers.pong);
      if (event.code === 4401 || event.code === 4403) {
        this.onError?.({ code: "unauthorized", message: event.reason || "token refused" });
      }
      if (!this.stopped) this.scheduleRetry();
    });
  }

  handle(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    clearTimeout(this.timers.pong);
    if (message.type === "snapshot" && message.data) {
      this.onSnapshot?.(message.channel, message.data);
    } else if (message.type === "error") {
      this.onError?.(message);
    }
  }

  // A dead TCP connection may never report a close; a missing pong proves it.
  heartbeat() {
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(() => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
      this.send({ action: "ping" });
      this.timers.pong = setTimeout(() => this.socket?.close(4000, "no pong"), PONG_WITHIN_MS);
      this.heartbeat();
    }, PING_EVERY_MS);
  }

  scheduleRetry() {
    this.attempt += 1;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.attempt - 1));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.setState("offline", `retrying in ${Math.ceil(delay / 1000)} s`);
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.connect(), delay);
    this.onRetry?.(this.attempt);
  }

  stop() {
    this.stopped = true;
    for (const timer of Object.values(this.timers)) clearTimeout(timer);
    this.socket?.close(1000, "signed out");
    this.setState("offline", "signed out");
  }

  reconnectNow() {
    if (this.stopped || (this.socket && this.socket.readyState <= WebSocket.OPEN)) return;
    this.connect();
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  // The page's channels; the socket keeps them across reconnects.
  setChannels(channels) {
    const wanted = new Set(channels);
    for (const channel of this.channels) {
      if (!wanted.has(channel)) this.send({ action: "unsubscribe", channel });
    }
    for (const channel of wanted) {
      if (!this.channels.has(channel)) this.send({ action: "subscribe", channel });
    }
    this.channels = wanted;
  }
}
