// The portal's service worker (served at /sw.js so its scope is the whole portal): it keeps the app shell
// (the page, its scripts, styles, icons) so the installed app opens from the home screen, also offline.
// The shell is fetched from the network first (a new version shows at once) and from the cache when the
// network is gone; the API (/v1/...) and the stream are never cached: offline, the page says so
// (web/pwa.js) and shows what it last loaded.

const CACHE = "leadflow-shell-v2";
const SHELL = [
  "/", "/web/style.css", "/web/app.js", "/web/api.js", "/web/charts.js", "/web/countdown.js", "/web/dom.js",
  "/web/forms.js", "/web/i18n.js", "/web/live.js", "/web/pwa.js", "/web/session.js", "/web/views/account.js", "/web/views/calendar.js",
  "/web/views/detail.js", "/web/views/lists.js", "/web/views/oem.js", "/web/manifest.webmanifest",
  "/web/icons/icon-192.png", "/web/icons/icon-512.png",
];

// Web Push (next issue): its handlers live in web/sw-push.js. Loaded if it is there; while it is not, the
// import fails and is ignored, so this worker installs either way. Bump CACHE when adding it, so installed
// workers update and pick it up.
try {
  importScripts("/web/sw-push.js");
} catch (err) {
  // no push handlers yet
}

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("leadflow-shell-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  const shell = request.mode === "navigate" || url.pathname.startsWith("/web/") || url.pathname === "/";
  if (!shell) return;  // the API and the stream: always the network
  event.respondWith((async () => {
    try {
      const response = await fetch(request);
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(request.mode === "navigate" ? "/" : request, copy));
      }
      return response;
    } catch (err) {
      const cached = await caches.match(request.mode === "navigate" ? "/" : request, { ignoreSearch: true });
      if (cached) return cached;
      throw err;
    }
  })());
});
