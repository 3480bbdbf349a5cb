// The reference page's glue: plain DOM in, DraftClient out. Everything about sessions lives in the
// package clients/draft-session; this page imports its build as it is (`make dev` serves it under
// /lib/draft-session/), the React example bundles the same build.
import { DraftClient, badgeTextRu, errorMessageRu, fieldMessageRu } from './lib/draft-session/index.js';

const NUMBERS = new Set(['estimatedLessons', 'estimatedSections', 'lessonDuration']);

const form = document.getElementById('course-form');
const stateEl = document.getElementById('draft-state');
const submitButton = document.getElementById('submit');
const newCourseButton = document.getElementById('new-course');
const resultEl = document.getElementById('result');
const uploadEl = document.getElementById('upload-result');

// config.json comes from `make dev` (API URL, a development token, where uploads go); #token=<JWT>
// in the address overrides the token, e.g. to try a real Supabase session's access token.
const config = await fetch('./config.json', { cache: 'no-store' }).then((r) => r.json());
const tokenFromHash = new URLSearchParams(location.hash.slice(1)).get('token');
const token = tokenFromHash || config.token;
document.getElementById('api-base').textContent = config.apiBase;

// idempotencyKeys: only once the API's CORS lets the browser send the header (config.json says).
const drafts = new DraftClient({ apiBase: config.apiBase, getToken: () => token,
  idempotencyKeys: config.idempotencyKeys ?? true });
window.drafts = drafts; // for the console and the browser tests

drafts.on('state', ({ state, error }) => {
  stateEl.dataset.state = state;
  stateEl.textContent = badgeTextRu(drafts.snapshot()) + (state === 'error' && error ? `: ${errorMessageRu(error)}` : '');
  stateEl.title = error ? `${error.code}: ${error.message}` : '';
});
drafts.on('session', ({ sessionId, storage }) => showSession(sessionId, storage));
drafts.on('remotechange', (formData) => fill(formData));
drafts.on('conflict', () => showNotice('conflict-notice', 'Черновик изменили в другой вкладке или на другом устройстве: изменения объединены.'));
drafts.on('invalid', (invalid) => markInvalid(invalid));
drafts.on('materialized', (result) => showCourse(result));
drafts.on('alreadysubmitted', (result) => showCourse(result, true));

form.addEventListener('input', (event) => {
  const field = event.target.name;
  if (!field || event.target.dataset.upload !== undefined) return;
  clearInvalid(field);
  drafts.update({ [field]: read(field) });
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!form.elements.topic.value.trim()) {
    markInvalid({ topic: { code: 'required', message: 'required' } });
    return;
  }
  submitButton.disabled = true;
  try {
    await drafts.materialize('submit', readAll());
    // The platform's own submit goes on from here with the course id (generation, redirect...).
  } catch (err) {
    showError(`Курс не создан: ${errorMessageRu(err)}`);
  } finally {
    submitButton.disabled = false;
  }
});

form.elements.file.addEventListener('change', async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  uploadEl.hidden = true;
  try {
    // A file belongs to a course: the row must exist before the upload starts.
    const { courseId } = await drafts.materialize('file_upload', readAll());
    // Stand-in for the platform's upload (Supabase Storage); not part of this project's API.
    const response = await fetch(config.uploadUrl.replace('{courseId}', courseId), { method: 'POST', body: file });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    uploadEl.className = 'notice';
    uploadEl.textContent = `Файл загружен: ${file.name} (курс ${courseId})`;
  } catch (err) {
    uploadEl.className = 'notice error';
    uploadEl.textContent = `Файл не загружен: ${err.message}`;
  }
  uploadEl.hidden = false;
});

newCourseButton.addEventListener('click', async () => {
  form.reset();
  lock(false);
  resultEl.hidden = uploadEl.hidden = newCourseButton.hidden = true;
  const { formData } = await drafts.reset();
  fill(formData);
});

const { formData, sessionId, storage, courseId, slug, alreadySubmitted } = await drafts.start();
fill(formData);
showSession(sessionId, storage);
if (courseId) showCourse({ courseId, slug }, alreadySubmitted);  // a reload shows a submitted draft as submitted

// --- form <-> formData ---

function read(field) {
  if (field === 'formats') {
    const checked = [...form.querySelectorAll('input[name="formats"]:checked')].map((el) => el.value);
    return checked.length ? checked : null;
  }
  const raw = form.elements[field].value.trim() === '' ? null : form.elements[field].value;
  if (raw === null || !NUMBERS.has(field)) return raw;
  const number = Number(raw);
  return Number.isInteger(number) ? number : raw; // a wrong value is the server's to refuse, with a message
}

function readAll() {
  const names = new Set([...form.elements].map((el) => el.name).filter((name) => name && name !== 'file'));
  return Object.fromEntries([...names].map((name) => [name, read(name)]));
}

function fill(formData) {
  for (const el of form.elements) {
    if (!el.name || el.name === 'file' || el === document.activeElement) continue; // never under the caret
    if (el.type === 'checkbox') el.checked = (formData[el.name] || []).includes(el.value);
    else el.value = formData[el.name] ?? '';
  }
}

// --- what the page shows ---

function showSession(sessionId, storage) {
  document.getElementById('session-id').textContent = sessionId || '—';
  document.getElementById('session-storage').textContent = storage === 'database' ? 'базе данных (Redis недоступен)'
    : storage ? 'Redis' : '—';
}

function showCourse({ courseId, slug }, elsewhere = false) {
  resultEl.className = 'notice';
  resultEl.dataset.courseId = courseId;
  resultEl.textContent = elsewhere
    ? `Этот черновик уже отправлен в другой вкладке или на другом устройстве: курс ${slug} (id ${courseId}). `
      + 'Изменения, сделанные здесь после отправки, в курс не попали.'
    : `Курс создан: ${slug} (id ${courseId})`;
  resultEl.hidden = false;
  newCourseButton.hidden = false;
  if (elsewhere) lock(true);  // the draft is closed: nothing typed here would reach the course
}

function lock(locked) {
  for (const el of form.elements) if (el !== newCourseButton) el.disabled = locked;
}

function showNotice(id, message) {
  let el = document.getElementById(id);
  if (!el) {
    el = Object.assign(document.createElement('div'), { id, className: 'notice' });
    form.before(el);
  }
  el.textContent = message;
}

function showError(message) {
  resultEl.className = 'notice error';
  resultEl.textContent = message;
  resultEl.hidden = false;
}

/** invalid: field -> {message, code?, limit?}; shown in Russian by the detail's code. */
function markInvalid(invalid) {
  for (const [field, problem] of Object.entries(invalid)) {
    const message = fieldMessageRu(problem);
    const el = form.elements[field];
    const box = el instanceof RadioNodeList || !el ? form.querySelector(`[data-name="${field}"]`) : el;
    if (!box) continue;
    box.classList.add('invalid');
    const label = box.closest('label') || box;
    let note = label.querySelector('.field-error');
    if (!note) {
      note = document.createElement('span');
      note.className = 'field-error';
      label.append(note);
    }
    note.textContent = message;
  }
}

function clearInvalid(field) {
  const el = form.elements[field];
  const box = el instanceof RadioNodeList || !el ? form.querySelector(`[data-name="${field}"]`) : el;
  if (!box) return;
  box.classList.remove('invalid');
  (box.closest('label') || box).querySelector('.field-error')?.remove();
}
