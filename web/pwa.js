// The installable app (issue 13 section 5): registers the service worker (web/sw.js, served at /sw.js) and
// shows a clear offline state: a banner while the browser is offline or the API cannot be reached.

import { h } from "./dom.js";
import { t } from "./i18n.js";

let banner = null;

export function setOffline(offline) {
  if (!banner) {
    banner = h("div", { class: "offline-banner", testid: "offline", role: "status", hidden: true });
    document.body.prepend(banner);
  }
  banner.textContent = t("ui.offlineBanner");
  banner.hidden = !offline;
  document.documentElement.dataset.offline = offline ? "1" : "";
}

export function installPwa() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => { /* http on a LAN address: no app */ });
  }
  addEventListener("offline", () => setOffline(true));
  addEventListener("online", () => setOffline(false));
  setOffline(navigator.onLine === false);
}
