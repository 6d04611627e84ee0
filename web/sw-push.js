// Web Push handlers of the portal's service worker (imported by sw.js). The payload is the engine's message,
// already in Chinese first: {title, body, key, url}; `key` (the delivery ledger's) collapses repeats.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { body: event.data?.text() ?? "" }; }
  const title = data.title || "Leadflow";
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "", tag: data.key || undefined, renotify: Boolean(data.key),
    data: { url: data.url || "/#/inbox" }, lang: "zh-CN",
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/#/inbox", self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      if (new URL(client.url).origin === self.location.origin) {
        await client.focus();
        if ("navigate" in client) await client.navigate(target);
        return;
      }
    }
    await self.clients.openWindow(target);
  })());
});

self.addEventListener("pushsubscriptionchange", (event) => {
  // the push service rotated the subscription: the page re-subscribes on its next visit (it needs the token)
  event.waitUntil(Promise.resolve());
});
