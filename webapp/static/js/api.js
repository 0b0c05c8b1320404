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
