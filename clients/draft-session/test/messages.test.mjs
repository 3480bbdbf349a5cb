// The Russian texts: refusals translated by their stable code, the server's message otherwise.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { draftTimeRu, fieldMessageRu, resumePromptRu, retryAfterMs } from '../dist/index.js';

test('a refusal is translated by its code, with its limit and the right plural', () => {
  assert.equal(fieldMessageRu({ code: 'too_long', limit: 500, message: 'x' }), 'Не длиннее 500 символов');
  assert.equal(fieldMessageRu({ code: 'too_many_items', limit: 21, message: 'x' }), 'Не больше 21 элемента');
  assert.equal(fieldMessageRu({ code: 'too_large', limit: 200, message: 'x' }), 'Не больше 200');
  assert.equal(fieldMessageRu({ code: 'not_email', message: 'x' }), 'Введите адрес электронной почты, например name@example.com');
});

test('a code the table does not know shows the server\'s own message', () => {
  assert.equal(fieldMessageRu({ code: 'brand_new_code', message: 'must be shiny' }), 'must be shiny');
  assert.equal(fieldMessageRu({ message: 'no code at all' }), 'no code at all');
});

test('the resume offer names the time of the last save, in the user\'s zone', () => {
  const now = new Date('2026-11-01T12:00:00Z');
  assert.equal(resumePromptRu({ updatedAt: '2026-11-01T11:05:00Z' }, now, 'Europe/Moscow'), 'Продолжить черновик от 14:05?');
  assert.match(draftTimeRu('2026-10-30T11:05:00Z', now, 'Europe/Moscow'), /^30 окт\.?, 14:05$/);
});

test('Retry-After as seconds or as an HTTP date', () => {
  assert.equal(retryAfterMs('5'), 5000);
  assert.equal(retryAfterMs('Sun, 01 Nov 2026 12:00:10 GMT', Date.parse('2026-11-01T12:00:00Z')), 10_000);
  assert.equal(retryAfterMs(null), 0);
});
