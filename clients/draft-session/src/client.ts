// The course-creation form's draft session (API.md, functions/draft_session), done once for every
// front end: a plain page and the React hook both drive this class. Nothing touches `window`,
// `document` or storage before start(), so importing it during server rendering is safe.
//
//   const drafts = new DraftClient({ apiBase, getToken })
//   await drafts.start()                        // restore this tab's session, or open one
//   drafts.update({ topic: 'Python' })          // autosaved 3 s after the last change
//   const { courseId } = await drafts.materialize('submit', finalValues)

import { DraftApiError, retryAfterMs } from './errors.js';
import type { FormData, FormValues, Materialized, MaterializeReason, Session, SessionList, SessionSummary, SessionState } from './types.js';

export const AUTOSAVE_DELAY_MS = 3000;

/** What a page shows in its badge (the `state` event). */
export type DraftState =
  | 'starting'      // opening or restoring the session
  | 'pending'       // changes not saved yet (the autosave waits for a pause in typing)
  | 'saving'        // a request is under way
  | 'saved'         // the server has everything on screen
  | 'offline'       // the API or its store is unreachable; retrying, nothing on screen is lost
  | 'invalid'       // some fields were refused (see `invalid`); the others are saved
  | 'error'         // a refusal retrying will not fix (e.g. 401): the page must act
  | 'materialized'; // the course row exists; from now on the course is the platform's, not ours

export const STATES: readonly DraftState[] = Object.freeze([
  'starting', 'pending', 'saving', 'saved', 'offline', 'invalid', 'error', 'materialized',
] as const);

export interface TokenRequest { refresh: boolean }

export interface DraftClientOptions {
  /** draft_session's Function URL (a trailing slash is fine). */
  apiBase: string;
  /** The user's Supabase access token; asked before every request, with refresh=true once after a 401. */
  getToken?: (request: TokenRequest) => string | null | undefined | Promise<string | null | undefined>;
  /** Where this tab's session is remembered (default sessionStorage: a reload keeps it, a new tab starts its own). */
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  storageKey?: string;
  autosaveDelayMs?: number;
  maxBackoffMs?: number;
  /** How often one materialize() sends its request before giving up (503s, no answer). */
  materializeAttempts?: number;
  fetch?: typeof fetch;
  /** Send an Idempotency-Key with every write (the deployment's CORS must allow the header). */
  idempotencyKeys?: boolean;
  /** Makes a fresh Idempotency-Key (default crypto.randomUUID). */
  newKey?: () => string;
}

export interface DraftSnapshot {
  state: DraftState;
  sessionId: string | null;
  storage: string | null;
  version: number;
  /** The server's form with this tab's unsaved edits on top (those may still be refused). */
  formData: FormData;
  courseId: string | null;
  slug: string | null;
  invalid: Record<string, FieldProblem>;
  /** The form was submitted (here, or elsewhere): it takes no more edits. A file upload alone leaves it open. */
  submitted: boolean;
  /** The course was created by another tab or device (a save answered 409 already_materialized). */
  alreadySubmitted: boolean;
  /** start() found this tab's session in storage (a reload), rather than opening a new one. */
  restored: boolean;
}

/** A field the server refused: its message, and the stable code and limit to translate it by. */
export interface FieldProblem { message: string; code?: string; limit?: number }

export interface DraftEvents {
  state: { state: DraftState; error: DraftApiError | null };
  session: DraftSnapshot;
  remotechange: FormValues;
  /** A save met another writer's version: the server's fields were merged under our unsaved ones. */
  conflict: { fields: string[]; formData: FormValues };
  invalid: Record<string, FieldProblem>;
  expired: { sessionId: string | null };
  unauthorized: DraftApiError;
  materialized: Materialized;
  /** Another tab or device submitted this draft first; our unsaved edits were not applied. */
  alreadysubmitted: Materialized & { unsaved: FormValues };
}

type Listener<T> = (detail: T) => void;

/** One write as it went on the wire: resent as it was, with its key, while its outcome is unknown. */
interface Write {
  method: 'POST' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  key: string | null;
  /** The fields this write saves (confirmed once it is answered). */
  fields?: FormValues;
}

interface Read { method: 'GET'; path: string; key: null }

interface Stored {
  sessionId: string | null;
  version: number;
  form: FormValues;
  pending: FormValues;
  courseId: string | null;
  slug: string | null;
  submitted?: boolean;
  alreadySubmitted?: boolean;
  unsettled?: Write | null;
}

export class DraftClient extends EventTarget {
  readonly apiBase: string;
  state: DraftState = 'starting';
  sessionId: string | null = null;
  storageKind: string | null = null;   // "redis", or "database" (the server's fallback when Redis is down)
  version = 0;
  form: FormValues = {};               // what the form shows: the server's formData plus unsaved changes
  pending: FormValues = {};            // field -> value not yet confirmed by the server (null: remove it)
  invalid: Record<string, FieldProblem> = {};
  courseId: string | null = null;
  slug: string | null = null;
  submitted = false;
  alreadySubmitted = false;
  restored = false;
  lastError: DraftApiError | null = null;

  private readonly getToken: NonNullable<DraftClientOptions['getToken']>;
  private readonly storageKey: string;
  private readonly autosaveDelayMs: number;
  private readonly maxBackoffMs: number;
  private readonly materializeAttempts: number;
  private readonly storageArea: DraftClientOptions['storage'] | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly idempotencyKeys: boolean;
  private readonly newKey: () => string;

  private needsRestore = false;
  private lock: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  private backingOff = false;
  private listening = false;
  private starting: Promise<DraftSnapshot> | null = null;
  /** A save whose answer never came (503, no answer): it goes again as it was, same key, before anything else. */
  private unsettled: Write | null = null;

  constructor(options: DraftClientOptions) {
    super();
    if (!options?.apiBase) throw new TypeError('DraftClient needs apiBase (the draft_session function URL)');
    this.apiBase = String(options.apiBase).replace(/\/+$/, '');
    this.getToken = options.getToken ?? (() => null);
    this.storageKey = options.storageKey ?? 'course-draft';
    this.autosaveDelayMs = options.autosaveDelayMs ?? AUTOSAVE_DELAY_MS;
    this.maxBackoffMs = options.maxBackoffMs ?? 30000;
    this.materializeAttempts = options.materializeAttempts ?? 6;
    this.storageArea = options.storage;
    this.fetchImpl = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.idempotencyKeys = options.idempotencyKeys ?? true;
    this.newKey = options.newKey ?? (() => globalThis.crypto.randomUUID());
  }

  // --- public API ---

  /** Subscribe to an event; returns the unsubscribe function (handy in a React effect). */
  on<K extends keyof DraftEvents>(type: K, listener: Listener<DraftEvents[K]>): () => void {
    const wrapped = (event: Event) => listener((event as CustomEvent<DraftEvents[K]>).detail);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  /**
   * Restore this tab's session (same id and form after a reload) or open a new one. Resolves after
   * the first attempt whatever its outcome: offline, the form still works and saving goes on later.
   * Calling it again (React's development remount) reuses the first call: never a second session.
   */
  start(): Promise<DraftSnapshot> {
    this.listen();
    if (hasKeys(this.pending) && !this.courseId) this.schedule();  // a remount: the timer stop() cleared
    this.starting ??= this.open();
    return this.starting;
  }

  /** Record changed fields (null or '' removes a field); saved autosaveDelayMs after the last call. */
  update(changes: FormValues): void {
    for (const [field, raw] of Object.entries(changes || {})) {
      const value = raw === '' || raw === undefined ? null : raw;
      if (value === null) delete this.form[field];
      else this.form[field] = value;
      delete this.invalid[field];
      if (!this.courseId) this.pending[field] = value;
    }
    this.save();
    if (this.courseId) return;
    if (this.state !== 'offline') this.setState('pending');
    this.schedule();
  }

  /** Save now (e.g. before leaving a step); resolves when the server has it or the attempt failed. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    return this.sync();
  }

  /**
   * Create the course row (once: repeats answer the same course). Call it on submit and before a
   * file upload, which needs a course id. `finalValues` are merged into the session first. One
   * call is one request with one Idempotency-Key, resent as it was after a 503 or no answer.
   */
  async materialize(reason: MaterializeReason, finalValues?: FormValues): Promise<Materialized> {
    if (reason !== 'submit' && reason !== 'file_upload') throw new TypeError('reason: "submit" or "file_upload"');
    if (finalValues) this.update(finalValues);
    clearTimeout(this.timer);
    return this.exclusive(async () => {
      if (this.courseId) return this.answered(reason, this.course(false));
      let write: Write | null = null;
      for (let attempt = 1; ; attempt += 1) {
        try {
          if (this.unsettled?.method === 'POST' && !this.sessionId) await this.settle();  // an open in limbo
          if (!this.sessionId) await this.create();
          write ??= this.write('POST', `/drafts/${this.sessionId}/materialize`, {
            reason, formData: { ...this.wireForm(), ...withoutInvalid(this.pending, this.invalid) },
          });
          this.setState('saving');
          const result = await this.send<Materialized>(write);
          this.closed(result, false);
          return this.answered(reason, result);
        } catch (caught) {
          const err = asApiError(caught);
          const again = attempt < this.materializeAttempts;
          if (again && err.status === 404) { this.expired(); write = null; continue; } // gone: a new session, same form
          if (err.alreadyMaterialized) return this.alreadyClosed(err);
          if (err.status === 422) this.refuse(err);  // the submit stops: the page shows the fields
          this.fail(err, false);
          if (!again || !err.retryable) {
            if (hasKeys(this.pending)) this.schedule();
            throw err;
          }
          await sleep(this.backoff(err));
        }
      }
    });
  }

  /** Delete the session on the server and forget it here (the user dropped the form). */
  async discard(): Promise<void> {
    clearTimeout(this.timer);
    await this.exclusive(async () => {
      if (this.sessionId && !this.courseId) {
        try {
          await this.send(this.write('DELETE', `/drafts/${this.sessionId}`));
        } catch (caught) {
          const err = asApiError(caught);
          if (err.alreadyMaterialized) { await this.alreadyClosed(err); return; }
          if (err.status !== 404) throw err;
        }
      }
      this.forget();
    });
  }

  /** Forget this tab's session or course locally and open a fresh one (e.g. "create another course"). */
  async reset(): Promise<DraftSnapshot> {
    clearTimeout(this.timer);
    await this.exclusive(async () => this.forget());
    return this.start();
  }

  /** The user's open drafts other than this tab's, newest first (GET /drafts), to offer for resuming. */
  async otherDrafts(): Promise<SessionSummary[]> {
    const list = await this.get<SessionList>('/drafts');
    return list.sessions.filter((s) => s.sessionId !== this.sessionId);
  }

  /**
   * Continue another draft in this tab (one opened on another device, say). The two sessions are
   * never merged: this tab's own session is deleted if it holds nothing, otherwise left as it is
   * on the server (still listed, still resumable), and the chosen one's form replaces the screen.
   */
  async resume(sessionId: string): Promise<DraftSnapshot> {
    await this.flush();  // what this tab typed stays with its own session
    await this.exclusive(async () => {
      const session = await this.get<Session>(`/drafts/${sessionId}`);
      const previous = this.sessionId;
      const empty = !hasKeys(this.form) && !hasKeys(this.pending);
      if (previous && previous !== sessionId && empty && !this.courseId) {
        await this.send(this.write('DELETE', `/drafts/${previous}`)).catch(() => {}); // it expires anyway
      }
      Object.assign(this, { sessionId, version: 0, form: {}, pending: {}, invalid: {}, courseId: null, slug: null,
        submitted: false, alreadySubmitted: false, unsettled: null, needsRestore: false, restored: true });
      await this.adoptOrClose(session);
      this.save();
      this.emit('session', this.snapshot());
      if (!this.courseId) this.setState('saved');
    });
    return this.snapshot();
  }

  /**
   * Remove the listeners and timers (a React effect's cleanup). Pending changes stay in storage;
   * with `flush`, they also go out at once, as on pagehide (the form unmounts: a route change).
   */
  stop({ flush = false }: { flush?: boolean } = {}): void {
    if (flush) this.leave();
    clearTimeout(this.timer);
    clearTimeout(this.retryTimer);
    this.backingOff = false;
    if (this.listening) {
      globalThis.removeEventListener?.('pagehide', this.onHide);
      globalThis.removeEventListener?.('online', this.onOnline);
      globalThis.document?.removeEventListener('visibilitychange', this.onHide);
      this.listening = false;
    }
  }

  snapshot(): DraftSnapshot {
    return {
      state: this.state, sessionId: this.sessionId, storage: this.storageKind, version: this.version,
      formData: { ...this.form } as FormData, courseId: this.courseId, slug: this.slug, invalid: { ...this.invalid },
      submitted: this.submitted, alreadySubmitted: this.alreadySubmitted, restored: this.restored,
    };
  }

  // --- opening ---

  private async open(): Promise<DraftSnapshot> {
    const saved = this.load();
    if (saved) {
      this.sessionId = saved.sessionId || null;
      this.version = saved.version || 0;
      this.form = saved.form || {};
      this.pending = saved.pending || {};
      this.courseId = saved.courseId || null;
      this.slug = saved.slug || null;
      this.submitted = Boolean(saved.submitted);
      this.alreadySubmitted = Boolean(saved.alreadySubmitted);
      this.unsettled = saved.unsettled || null;
      this.restored = Boolean(this.sessionId);
    }
    if (this.courseId) {
      this.setState('materialized');
    } else {
      this.needsRestore = Boolean(this.sessionId);
      await this.sync();
    }
    return this.snapshot();
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    globalThis.addEventListener?.('pagehide', this.onHide);
    globalThis.addEventListener?.('online', this.onOnline);
    globalThis.document?.addEventListener('visibilitychange', this.onHide);
  }

  // --- the save loop: one request at a time, retried with backoff ---

  private schedule(): void {
    clearTimeout(this.timer);
    // While a retry waits out its backoff (Retry-After), new edits go with that retry, not sooner.
    this.timer = setTimeout(() => { if (!this.backingOff) this.kick(); }, this.autosaveDelayMs);
  }

  private kick(): void {
    clearTimeout(this.retryTimer);
    this.backingOff = false;
    void this.sync();
  }

  /** The browser is back online: retry now, unless the server itself asked us to wait. */
  private readonly onOnline = () => { if (!this.backingOff || this.lastError?.status === 0) this.kick(); };

  private sync(): Promise<void> {
    return this.exclusive(async () => {
      if (this.courseId) return;
      try {
        for (let rebases = 0, rekeys = 0; ;) {
          if (this.unsettled) await this.settle();
          if (!this.sessionId) await this.create();
          else if (this.needsRestore) await this.restore();
          if (this.courseId) return;  // the restore found it submitted
          const sent = withoutInvalid(this.pending, this.invalid);
          if (!hasKeys(sent)) break;
          this.setState('saving');
          try {
            const write = this.write('PATCH', `/drafts/${this.sessionId}`, { formData: sent, version: this.version }, sent);
            await this.saveWith(write);
          } catch (caught) {
            const err = asApiError(caught);
            if (err.status === 404) { this.expired(); continue; }
            if (err.alreadyMaterialized) { await this.alreadyClosed(err); return; }
            if (err.versionConflict && rebases++ < 3) { await this.restore(true); continue; } // another tab wrote
            if (isKeyRefusal(err) && rekeys++ < 1) continue;  // our key named another request: a fresh one
            if (err.status === 422 && this.refuse(err)) continue;
            throw err;
          }
        }
        this.failures = 0;
        this.lastError = null;
        this.setState(hasKeys(this.invalid) ? 'invalid' : hasKeys(this.pending) ? 'pending' : 'saved');
        if (hasKeys(withoutInvalid(this.pending, this.invalid))) this.schedule(); // typed while saving
      } catch (caught) {
        this.fail(asApiError(caught), true);
      }
    });
  }

  /** Send a write; while its outcome is unknown (503, no answer) it stays `unsettled`, to go again as it was. */
  private async saveWith<T extends Session>(write: Write): Promise<T> {
    this.unsettled = write;
    this.save();
    try {
      const session = await this.send<T>(write);
      this.unsettled = null;
      this.confirm(write.fields ?? {});
      this.adopt(session);
      return session;
    } catch (caught) {
      if (!asApiError(caught).retryable) this.unsettled = null;  // a definite answer: that request is over
      this.save();
      throw caught;
    }
  }

  /** Resend the write whose answer never came, with its own key: the server applies it at most once. */
  private async settle(): Promise<void> {
    const write = this.unsettled!;
    try {
      if (write.method === 'POST') await this.opened(await this.saveWith(write));
      else await this.saveWith(write);
    } catch (caught) {
      const err = asApiError(caught);
      if (err.retryable) throw err;
      // A definite refusal of the old request: the loop goes on and meets the same cause afresh
      // (a 404, a 409, a 422 on the pending fields), which it knows how to handle.
    }
  }

  private async create(): Promise<void> {
    this.setState(this.state === 'starting' ? 'starting' : 'saving');
    await this.opened(await this.saveWith(this.write('POST', '/drafts', { formData: this.wireForm() }, { ...this.pending })));
  }

  private async opened(session: Session): Promise<void> {
    this.sessionId = session.sessionId;
    this.version = session.version;
    this.needsRestore = false;
    this.save();
    this.emit('session', this.snapshot());
  }

  private async restore(conflict = false): Promise<void> {
    try {
      const session = await this.get<Session>(`/drafts/${this.sessionId}`);
      this.needsRestore = false;
      const before = { ...this.form };
      await this.adoptOrClose(session);
      if (conflict && !this.courseId) {
        const fields = Object.keys({ ...before, ...this.form }).filter((f) => !same(before[f], this.form[f]));
        this.emit('conflict', { fields, formData: { ...this.form } });
      }
      if (!this.courseId) this.emit('session', this.snapshot());
    } catch (caught) {
      if (asApiError(caught).status !== 404) throw caught;
      this.expired();
      await this.create();
    }
  }

  /** A session read back: open, it is adopted; submitted (here or elsewhere), this tab shows its course. */
  private async adoptOrClose(session: Session): Promise<void> {
    const state: SessionState = session.state ?? 'open';
    if (state === 'open') { this.adopt(session); return; }
    this.storageKind = session.storage || this.storageKind;
    await this.fetchCourse(this.pending);
  }

  /** A session the server no longer has (expired, or removed): keep the form, open a new one. */
  private expired(): void {
    this.emit('expired', { sessionId: this.sessionId });
    this.sessionId = null;
    this.version = 0;
    this.needsRestore = false;
    this.unsettled = null;
    this.pending = {};  // all of the form goes with the new session
  }

  /** A 422: the named form fields wait for the user's next edit; true if some form field was named. */
  private refuse(err: DraftApiError): boolean {
    const fields = err.details
      .filter((d) => String(d.field || '').startsWith('formData.'))
      .map((d) => ({ ...d, field: String(d.field).slice('formData.'.length).split('.')[0] }));
    if (!fields.length) return false;
    for (const d of fields) {
      const problem: FieldProblem = { message: d.message };
      if (d.code) problem.code = d.code;
      if (d.limit !== undefined && d.limit !== null) problem.limit = d.limit;
      this.invalid[d.field!] = problem;
    }
    this.emit('invalid', { ...this.invalid });
    return true;
  }

  private fail(err: DraftApiError, retry: boolean): void {
    this.lastError = err;
    this.failures += 1;
    this.setState(err.retryable ? 'offline' : err.status === 422 ? 'invalid' : 'error', err);
    if (retry && err.retryable) {
      clearTimeout(this.retryTimer);
      this.backingOff = true;
      this.retryTimer = setTimeout(() => this.kick(), this.backoff(err));
    } else if (err.status === 401) {
      this.emit('unauthorized', err);
    }
  }

  /** Exponential backoff with jitter, never sooner than the server's Retry-After. */
  private backoff(err: DraftApiError): number {
    const exp = Math.min(this.maxBackoffMs, 500 * 2 ** Math.min(this.failures, 10));
    const jittered = exp / 2 + Math.random() * (exp / 2);
    return Math.max(err.retryAfterMs || 0, jittered);
  }

  /** The server confirmed `sent`: those fields are saved unless the user changed them meanwhile. */
  private confirm(sent: FormValues): void {
    for (const [field, value] of Object.entries(sent)) {
      if (field in this.pending && same(this.pending[field], value)) delete this.pending[field];
    }
    this.save();
  }

  /** Take the server's formData, keeping unsaved local changes on top; tell the page if it differs. */
  private adopt(session: Session): void {
    this.storageKind = session.storage || this.storageKind;
    this.version = Math.max(this.version, session.version || 0);
    const next: FormValues = { ...(session.formData as FormValues || {}) };
    for (const [field, value] of Object.entries(this.pending)) {
      if (value === null) delete next[field];
      else next[field] = value;
    }
    const changed = !same(next, this.form);
    this.form = next;
    this.save();
    if (changed) this.emit('remotechange', { ...next });
  }

  // --- the course: ours, or one another tab created first ---

  private answered(reason: MaterializeReason, result: Materialized): Materialized {
    if (reason === 'submit' && !this.submitted) {
      this.submitted = true;
      this.save();
      this.emit('session', this.snapshot());
    }
    return result;
  }

  private course(created: boolean): Materialized {
    return { courseId: this.courseId!, slug: this.slug!, sessionId: this.sessionId!, created };
  }

  /** The course exists (or is being created): the row is the truth from now on. */
  private closed(result: Materialized, elsewhere: boolean, unsaved: FormValues = {}): void {
    clearTimeout(this.timer);
    clearTimeout(this.retryTimer);
    this.backingOff = false;
    this.courseId = result.courseId;
    this.slug = result.slug;
    this.pending = {};
    this.unsettled = null;
    this.alreadySubmitted = elsewhere;
    this.submitted ||= elsewhere;
    this.failures = 0;
    this.lastError = null;
    this.save();
    this.setState('materialized');
    if (elsewhere) this.emit('alreadysubmitted', { ...result, unsaved });
    else this.emit('materialized', result);
  }

  /** 409 already_materialized on a save or discard: stop saving, and ask for the course (no formData). */
  private async alreadyClosed(err: DraftApiError): Promise<Materialized> {
    const unsaved = { ...this.pending };
    return this.fetchCourse(unsaved, err);
  }

  private async fetchCourse(unsaved: FormValues, cause?: DraftApiError): Promise<Materialized> {
    clearTimeout(this.timer);
    // Materialize without formData completes a materialization another tab began, or answers the
    // course it made: nothing of ours is applied to it. Retried with the same key while unreachable.
    const write = this.write('POST', `/drafts/${this.sessionId}/materialize`, { reason: 'submit' });
    for (let attempt = 1; ; attempt += 1) {
      try {
        const result = await this.send<Materialized>(write);
        this.closed(result, true, unsaved);
        return result;
      } catch (caught) {
        const err = asApiError(caught);
        if (!err.retryable || attempt >= this.materializeAttempts) {
          this.fail(err, false);
          throw cause ?? err;
        }
        this.failures += 1;
        await sleep(this.backoff(err));
      }
    }
  }

  // --- leaving the page: the last keystrokes go out with a keepalive request ---

  private readonly onHide = (event: Event) => {
    if (event.type === 'visibilitychange' && globalThis.document?.visibilityState !== 'hidden') return;
    this.leave();
  };

  private leave(): void {
    if (!this.sessionId || this.courseId) return;
    const sent = withoutInvalid(this.pending, this.invalid);
    if (!hasKeys(sent)) return;
    const sessionId = this.sessionId;
    // No version: if the page survives, a versioned save would have to rebase; if it does not, last write wins.
    this.send<Session>(this.write('PATCH', `/drafts/${sessionId}`, { formData: sent }, sent), { keepalive: true })
      .then((session) => {
        if (session.sessionId !== this.sessionId) return;
        this.confirm(sent);
        this.version = Math.max(this.version, session.version);
        if (!hasKeys(this.pending) && this.state === 'pending') this.setState('saved');
      })
      .catch(() => {}); // the page is going away, or the save loop sends what stays pending
  }

  // --- HTTP ---

  private write(method: Write['method'], path: string, body?: unknown, fields?: FormValues): Write {
    return { method, path, body, key: this.idempotencyKeys ? this.newKey() : null, ...(fields ? { fields } : {}) };
  }

  private get<T>(path: string): Promise<T> {
    return this.send<T>({ method: 'GET', path, key: null });
  }

  private async send<T>(write: Write | Read, { keepalive = false } = {}): Promise<T> {
    const body = 'body' in write ? write.body : undefined;
    for (let refresh = false; ; refresh = true) {
      const token = await this.getToken({ refresh });
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (write.key) headers['Idempotency-Key'] = write.key;
      let response: Response;
      try {
        const init: RequestInit = { method: write.method, headers, keepalive, mode: 'cors', credentials: 'omit', cache: 'no-store' };
        if (body !== undefined) init.body = JSON.stringify(body);
        response = await this.fetchImpl(this.apiBase + write.path, init);
      } catch {
        throw new DraftApiError(0, null, 0); // offline, DNS, refused, or blocked by CORS
      }
      const data = response.status === 204 ? null : await response.json().catch(() => null);
      if (response.ok) return data as T;
      if (response.status === 401 && !refresh) continue; // once, with a fresh token (same key: same request)
      throw new DraftApiError(response.status, data?.error, retryAfterMs(response.headers.get('Retry-After')));
    }
  }

  // --- small helpers ---

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.lock.then(task, task);
    this.lock = run.catch(() => {});
    return run;
  }

  private wireForm(): FormValues {
    const form = { ...this.form };
    for (const field of Object.keys(this.invalid)) delete form[field];
    return form;
  }

  private setState(state: DraftState, error: DraftApiError | null = null): void {
    const changed = state !== this.state;
    this.state = state;
    if (changed || error) this.emit('state', { state, error });
  }

  private emit<K extends keyof DraftEvents>(type: K, detail: DraftEvents[K]): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  private area(): DraftClientOptions['storage'] {
    if (this.storageArea !== undefined) return this.storageArea;
    try { return globalThis.sessionStorage ?? null; } catch { return null; } // blocked in some privacy modes
  }

  private load(): Stored | null {
    try {
      const raw = this.area()?.getItem(this.storageKey);
      return raw ? JSON.parse(raw) as Stored : null;
    } catch { return null; }
  }

  private save(): void {
    const { sessionId, version, form, pending, courseId, slug, submitted, alreadySubmitted, unsettled } = this;
    const stored: Stored = { sessionId, version, form, pending, courseId, slug, submitted, alreadySubmitted, unsettled };
    try {
      this.area()?.setItem(this.storageKey, JSON.stringify(stored));
    } catch { /* full or blocked storage: the server copy still works */ }
  }

  private forget(): void {
    clearTimeout(this.retryTimer);
    this.backingOff = false;
    try { this.area()?.removeItem(this.storageKey); } catch { /* nothing to forget */ }
    Object.assign(this, { sessionId: null, version: 0, form: {}, pending: {}, invalid: {}, courseId: null, slug: null,
      storageKind: null, submitted: false, alreadySubmitted: false, restored: false, unsettled: null, needsRestore: false, failures: 0,
      starting: null });
    this.setState('starting');
  }
}

function asApiError(caught: unknown): DraftApiError {
  return caught instanceof DraftApiError ? caught : new DraftApiError(0, { message: String(caught) }, 0);
}

/** 422 naming the Idempotency-Key: that key already named a different request. */
function isKeyRefusal(err: DraftApiError): boolean {
  return err.status === 422 && err.details.some((d) => d.field === 'Idempotency-Key');
}

function withoutInvalid(fields: FormValues, invalid: Record<string, unknown>): FormValues {
  const out: FormValues = {};
  for (const [field, value] of Object.entries(fields)) if (!(field in invalid)) out[field] = value;
  return out;
}

function hasKeys(object: object): boolean {
  return Object.keys(object).length > 0;
}

/** Deep equality of JSON values, ignoring key order. */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((key) => Object.prototype.hasOwnProperty.call(b, key)
    && same((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
