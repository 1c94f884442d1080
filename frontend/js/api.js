//! HTTP client for the Liveroom API: same-origin fetch with the session cookie,
//! JSON in and out, and every failure turned into an ApiError carrying the
//! contract's `code` and human `message` so pages can show it in words.

/** An error answered by the server (or a network failure, code `network`). */
export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = extra.field;
    this.retryAfter = extra.retryAfter;
  }
}

/** Fallback words when the server gave no message (it always should). */
const FALLBACK = {
  invalid_input: 'Please check what you entered.',
  unauthorized: 'Please log in again.',
  forbidden: 'You are not allowed to do that.',
  csrf: 'The request was refused for safety. Reload the page and try again.',
  not_found: 'Not found.',
  insufficient_balance: 'Not enough coins. Recharge your wallet first.',
  expired: 'This has expired.',
  too_large: 'That is too large.',
  rate_limited: 'Too fast. Please wait a moment.',
  internal: 'Something went wrong on our side. Please try again.',
  network: 'Cannot reach the server. Check your connection and try again.',
};

/** Listeners told about 401s, so the app can send the person to the login page. */
const unauthorizedListeners = new Set();
export function onUnauthorized(fn) { unauthorizedListeners.add(fn); }

/**
 * Calls the API. `body` is sent as JSON when given. Resolves with the parsed
 * JSON (or null for 204), rejects with ApiError.
 */
export async function api(method, path, body, options = {}) {
  const headers = { Accept: 'application/json', ...(options.headers || {}) };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', FALLBACK.network);
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    const code = e.code || codeForStatus(res.status);
    const retry = res.headers.get('Retry-After');
    const err = new ApiError(res.status, code, e.message || FALLBACK[code] || `Request failed (${res.status}).`, {
      field: e.field,
      retryAfter: retry ? Number(retry) : undefined,
    });
    if (res.status === 401 && !options.quiet401) unauthorizedListeners.forEach((fn) => fn(err));
    throw err;
  }
  return data;
}

function codeForStatus(status) {
  return ({ 400: 'invalid_input', 401: 'unauthorized', 402: 'insufficient_balance', 403: 'forbidden',
    404: 'not_found', 410: 'expired', 413: 'too_large', 429: 'rate_limited' })[status] || 'internal';
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);
export const put = (path, body, opts) => api('PUT', path, body, opts);
export const patch = (path, body, opts) => api('PATCH', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

/** Words for an error of any kind, for toasts and inline messages. */
export function errorText(err) {
  if (err instanceof ApiError) return err.message;
  return (err && err.message) || FALLBACK.internal;
}

/** A fresh key for idempotent requests (recharges). */
export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

/** Finds the caller's live room by scanning the live list (there is no /me/room). */
export async function findMyRoom(userId) {
  for (let page = 1; page <= 5; page += 1) {
    const res = await get(`/api/rooms?page=${page}&page_size=100`);
    const mine = res.items.find((r) => r.anchor && r.anchor.id === userId);
    if (mine) return mine;
    if (page * 100 >= res.total) break;
  }
  return null;
}
