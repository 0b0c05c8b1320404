// The JSON API: every call carries Telegram's raw initData as `Authorization: tma <initData>`.

import { t } from "./i18n.js";
import { tg } from "./tg.js";

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || t("app.error_title"));
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || null;
    this.data = error;
  }
}

export async function api(method, path, body, headers) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        Authorization: `tma ${tg.initData}`,
        Accept: "application/json",
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...(headers || {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, { code: "network", message: t("app.network_error") });
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, (payload && payload.error) || { code: "http_" + response.status });
  }
  return payload;
}

// A fresh Idempotency-Key: random, printable, without spaces.
export function newIdempotencyKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- screens already seen: shown at once from memory, refreshed quietly ---
//
// `get(path)` answers from memory when the screen was seen before and remembers that the answer may
// be stale; after drawing, the router asks `refreshStale()` and redraws quietly when anything changed.

const memory = new Map(); // path -> { text, data, at }
let staleReads = new Set();
const FRESH_MS = 1500;

export async function get(path) {
  const hit = memory.get(path);
  if (hit) {
    if (Date.now() - hit.at > FRESH_MS) staleReads.add(path);
    return JSON.parse(hit.text); // a copy: screens may not change what the next one reads
  }
  const data = await api("GET", path);
  remember(path, data);
  return data;
}

export function remember(path, data) {
  memory.set(path, { text: JSON.stringify(data), at: Date.now() });
}

export function forget(prefix = "") {
  for (const path of [...memory.keys()]) if (path.startsWith(prefix)) memory.delete(path);
}

export function takeStaleReads() {
  const paths = staleReads;
  staleReads = new Set();
  return paths;
}

// Fetch the given paths again; true when any answer differs from what the screen was drawn from.
export async function refresh(paths) {
  let changed = false;
  await Promise.all([...paths].map(async (path) => {
    try {
      const data = await api("GET", path);
      const text = JSON.stringify(data);
      const before = memory.get(path);
      if (!before || before.text !== text) changed = true;
      memory.set(path, { text, at: Date.now() });
    } catch { /* offline for a moment: the screen keeps what it shows */ }
  }));
  return changed;
}
