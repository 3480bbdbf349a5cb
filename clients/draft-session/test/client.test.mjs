// DraftClient against a scripted API, with node's fake timers: what goes on the wire, when, and
// with which Idempotency-Key. Each test names the bug it would catch.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';

import { DraftClient } from '../dist/index.js';
import {
  COURSE, OTHER, SID, advance, apiError, fakeApi, fakeWindow, json, keys, memoryStorage, session, settle,
} from './helpers.mjs';

const API = 'https://api.test/api';

function client(api, extra = {}) {
  return new DraftClient({ apiBase: API, fetch: api.fetch, storage: memoryStorage(), newKey: keys, getToken: () => 't1', ...extra });
}

const patches = (api) => api.requests.filter((r) => r.method === 'PATCH');

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

describe('autosave', () => {
  test('saves 3 s after the last change, only the changed fields, with the version it saw', async () => {
    const api = fakeApi();
    const drafts = client(api);
    await drafts.start();
    drafts.update({ topic: 'Py' });
    await advance(2000);
    drafts.update({ topic: 'Python', language: 'ru' });
    await advance(2999);
    assert.equal(patches(api).length, 0, 'saved before a 3 s pause in typing');
    await advance(1);
    assert.deepEqual(patches(api).map((r) => r.body), [{ formData: { topic: 'Python', language: 'ru' }, version: 1 }]);
    assert.equal(drafts.state, 'saved');
  });

  test('every save is a new request with a fresh Idempotency-Key', async () => {
    const api = fakeApi();
    const drafts = client(api);
    await drafts.start();
    drafts.update({ topic: 'A' });
    await advance(3000);
    drafts.update({ topic: 'B' });
    await advance(3000);
    const sent = api.writes().map((r) => r.key);
    assert.equal(sent.length, 3);  // POST /drafts and two PATCHes
    assert.ok(sent.every(Boolean), 'a write went without a key');
    assert.equal(new Set(sent).size, 3, 'a key was reused for a different request');
  });

  test('without idempotencyKeys no header is sent (a deployment whose CORS does not allow it yet)', async () => {
    const api = fakeApi();
    const drafts = client(api, { idempotencyKeys: false });
    await drafts.start();
    drafts.update({ topic: 'A' });
    await advance(3000);
    assert.deepEqual(api.writes().map((r) => r.key), [null, null]);
  });
});

describe('retries', () => {
  test('a 503 is resent as it was, with the same key, no sooner than Retry-After', async () => {
    let down = true;
    const api = fakeApi((req) => (req.method === 'PATCH' && down
      ? apiError(503, 'unavailable', [], { 'Retry-After': '20' }) : undefined));
    const drafts = client(api);
    await drafts.start();
    drafts.update({ topic: 'offline' });
    await advance(3000);
    assert.equal(drafts.state, 'offline');
    drafts.update({ description: 'typed while offline' });  // must not change the request in limbo
    await advance(19_000);
    assert.equal(patches(api).length, 1, 'retried before Retry-After');
    down = false;
    await advance(1000);
    const [first, retry, next] = patches(api);
    assert.equal(retry.key, first.key, 'the retry of one request took another key');
    assert.deepEqual(retry.body, first.body, 'the retry changed the request its key names');
    assert.deepEqual(next.body.formData, { description: 'typed while offline' });
    assert.notEqual(next.key, first.key);
    assert.equal(drafts.state, 'saved');
  });

  test('no answer at all (network error) is retried with the same key too', async () => {
    let fails = 2;
    const api = fakeApi((req) => {
      if (req.method === 'PATCH' && fails-- > 0) throw new TypeError('Failed to fetch');
    });
    const drafts = client(api, { maxBackoffMs: 1000 });
    await drafts.start();
    drafts.update({ topic: 'x' });
    await advance(3000);
    await advance(1000);
    await advance(1000);
    const keysSent = patches(api).map((r) => r.key);
    assert.equal(keysSent.length, 3);
    assert.equal(new Set(keysSent).size, 1);
    assert.equal(drafts.state, 'saved');
  });

  test('opening the session while the store is down makes one session, not one per attempt', async () => {
    let down = 1;
    const api = fakeApi((req) => (req.path === '/drafts' && req.method === 'POST' && down-- > 0
      ? apiError(503, 'unavailable', [], { 'Retry-After': '1' }) : undefined));
    const drafts = client(api);
    await drafts.start();
    assert.equal(drafts.state, 'offline');
    await advance(1000);
    const creates = api.requests.filter((r) => r.method === 'POST');
    assert.equal(creates.length, 2);
    assert.equal(creates[1].key, creates[0].key);
    assert.equal(drafts.sessionId, SID);
  });

  test('a 422 naming the Idempotency-Key gets a fresh key, once', async () => {
    let refused = false;
    const api = fakeApi((req) => {
      if (req.method === 'PATCH' && !refused) {
        refused = true;
        return apiError(422, 'validation_error', [{ field: 'Idempotency-Key', code: 'invalid', message: 'reused' }]);
      }
    });
    const drafts = client(api);
    await drafts.start();
    drafts.update({ topic: 'x' });
    await advance(3000);
    const [a, b] = patches(api);
    assert.notEqual(a.key, b.key);
    assert.deepEqual(drafts.invalid, {}, 'the key was taken for a form field');
    assert.equal(drafts.state, 'saved');
  });
});

describe('tokens', () => {
  test('a 401 asks for a refreshed token once and resends the same request', async () => {
    const asked = [];
    const api = fakeApi((req) => (req.method === 'PATCH' && req.token === 'Bearer old'
      ? apiError(401, 'unauthorized') : undefined));
    const drafts = client(api, { getToken: ({ refresh }) => { asked.push(refresh); return refresh ? 'new' : 'old'; } });
    await drafts.start();
    drafts.update({ topic: 'x' });
    await advance(3000);
    const [first, again] = patches(api);
    assert.equal(again.token, 'Bearer new');
    assert.equal(again.key, first.key);
    assert.deepEqual(asked.slice(-2), [false, true]);
    assert.equal(drafts.state, 'saved');
  });

  test('a token that stays refused is an error the page hears about, not a retry loop', async () => {
    const api = fakeApi((req) => (req.method === 'PATCH' ? apiError(401, 'unauthorized') : undefined));
    const drafts = client(api);
    const heard = [];
    drafts.on('unauthorized', (err) => heard.push(err.code));
    await drafts.start();
    drafts.update({ topic: 'x' });
    await advance(3000);
    await advance(60_000);
    assert.equal(patches(api).length, 2);
    assert.equal(drafts.state, 'error');
    assert.deepEqual(heard, ['unauthorized']);
  });
});

describe('leaving the page', () => {
  test('pagehide sends the unsaved fields at once with keepalive', async () => {
    const win = fakeWindow();
    try {
      const api = fakeApi();
      const drafts = client(api);
      await drafts.start();
      drafts.update({ topic: 'last keystrokes' });
      win.fire('pagehide');
      await settle();
      const [flush] = patches(api);
      assert.ok(flush, 'nothing was sent on pagehide');
      assert.equal(flush.keepalive, true);
      assert.deepEqual(flush.body, { formData: { topic: 'last keystrokes' } });
      assert.ok(flush.key);
      drafts.stop();
      win.fire('pagehide');
      await settle();
      assert.equal(patches(api).length, 1, 'a stopped client still listens');
    } finally {
      win.remove();
    }
  });
  test('stop({flush: true}) sends the unsaved fields like pagehide (a form unmounted by a route change)', async () => {
    const api = fakeApi();
    const drafts = client(api);
    await drafts.start();
    drafts.stop({ flush: true });  // nothing typed: nothing sent (React's development remount)
    await settle();
    assert.equal(patches(api).length, 0);
    await drafts.start();
    drafts.update({ topic: 'typed before leaving' });
    drafts.stop({ flush: true });
    await settle();
    assert.deepEqual(patches(api).map((r) => [r.keepalive, r.body]), [[true, { formData: { topic: 'typed before leaving' } }]]);
  });
});

describe('409', () => {
  test('already_materialized: stop saving, ask for the course without formData, say "already submitted"', async () => {
    const api = fakeApi((req) => {
      if (req.method === 'PATCH') {
        return apiError(409, 'already_materialized', [{ field: 'sessionId', courseId: COURSE, state: 'materialized', message: 'submitted' }]);
      }
      if (req.path.endsWith('/materialize')) return json(200, { courseId: COURSE, slug: 'kurs', sessionId: SID, created: false });
    });
    const drafts = client(api);
    const heard = [];
    drafts.on('alreadysubmitted', (detail) => heard.push(detail));
    await drafts.start();
    drafts.update({ topic: 'edited in the other tab' });
    await advance(3000);
    const materialize = api.requests.find((r) => r.path.endsWith('/materialize'));
    assert.deepEqual(materialize.body, { reason: 'submit' }, 'our unsaved edit was sent into the course');
    assert.ok(materialize.key);
    assert.equal(drafts.state, 'materialized');
    assert.equal(drafts.alreadySubmitted, true);
    assert.equal(heard[0].courseId, COURSE);
    assert.deepEqual(heard[0].unsaved, { topic: 'edited in the other tab' });
    drafts.update({ topic: 'more' });
    await advance(60_000);
    assert.equal(patches(api).length, 1, 'autosave went on after the course existed');
  });

  test('version_conflict: reload, keep our unsaved field on top of theirs, tell the page, save again', async () => {
    let conflicted = false;
    const api = fakeApi((req) => {
      if (req.method === 'PATCH' && !conflicted) {
        conflicted = true;  // another tab saved first
        Object.assign(api.server, { version: 5, form: { topic: 'theirs', targetAudience: 'студенты' } });
        return apiError(409, 'version_conflict');
      }
    });
    const drafts = client(api);
    const conflicts = [];
    drafts.on('conflict', (c) => conflicts.push(c));
    await drafts.start();
    drafts.update({ topic: 'ours' });
    await advance(3000);
    const [, again] = patches(api);
    assert.deepEqual(again.body, { formData: { topic: 'ours' }, version: 5 });
    assert.deepEqual(drafts.form, { topic: 'ours', targetAudience: 'студенты' });
    assert.deepEqual(conflicts.map((c) => c.fields), [['targetAudience']]);
    assert.equal(drafts.state, 'saved');
  });
});

describe('materialize', () => {
  test('a double submit is one request; the second answers the same course', async () => {
    const api = fakeApi();
    const drafts = client(api);
    await drafts.start();
    const [a, b] = await Promise.all([
      drafts.materialize('submit', { topic: 'T' }), drafts.materialize('submit', { topic: 'T' })]);
    assert.equal(api.requests.filter((r) => r.path.endsWith('/materialize')).length, 1);
    assert.equal(a.courseId, COURSE);
    assert.deepEqual([b.courseId, b.created], [COURSE, false]);
  });

  test('a 503 on submit is resent with the same key and body', async () => {
    let down = 1;
    const api = fakeApi((req) => (req.path.endsWith('/materialize') && down-- > 0
      ? apiError(503, 'unavailable', [], { 'Retry-After': '2' }) : undefined));
    const drafts = client(api);
    await drafts.start();
    const done = drafts.materialize('submit', { topic: 'T' });
    await settle();
    await advance(2000);
    await done;
    const [first, retry] = api.requests.filter((r) => r.path.endsWith('/materialize'));
    assert.equal(retry.key, first.key);
    assert.deepEqual(retry.body, { reason: 'submit', formData: { topic: 'T' } });
  });

  test('a refused field stops the submit (no course without it) and is marked', async () => {
    const api = fakeApi((req) => (req.path.endsWith('/materialize')
      ? apiError(422, 'validation_error', [{ field: 'formData.email', code: 'not_email', message: 'not an email' }])
      : undefined));
    const drafts = client(api);
    await drafts.start();
    await assert.rejects(drafts.materialize('submit', { topic: 'T', email: 'nope' }), { status: 422 });
    assert.equal(api.requests.filter((r) => r.path.endsWith('/materialize')).length, 1);
    assert.deepEqual(drafts.invalid, { email: { message: 'not an email', code: 'not_email' } });
    assert.equal(drafts.courseId, null);
  });
});

describe('this tab and the others', () => {
  test('a remount (start, stop, start) opens one session', async () => {
    const api = fakeApi();
    const drafts = client(api);
    const first = drafts.start();
    drafts.stop();
    const second = drafts.start();
    await Promise.all([first, second]);
    assert.equal(api.requests.filter((r) => r.method === 'POST' && r.path === '/drafts').length, 1);
  });

  test('a reload restores the session and its unsaved fields from storage', async () => {
    const storage = memoryStorage();
    const api = fakeApi();
    const first = client(api, { storage });
    await first.start();
    Object.assign(api.server, { version: 3, form: { topic: 'saved' } });
    first.update({ description: 'not yet saved' });
    first.stop();
    const reloaded = client(api, { storage });
    const snap = await reloaded.start();
    assert.equal(snap.restored, true);
    assert.equal(snap.sessionId, SID);
    assert.deepEqual(snap.formData, { topic: 'saved', description: 'not yet saved' });
    assert.equal(api.requests.filter((r) => r.method === 'POST').length, 1, 'the reload opened a second session');
  });

  test('a reload of a submitted session shows it submitted and never saves into it', async () => {
    const api = fakeApi((req) => {
      if (req.method === 'GET') return json(200, session({ state: 'materialized', courseId: COURSE }));
      if (req.path.endsWith('/materialize')) return json(200, { courseId: COURSE, slug: 'kurs', sessionId: SID, created: false });
    });
    // This tab held the session; another tab submitted it before the reload.
    const reloaded = client(api, { storage: memoryStorage({ 'course-draft': JSON.stringify({ sessionId: SID, version: 1, form: {}, pending: { topic: 'x' } }) }) });
    const snap = await reloaded.start();
    assert.deepEqual([snap.state, snap.courseId], ['materialized', COURSE]);
    await advance(10_000);
    assert.equal(patches(api).length, 0);
  });

  test('otherDrafts leaves this tab out; resume switches to the chosen one without merging', async () => {
    const api = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/drafts') {
        return json(200, { sessions: [
          { sessionId: SID, topic: null, updatedAt: '2026-11-01T11:06:00Z', expiresAt: null },
          { sessionId: OTHER, topic: 'С ноутбука', updatedAt: '2026-11-01T11:05:00Z', expiresAt: null }] });
      }
      if (req.method === 'GET') return json(200, session({ sessionId: OTHER, version: 7, formData: { topic: 'С ноутбука' } }));
    });
    const drafts = client(api);
    await drafts.start();
    const others = await drafts.otherDrafts();
    assert.deepEqual(others.map((s) => s.sessionId), [OTHER]);
    const snap = await drafts.resume(OTHER);
    assert.deepEqual([snap.sessionId, snap.version, snap.formData], [OTHER, 7, { topic: 'С ноутбука' }]);
    const removed = api.requests.find((r) => r.method === 'DELETE');
    assert.equal(removed.path, `/drafts/${SID}`, 'the empty fresh session was left behind');
    drafts.update({ description: 'дальше' });
    await advance(3000);
    assert.deepEqual(patches(api).map((r) => [r.path, r.body.version]), [[`/drafts/${OTHER}`, 7]]);
  });

  test('resume keeps a fresh session that holds typing (saved to it, not merged, not deleted)', async () => {
    const api = fakeApi((req) => {
      if (req.method === 'GET') return json(200, session({ sessionId: OTHER, version: 2, formData: { topic: 'other' } }));
    });
    const drafts = client(api);
    await drafts.start();
    drafts.update({ topic: 'typed here' });
    await drafts.resume(OTHER);
    assert.deepEqual(patches(api).map((r) => [r.path, r.body.formData]), [[`/drafts/${SID}`, { topic: 'typed here' }]]);
    assert.equal(api.requests.filter((r) => r.method === 'DELETE').length, 0);
    assert.deepEqual(drafts.form, { topic: 'other' });
  });
});
