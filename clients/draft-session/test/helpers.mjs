// A scripted draft_session API for the unit tests: every request is recorded as the server would
// see it, and answered by the test's handler (or the defaults of a healthy server).
import { mock } from 'node:test';

export const SID = '11111111-1111-4111-8111-111111111111';
export const OTHER = '22222222-2222-4222-8222-222222222222';
export const COURSE = '33333333-3333-4333-8333-333333333333';

export function session(overrides = {}) {
  return {
    sessionId: SID, organizationId: null, storage: 'redis', createdAt: '2026-11-01T11:00:00Z',
    updatedAt: '2026-11-01T11:05:00Z', expiresAt: '2026-11-02T11:05:00Z', version: 1, formData: {},
    state: 'open', courseId: null, ...overrides,
  };
}

export function json(status, body, headers = {}) {
  return new Response(body === null ? null : JSON.stringify(body), {
    status, headers: { 'Content-Type': 'application/json', ...headers },
  });
}

export function apiError(status, code, details = [], headers = {}) {
  return json(status, { error: { code, message: `${code} (test)`, details } }, headers);
}

/**
 * `answer(req)` returns a Response, throws (no answer), or returns undefined for the default: a
 * server that accepts everything and merges saves into `api.server` (a test may change it, as
 * another tab would). Requests: {method, path, key, token, body, keepalive}.
 */
export function fakeApi(answer = () => undefined) {
  const requests = [];
  const server = { version: 1, form: {} };
  const current = () => session({ version: server.version, formData: { ...server.form } });
  const merge = (formData = {}) => {
    for (const [field, value] of Object.entries(formData)) {
      if (value === null) delete server.form[field];
      else server.form[field] = value;
    }
  };
  const fetch = async (url, init) => {
    const req = {
      method: init.method, path: new URL(url).pathname.replace(/^\/api/, ''),
      key: init.headers['Idempotency-Key'] ?? null, token: init.headers.Authorization ?? null,
      body: init.body === undefined ? undefined : JSON.parse(init.body), keepalive: init.keepalive,
    };
    requests.push(req);
    const scripted = await answer(req, requests);
    if (scripted) return scripted;
    if (req.method === 'POST' && req.path === '/drafts') { merge(req.body.formData); return json(201, current()); }
    if (req.method === 'PATCH') { merge(req.body.formData); server.version += 1; return json(200, current()); }
    if (req.method === 'GET' && req.path === '/drafts') return json(200, { sessions: [] });
    if (req.method === 'GET') return json(200, current());
    if (req.method === 'DELETE') return new Response(null, { status: 204 });
    if (req.path.endsWith('/materialize')) {
      return json(201, { courseId: COURSE, slug: 'kurs-333333333333', sessionId: SID, created: true });
    }
    throw new Error(`unexpected ${req.method} ${req.path}`);
  };
  return { fetch, requests, server, writes: () => requests.filter((r) => r.method !== 'GET') };
}

export function memoryStorage(initial = {}) {
  const data = new Map(Object.entries(initial));
  return {
    getItem: (k) => (data.has(k) ? data.get(k) : null),
    setItem: (k, v) => data.set(k, String(v)),
    removeItem: (k) => data.delete(k),
    data,
  };
}

/** Lets the promises that timers or answers set going run to their next wait. */
export async function settle() {
  for (let i = 0; i < 30; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** Fake setTimeout moved forward by `ms`, then everything that it set going. */
export async function advance(ms) {
  mock.timers.tick(ms);
  await settle();
}

let counter = 0;
export const keys = () => `key-${++counter}`;

/** A window stand-in for pagehide / online (node has neither). */
export function fakeWindow() {
  const target = new EventTarget();
  globalThis.addEventListener = target.addEventListener.bind(target);
  globalThis.removeEventListener = target.removeEventListener.bind(target);
  return {
    fire: (type) => target.dispatchEvent(new Event(type)),
    remove: () => { delete globalThis.addEventListener; delete globalThis.removeEventListener; },
  };
}
