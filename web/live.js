// The live stream (GET /v1/stream, Server-Sent Events), read with fetch: the session cookie travels by
// itself (a machine may send a bearer token or ?token= instead). Reconnects on its own with the last event id
// (Last-Event-ID): when the server still has what was missed it replays it (ready {resumed: true});
// otherwise the page re-fetches what it shows.

export function connect({ onEvent, onStatus, onUnauthorized }) {
  let stopped = false;
  let controller = null;
  let attempt = 0;
  let lastId = null;

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const headers = { Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch("/v1/stream", {
          headers, credentials: "same-origin",
          signal: controller.signal, cache: "no-store",
        });
        if (response.status === 401) { onUnauthorized?.(); return; }
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        const reconnected = attempt > 0;
        attempt = 0;
        await read(response.body, (event, data) => {
          if (event === "ready") onStatus?.("live", reconnected && !data.resumed);
          onEvent(event, data);
        }, (id) => { lastId = id; });
      } catch (err) {
        if (stopped) return;
      }
      if (stopped) return;
      onStatus?.("offline");
      attempt += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(30000, 1000 * 2 ** Math.min(attempt, 5))));
    }
  }

  run();
  return () => { stopped = true; controller?.abort(); };
}

/** The SSE wire format: blocks separated by a blank line; `event:` and `data:` lines; `:` comments. */
async function read(body, onEvent, onId) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = text;
        else if (field === "id") onId(text);
        else if (field === "data") data.push(text);
      }
      if (!data.length) continue;
      try { onEvent(event, JSON.parse(data.join("\n"))); } catch { /* a malformed event is skipped */ }
    }
  }
}
