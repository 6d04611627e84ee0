// The portal's service worker. Minimal for now: the Web Push handlers (sw-push.js). The PWA's app-shell cache
// lands here too (issue 14's PWA work); keep this importScripts line when merging.
importScripts("sw-push.js");
