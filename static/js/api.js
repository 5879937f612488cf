// The tenant of the page, the visitor's identity and calls to the JSON API.
//
// Identity (SPEC §5): a guest id made with crypto.randomUUID() and kept in localStorage per
// tenant, sent as `X-User-Id` (or the chat body's `user_id`); after login a JWT, also kept per
// tenant, sent as `Authorization: Bearer` instead of the guest id.

const data = document.body.dataset;

export const tenant = Object.freeze({
  id: data.tenantId,
  slug: data.slug,
  name: data.tenantName,
  locale: data.locale,
  welcome: data.welcome || '',
});

const memory = new Map();

/** localStorage under a per-tenant key; an in-memory map where storage is refused (some
 * sandboxed frames), so the page still works for this visit. */
export const storage = {
  key: (name) => `cip:${tenant.id}:${name}`,
  get(name) {
    try {
      return window.localStorage.getItem(this.key(name));
    } catch {
      return memory.get(name) ?? null;
    }
  },
  set(name, value) {
    try {
      window.localStorage.setItem(this.key(name), value);
    } catch {
      memory.set(name, value);
    }
  },
  remove(name) {
    try {
      window.localStorage.removeItem(this.key(name));
    } catch {
      memory.delete(name);
    }
  },
};

function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Pages served over plain http on a non-local host have no randomUUID: build a v4 UUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The guest id, created on first use. */
export function guestId() {
  let id = storage.get('guest');
  if (!id) {
    id = randomId();
    storage.set('guest', id);
  }
  return id;
}

/** The guest id if one was ever made (login hands it over to the account). */
export function existingGuestId() {
  return storage.get('guest');
}

/** The logged-in session `{token, userId, expiresAt}`, or null (none, or expired). */
export function session() {
  const raw = storage.get('session');
  if (!raw) return null;
  try {
    const value = JSON.parse(raw);
    if (typeof value.token === 'string' && value.expiresAt > Date.now()) return value;
  } catch {
    // A damaged entry counts as logged out.
  }
  storage.remove('session');
  return null;
}

/** Keep the login answer; the guest id is forgotten: its history now belongs to the account. */
export function startSession(login) {
  const value = {
    token: login.access_token,
    userId: login.user_id,
    expiresAt: Date.now() + login.expires_in * 1000,
  };
  storage.set('session', JSON.stringify(value));
  storage.remove('guest');
}

export function endSession() {
  storage.remove('session');
  // The current dialog belongs to the account: a guest cannot continue it.
  storage.remove('dialog');
}

/** Headers naming the caller: the token when logged in, else the guest id. */
export function identityHeaders() {
  const current = session();
  return current ? { Authorization: `Bearer ${current.token}` } : { 'X-User-Id': guestId() };
}

/** A failed call: HTTP status (0 for a network failure), the error body, Retry-After. */
export class ApiError extends Error {
  constructor(status, body = {}, retryAfter = null) {
    super(body.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || (status === 0 ? 'network' : 'http_error');
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

export const apiPath = (path) => `/api/v1/tenants/${tenant.id}${path}`;
export const pagePath = (path) => `/${tenant.slug}${path}`;

/** The JSON body of a response, or {} when there is none or it is not JSON. */
export async function readJson(response) {
  try {
    return (await response.json()) ?? {};
  } catch {
    return {};
  }
}

/** Turn a non-2xx response into an ApiError; a refused token ends the session. */
export async function failure(response, usedToken) {
  const body = await readJson(response);
  if (response.status === 401 && usedToken) endSession();
  const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  return new ApiError(response.status, body, Number.isFinite(retryAfter) ? retryAfter : null);
}

/** Call the API. `identity: true` adds the caller's identity headers. Resolves to the JSON
 * answer (null for 204); rejects with ApiError. */
export async function api(path, { method = 'GET', body, identity = false, signal } = {}) {
  const headers = { Accept: 'application/json', ...(identity ? identityHeaders() : {}) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: 'same-origin',
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0);
  }
  if (!response.ok) throw await failure(response, 'Authorization' in headers);
  return response.status === 204 ? null : readJson(response);
}
