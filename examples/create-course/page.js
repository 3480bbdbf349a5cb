// The reference page's glue: plain DOM in, DraftClient out. A React form does the same in its
// effects and handlers (see README.md); everything about sessions lives in draft-client.js.
import { DraftClient } from './draft-client.js';

const STATE_TEXT = {
  starting: 'Открываем черновик…',
  pending: 'Есть несохранённые изменения',
  saving: 'Сохраняем…',
  saved: 'Черновик сохранён',
  offline: 'Нет связи: сохраним, когда она вернётся',
  invalid: 'Проверьте отмеченные поля',
  error: 'Не удалось сохранить',
  materialized: 'Курс создан',
};
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

const drafts = new DraftClient({ apiBase: config.apiBase, getToken: () => token });
window.drafts = drafts; // for the console and the browser tests

drafts.on('state', ({ state, error }) => {
  stateEl.dataset.state = state;
  stateEl.textContent = STATE_TEXT[state] + (state === 'error' && error ? `: ${error.message}` : '');
  stateEl.title = error ? `${error.code}: ${error.message}` : '';
});
drafts.on('session', ({ sessionId, storage }) => showSession(sessionId, storage));
drafts.on('remotechange', (formData) => fill(formData));
drafts.on('invalid', (invalid) => markInvalid(invalid));
drafts.on('materialized', (result) => showCourse(result));

form.addEventListener('input', (event) => {
  const field = event.target.name;
  if (!field || event.target.dataset.upload !== undefined) return;
  clearInvalid(field);
  drafts.update({ [field]: read(field) });
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!form.elements.topic.value.trim()) {
    markInvalid({ topic: 'Укажите тему курса' });
    return;
  }
  submitButton.disabled = true;
  try {
    await drafts.materialize('submit', readAll());
    // The platform's own submit goes on from here with the course id (generation, redirect...).
  } catch (err) {
    showError(`Курс не создан: ${err.message}`);
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
  resultEl.hidden = uploadEl.hidden = newCourseButton.hidden = true;
  const { formData } = await drafts.reset();
  fill(formData);
});

const { formData, sessionId, storage, courseId, slug } = await drafts.start();
fill(formData);
showSession(sessionId, storage);
if (courseId) showCourse({ courseId, slug });

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

function showCourse({ courseId, slug }) {
  resultEl.className = 'notice';
  resultEl.dataset.courseId = courseId;
  resultEl.textContent = `Курс создан: ${slug} (id ${courseId})`;
  resultEl.hidden = false;
  newCourseButton.hidden = false;
}

function showError(message) {
  resultEl.className = 'notice error';
  resultEl.textContent = message;
  resultEl.hidden = false;
}

function markInvalid(invalid) {
  for (const [field, message] of Object.entries(invalid)) {
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
