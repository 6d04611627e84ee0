// Web Push in the portal: subscribe this browser to the signed-in person's notices, or unsubscribe.
// The server keeps the subscription (POST /v1/push/subscriptions); the worker sends, VAPID-signed and encrypted.
import { get, post } from "./api.js";

const SW = "/sw.js";  // the portal's service worker (web/pwa.js registers it; it imports sw-push.js)

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function keyBytes(base64url) {
  const raw = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

export async function currentSubscription() {
  if (!pushSupported()) return null;
  const registration = await navigator.serviceWorker.getRegistration("/");
  return registration ? registration.pushManager.getSubscription() : null;
}

export async function subscribe() {
  const { public_key: key } = await get("/v1/push/webpush-key");
  if ((await Notification.requestPermission()) !== "granted") throw new Error("permission denied");
  const registration = await navigator.serviceWorker.register(SW, { scope: "/" });
  await navigator.serviceWorker.ready;
  const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  await post("/v1/push/subscriptions", subscription.toJSON());
  return subscription;
}

export async function unsubscribe() {
  const subscription = await currentSubscription();
  if (!subscription) return;
  await post("/v1/push/subscriptions/delete", { endpoint: subscription.endpoint });
  await subscription.unsubscribe();
}
