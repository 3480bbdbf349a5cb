// draft-client.js: the course-creation form's draft session (API.md, functions/draft_session),
// done once for every front end. A dependency-free ES module: a plain page imports it as it is,
// and so does a React or Next.js client component (nothing touches `window` before start()).
//
//   const drafts = new DraftClient({ apiBase, getToken })
//   await drafts.start()                        // restore this tab's session, or open one
//   drafts.update({ topic: 'Python' })          // autosaved 3 s after the last change
//   const { courseId } = await drafts.materialize('submit', finalValues)

export const AUTOSAVE_DELAY_MS = 3000;

// What `state` can be; a page shows it ("saving / saved / offline") from the `state` event.
export const STATES = Object.freeze([
  'starting',     // opening or restoring the session
  'pending',      // changes not saved yet (the autosave waits for a pause in typing)
  'saving',       // a request is under way
  'saved',        // the server has everything on screen
  'offline',      // the API or its store is unreachable; retrying, nothing on screen is lost
  'invalid',      // some fields were refused (see the `invalid` event); the others are saved
  'error',        // a refusal retrying will not fix (e.g. 401): the page must act
  'materialized', // the course row exists; from now on the course is the platform's, not ours
]);

/** An answer of the API other than 2xx, or no answer at all (status 0). */
export class DraftApiError extends Error {
  constructor(status, error, retryAfterMs) {
    super((error && error.message) || (status ? `HTTP ${status}` : 'The API could not be reached.'));
    this.name = 'DraftApiError';
    this.status = status;
    this.code = (error && error.code) || (status ? 'http_error' : 'network_error');
    this.details = (error && error.details) || [];
    this.retryAfterMs = retryAfterMs;
  }

  /** Worth retrying as it is: no answer, a store down (503), a limit (429), a proxy's 5xx. */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export class DraftClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.apiBase draft_session's Function URL (no trailing slash needed)
   * @param {(opts: {refresh: boolean}) => string|Promise<string>} options.getToken the user's Supabase
   *        access token; called before every request, with refresh=true once after a 401
   * @param {Storage} [options.storage] where this tab's session is remembered (default sessionStorage:
   *        a reload keeps it, a new tab starts its own)
   */
  constructor({
    apiBase, getToken, storage, storageKey = 'course-draft',
    autosaveDelayMs = AUTOSAVE_DELAY_MS, maxBackoffMs = 30000, materializeAttempts = 6, fetch: fetchImpl,
  } = {}) {
    super();
    if (!apiBase) throw new TypeError('DraftClient needs apiBase (the draft_session function URL)');
    this.apiBase = String(apiBase).replace(/\/+$/, '');
    this.getToken = getToken || (() => null);
    this.storageKey = storageKey;
    this.autosaveDelayMs = autosaveDelayMs;
    this.maxBackoffMs = maxBackoffMs;
    this.materializeAttempts = materializeAttempts;
    this._storage = storage;
    this._fetch = fetchImpl || ((...args) => globalThis.fetch(...args));

    this.state = 'starting';
    this.sessionId = null;
    this.storageKind = null;   // "redis" or "database" (the server's fallback when Redis is down)
    this.version = 0;
    this.form = {};            // what the form shows: the server's formData plus unsaved changes
    this.pending = {};         // field -> value not yet confirmed by the server (null: remove it)
    this.invalid = {};         // field -> message, refused by the server until the user edits it
    this.courseId = null;
    this.slug = null;
    this.lastError = null;

    this._needsRestore = false;
    this._lock = Promise.resolve();
    this._timer = null;
    this._retryTimer = null;
    this._failures = 0;
    this._started = false;
    this._onHide = this._onHide.bind(this);
    this._onOnline = () => this._kick();
  }

  // --- public API ---

  /** Subscribe to an event; returns the unsubscribe function (handy in a React effect). */
  on(type, listener) {
    const wrapped = (event) => listener(event.detail, event);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  /**
   * Restore this tab's session (same id and form after a reload) or open a new one. Resolves after
   * the first attempt whatever its outcome: offline, the form still works and saving goes on later.
   */
  async start() {
    if (!this._started) {
      this._started = true;
      if (typeof window !== 'undefined') {
        window.addEventListener('pagehide', this._onHide);
        window.addEventListener('online', this._onOnline);
      }
      if (typeof document !== 'undefined') document.addEventListener('visibilitychange', this._onHide);
    }
    const saved = this._load();
    if (saved) {
      Object.assign(this, {
        sessionId: saved.sessionId || null, version: saved.version || 0, form: saved.form || {},
        pending: saved.pending || {}, courseId: saved.courseId || null, slug: saved.slug || null,
      });
    }
    if (this.courseId) {
      this._setState('materialized');
    } else {
      this._needsRestore = Boolean(this.sessionId);
      await this._sync();
    }
    return this.snapshot();
  }

  /** Record changed fields (null or '' removes a field); saved AUTOSAVE_DELAY_MS after the last call. */
  update(changes) {
    for (const [field, raw] of Object.entries(changes || {})) {
      const value = raw === '' || raw === undefined ? null : raw;
      if (value === null) delete this.form[field];
      else this.form[field] = value;
      delete this.invalid[field];
      if (!this.courseId) this.pending[field] = value;
    }
    this._save();
    if (this.courseId) return;
    if (this.state !== 'offline') this._setState('pending');
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._kick(), this.autosaveDelayMs);
  }

  /** Save now (e.g. before leaving a step); resolves when the server has it or the attempt failed. */
  flush() {
    clearTimeout(this._timer);
    return this._sync();
  }

  /**
   * Create the course row (once: repeats answer the same course). Call it on submit and before a file
   * upload, which needs a course id. `finalValues` are merged into the session first.
   * @returns {Promise<{courseId: string, slug: string, sessionId: string, created: boolean}>}
   */
  async materialize(reason, finalValues) {
    if (reason !== 'submit' && reason !== 'file_upload') throw new TypeError('reason: "submit" or "file_upload"');
    if (finalValues) this.update(finalValues);
    clearTimeout(this._timer);
    return this._exclusive(async () => {
      if (this.courseId) {
        return { courseId: this.courseId, slug: this.slug, sessionId: this.sessionId, created: false };
      }
      for (let attempt = 1; ; attempt += 1) {
        try {
          if (!this.sessionId) await this._create();
          const sent = { ...this.pending };
          this._setState('saving');
          const result = await this._request('POST', `/drafts/${this.sessionId}/materialize`, {
            reason, formData: { ...this._wireForm(), ...withoutInvalid(sent, this.invalid) },
          });
          Object.assign(this, { courseId: result.courseId, slug: result.slug, pending: {} });
          this._failures = 0;
          clearTimeout(this._retryTimer);
          this._save();
          this._setState('materialized');
          this._emit('materialized', result);
          return result;
        } catch (err) {
          const again = attempt < this.materializeAttempts;
          if (again && err.status === 404) { this._expired(); continue; } // gone: a new session, same form
          if (again && err.status === 422 && this._refuse(err)) continue;
          this._fail(err, false);
          if (!again || !err.retryable) {
            if (hasKeys(this.pending)) this._timer = setTimeout(() => this._kick(), this.autosaveDelayMs);
            throw err;
          }
          await sleep(this._backoff(err)); // materialize is exactly-once on the server: retrying is safe
        }
      }
    });
  }

  /** Delete the session on the server and forget it here (the user dropped the form). */
  async discard() {
    clearTimeout(this._timer);
    return this._exclusive(async () => {
      if (this.sessionId && !this.courseId) {
        try { await this._request('DELETE', `/drafts/${this.sessionId}`); } catch (err) { if (err.status !== 404) throw err; }
      }
      this._forget();
    });
  }

  /** Forget this tab's session or course locally and open a fresh one (e.g. "create another course"). */
  async reset() {
    clearTimeout(this._timer);
    await this._exclusive(async () => this._forget());
    return this.start();
  }

  /** Remove the listeners and timers (a React effect's cleanup). Pending changes stay in storage. */
  stop() {
    clearTimeout(this._timer);
    clearTimeout(this._retryTimer);
    if (typeof window !== 'undefined') {
      window.removeEventListener('pagehide', this._onHide);
      window.removeEventListener('online', this._onOnline);
    }
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', this._onHide);
    this._started = false;
  }

  snapshot() {
    return {
      state: this.state, sessionId: this.sessionId, storage: this.storageKind, version: this.version,
      formData: { ...this.form }, courseId: this.courseId, slug: this.slug, invalid: { ...this.invalid },
    };
  }

  // --- the save loop: one request at a time, retried with backoff ---

  _kick() {
    clearTimeout(this._retryTimer);
    this._sync();
  }

  _sync() {
    return this._exclusive(async () => {
      if (this.courseId) return;
      try {
        for (let rebases = 0; ; ) {
          if (!this.sessionId) await this._create();
          else if (this._needsRestore) await this._restore();
          const sent = withoutInvalid(this.pending, this.invalid);
          if (!Object.keys(sent).length) break;
          this._setState('saving');
          try {
            const session = await this._request('PATCH', `/drafts/${this.sessionId}`, { formData: sent, version: this.version });
            this._confirm(sent);
            this._adopt(session);
          } catch (err) {
            if (err.status === 404) { this._expired(); continue; }
            if (err.status === 409 && rebases++ < 3) { await this._restore(); continue; } // another tab wrote
            if (err.status === 422 && this._refuse(err)) continue;
            throw err;
          }
        }
        this._failures = 0;
        this.lastError = null;
        this._setState(Object.keys(this.invalid).length ? 'invalid' : hasKeys(this.pending) ? 'pending' : 'saved');
        if (hasKeys(withoutInvalid(this.pending, this.invalid))) { // typed while saving
          clearTimeout(this._timer);
          this._timer = setTimeout(() => this._kick(), this.autosaveDelayMs);
        }
      } catch (err) {
        this._fail(err, true);
      }
    });
  }

  async _create() {
    this._setState(this.state === 'starting' ? 'starting' : 'saving');
    const sent = { ...this.pending };
    const session = await this._request('POST', '/drafts', { formData: this._wireForm() });
    this.sessionId = session.sessionId;
    this.version = session.version;
    this._needsRestore = false;
    this._confirm(sent);
    this._adopt(session);
    this._emit('session', this.snapshot());
  }

  async _restore() {
    try {
      const session = await this._request('GET', `/drafts/${this.sessionId}`);
      this.version = session.version;
      this._needsRestore = false;
      this._adopt(session);
      this._emit('session', this.snapshot());
    } catch (err) {
      if (err.status !== 404) throw err;
      this._expired();
      await this._create();
    }
  }

  /** A session the server no longer has (expired, or removed): keep the form, open a new one. */
  _expired() {
    this._emit('expired', { sessionId: this.sessionId });
    this.sessionId = null;
    this.version = 0;
    this._needsRestore = false;
    this.pending = {};  // all of the form goes with the new session
  }

  /** A 422: the named fields wait for the user's next edit; true if some field was named. */
  _refuse(err) {
    const fields = err.details
      .map((d) => ({ field: String(d.field || '').replace(/^formData\./, '').split('.')[0], message: d.message }))
      .filter((d) => d.field && d.field !== 'version');
    if (!fields.length) return false;
    for (const { field, message } of fields) this.invalid[field] = message;
    this._emit('invalid', { ...this.invalid });
    return true;
  }

  _fail(err, retry) {
    this.lastError = err;
    this._failures += 1;
    this._setState(err.retryable ? 'offline' : 'error', err);
    if (retry && err.retryable) {
      clearTimeout(this._retryTimer);
      this._retryTimer = setTimeout(() => this._kick(), this._backoff(err));
    } else if (retry && err.status === 401) {
      this._emit('unauthorized', err);
    }
  }

  /** Exponential backoff with jitter, never sooner than the server's Retry-After. */
  _backoff(err) {
    const exp = Math.min(this.maxBackoffMs, 500 * 2 ** Math.min(this._failures, 10));
    const jittered = exp / 2 + Math.random() * (exp / 2);
    return Math.max(err.retryAfterMs || 0, jittered);
  }

  /** The server confirmed `sent`: those fields are saved unless the user changed them meanwhile. */
  _confirm(sent) {
    for (const [field, value] of Object.entries(sent)) {
      if (field in this.pending && same(this.pending[field], value)) delete this.pending[field];
    }
    this._save();
  }

  /** Take the server's formData, keeping unsaved local changes on top; tell the page if it differs. */
  _adopt(session) {
    this.storageKind = session.storage || this.storageKind;
    this.version = Math.max(this.version, session.version || 0);
    const next = { ...(session.formData || {}) };
    for (const [field, value] of Object.entries(this.pending)) {
      if (value === null) delete next[field];
      else next[field] = value;
    }
    const changed = !same(next, this.form);
    this.form = next;
    this._save();
    if (changed) this._emit('remotechange', { ...next });
  }

  // --- leaving the page: the last keystrokes go out with a keepalive request ---

  _onHide(event) {
    if (event.type === 'visibilitychange' && document.visibilityState !== 'hidden') return;
    if (!this.sessionId || this.courseId) return;
    const sent = withoutInvalid(this.pending, this.invalid);
    if (!hasKeys(sent)) return;
    const sessionId = this.sessionId;
    // No version: if the page survives, a versioned save would have to rebase; if it does not, last write wins.
    this._request('PATCH', `/drafts/${sessionId}`, { formData: sent }, { keepalive: true })
      .then((session) => {
        if (session.sessionId !== this.sessionId) return;
        this._confirm(sent);
        this.version = Math.max(this.version, session.version);
        if (!hasKeys(this.pending) && this.state === 'pending') this._setState('saved');
      })
      .catch(() => {}); // the page is going away or the save loop retries what stays pending
  }

  // --- HTTP ---

  async _request(method, path, body, { keepalive = false } = {}) {
    for (let refresh = false; ; refresh = true) {
      const token = await this.getToken({ refresh });
      const headers = { Accept: 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      let response;
      try {
        response = await this._fetch(this.apiBase + path, {
          method, headers, body: body === undefined ? undefined : JSON.stringify(body),
          keepalive, mode: 'cors', credentials: 'omit', cache: 'no-store',
        });
      } catch (err) {
        throw new DraftApiError(0, null, 0); // offline, DNS, refused, or blocked by CORS
      }
      const data = response.status === 204 ? null : await response.json().catch(() => null);
      if (response.ok) return data;
      if (response.status === 401 && !refresh) continue; // once, with a fresh token
      throw new DraftApiError(response.status, data && data.error, retryAfterMs(response.headers.get('Retry-After')));
    }
  }

  // --- small helpers ---

  _exclusive(task) {
    const run = this._lock.then(task, task);
    this._lock = run.catch(() => {});
    return run;
  }

  _wireForm() {
    const form = { ...this.form };
    for (const field of Object.keys(this.invalid)) delete form[field];
    return form;
  }

  _setState(state, error = null) {
    const changed = state !== this.state;
    this.state = state;
    if (changed || error) this._emit('state', { state, error });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _storageArea() {
    if (this._storage) return this._storage;
    try { return globalThis.sessionStorage || null; } catch { return null; } // blocked in some privacy modes
  }

  _load() {
    try {
      const raw = this._storageArea()?.getItem(this.storageKey);
      return raw ? JSON.parse(raw) : null;
    } catch { return null; }
  }

  _save() {
    const { sessionId, version, form, pending, courseId, slug } = this;
    try {
      this._storageArea()?.setItem(this.storageKey, JSON.stringify({ sessionId, version, form, pending, courseId, slug }));
    } catch { /* full or blocked storage: the server copy still works */ }
  }

  _forget() {
    clearTimeout(this._retryTimer);
    try { this._storageArea()?.removeItem(this.storageKey); } catch { /* nothing to forget */ }
    Object.assign(this, { sessionId: null, version: 0, form: {}, pending: {}, invalid: {}, courseId: null, slug: null,
      storageKind: null, _needsRestore: false, _failures: 0 });
    this._setState('starting');
  }
}

function retryAfterMs(header) {
  if (!header) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? 0 : Math.max(0, date - Date.now());
}

function withoutInvalid(fields, invalid) {
  const out = {};
  for (const [field, value] of Object.entries(fields)) if (!(field in invalid)) out[field] = value;
  return out;
}

function hasKeys(object) {
  return Object.keys(object).length > 0;
}

/** Deep equality of JSON values, ignoring key order. */
function same(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.prototype.hasOwnProperty.call(b, key) && same(a[key], b[key]));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
