// The platform's create-course-form.tsx, reduced to what the draft session changes: no course row
// on mount (spec 3.2.1), materialize on submit (3.2.2) and before a file upload (3.2.3).
import { useState } from 'react';
import { useForm } from 'react-hook-form';

import {
  CONFLICT_RU, DraftApiError, errorMessageRu, fieldMessageRu, resumePromptRu,
  type DraftClient, type Materialized,
} from '@course-drafts/draft-session';
import { useDraftSession } from '@course-drafts/draft-session/react';

import { FileUploadDirect } from './FileUploadDirect.js';

export interface PageConfig {
  apiBase: string;
  token: string | null;
  uploadUrl: string;
  /** Whether the deployment's CORS lets the browser send Idempotency-Key (dev: from template.yaml). */
  idempotencyKeys?: boolean;
}

interface CourseForm {
  topic: string;
  email: string;
  language: string;
  description: string;
  targetAudience: string;
  writingStyle: string;
  estimatedLessons: string;
  estimatedSections: string;
  lessonDuration: string;
  formats: string[];
  learningOutcomes: string;
}

const EMPTY: CourseForm = {
  topic: '', email: '', language: '', description: '', targetAudience: '', writingStyle: '',
  estimatedLessons: '', estimatedSections: '', lessonDuration: '', formats: [], learningOutcomes: '',
};
const NUMBERS = new Set(['estimatedLessons', 'estimatedSections', 'lessonDuration']);

// The form's own checks speak the server's vocabulary (the same codes, the same Russian texts).
const say = (code: string, limit?: number) => fieldMessageRu({ code, message: code, ...(limit ? { limit } : {}) });
const text = (max: number) => ({ maxLength: { value: max, message: say('too_long', max) } });
const count = (min: number, max: number) => ({
  validate: (value: unknown) => {
    if (value === '' || value === undefined) return true;
    const n = Number(value);
    if (!Number.isInteger(n)) return say('not_integer');
    if (n < min) return say('too_small', min);
    if (n > max) return say('too_large', max);
    return true;
  },
});

/** Number inputs hold text; the draft holds numbers (a value that is no integer goes as text, for the server to refuse). */
function toDraft(field: string, value: unknown): unknown {
  if (value === '' || value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.length ? value : null;
  if (NUMBERS.has(field)) return Number.isInteger(Number(value)) ? Number(value) : value;
  return value;
}
const fromDraft = (field: string, value: unknown) => (NUMBERS.has(field) && value != null ? String(value) : value);

export function CreateCourseForm({ config, getToken }: { config: PageConfig; getToken: () => string | null }) {
  const form = useForm<CourseForm>({ defaultValues: EMPTY, mode: 'onTouched' });
  const { register, handleSubmit, formState: { errors, isSubmitting } } = form;
  const draft = useDraftSession(form, {
    apiBase: config.apiBase, getToken, toDraft, fromDraft, idempotencyKeys: config.idempotencyKeys ?? true,
  });
  const [failure, setFailure] = useState<string | null>(null);
  exposeForTests(draft.client);

  const onSubmit = handleSubmit(async (values) => {
    setFailure(null);
    try {
      await draft.materialize('submit', values);
      // The platform's own submit goes on from here with the course id (generation, redirect...).
    } catch (err) {
      setFailure(`Курс не создан: ${err instanceof DraftApiError ? errorMessageRu(err) : String(err)}`);
    }
  });

  const field = (name: keyof CourseForm, label: string, input: React.ReactNode, wide = false) => (
    <label className={wide ? 'wide' : undefined}>
      {label}
      {input}
      {errors[name] && <span className="field-error" data-field={name}>{errors[name]?.message}</span>}
    </label>
  );
  const invalid = (name: keyof CourseForm) => (errors[name] ? true : undefined);
  const course = draft.course;
  // Submitted (here or in another tab) is final; a course made for an upload still takes the submit.
  const locked = draft.snapshot.submitted || !draft.ready;

  return (
    <main>
      <header>
        <h1>Создать новый курс</h1>
        <span id="draft-state" role="status" aria-live="polite" data-state={draft.state}
              data-already-submitted={draft.alreadySubmitted ? 'true' : undefined}
              title={draft.lastError ? `${draft.lastError.code}: ${draft.lastError.message}` : ''}>
          {draft.stateText}
        </span>
      </header>
      <p className="meta">
        Черновик <code id="session-id">{draft.snapshot.sessionId ?? '—'}</code> · хранится в{' '}
        <span id="session-storage">{storageText(draft.snapshot.storage)}</span><br />
        API <code id="api-base">{config.apiBase}</code>
      </p>

      {draft.offer && (
        <div className="notice info" id="resume-offer">
          {resumePromptRu(draft.offer)}{draft.offer.topic ? ` «${draft.offer.topic}»` : ''}
          <div className="actions">
            <button type="button" onClick={() => void draft.resume()}>Продолжить</button>
            <button type="button" className="secondary" onClick={draft.dismissOffer}>Начать новый</button>
          </div>
        </div>
      )}
      {draft.conflict && (
        <div className="notice warn" id="conflict-notice">
          {CONFLICT_RU}{' '}
          <button type="button" className="secondary" onClick={draft.dismissConflict}>Понятно</button>
        </div>
      )}

      <form id="course-form" autoComplete="off" noValidate onSubmit={onSubmit}>
        <fieldset className="form" disabled={locked}>
          {field('topic', 'Тема курса', <input {...register('topic', { required: say('required'), ...text(500) })}
            maxLength={500} placeholder="Например: Python для начинающих" aria-invalid={invalid('topic')} />, true)}
          {field('email', 'Email для уведомлений', <input type="email" placeholder="you@example.com"
            {...register('email')} aria-invalid={invalid('email')} />)}
          {field('language', 'Язык', (
            <select {...register('language')}>
              <option value="">—</option>
              <option value="ru">Русский</option>
              <option value="en">English</option>
              <option value="de">Deutsch</option>
            </select>))}
          {field('description', 'Описание', <textarea {...register('description', text(10000))} maxLength={10000}
            aria-invalid={invalid('description')} />, true)}
          {field('targetAudience', 'Целевая аудитория', <input {...register('targetAudience')} />, true)}
          {field('writingStyle', 'Стиль изложения', (
            <select {...register('writingStyle')}>
              <option value="">—</option>
              <option value="academic">Академический</option>
              <option value="conversational">Разговорный</option>
              <option value="practical">Практический</option>
            </select>))}
          {field('estimatedLessons', 'Количество уроков', <input type="number" inputMode="numeric"
            {...register('estimatedLessons', count(1, 200))} aria-invalid={invalid('estimatedLessons')} />)}
          {field('estimatedSections', 'Количество разделов', <input type="number" inputMode="numeric"
            {...register('estimatedSections', count(1, 50))} aria-invalid={invalid('estimatedSections')} />)}
          {field('lessonDuration', 'Длительность урока, мин', <input type="number" inputMode="numeric"
            {...register('lessonDuration', count(1, 600))} aria-invalid={invalid('lessonDuration')} />)}
          <fieldset className="formats wide" data-name="formats">
            <legend>Форматы</legend>
            {[['text', 'Текст'], ['video', 'Видео'], ['audio', 'Аудио'], ['quiz', 'Тесты']].map(([value, label]) => (
              <label key={value}><input type="checkbox" value={value} {...register('formats')} /> {label}</label>
            ))}
          </fieldset>
          {field('learningOutcomes', 'Результаты обучения', <textarea {...register('learningOutcomes', text(10000))}
            maxLength={10000} />, true)}
          <FileUploadDirect uploadUrl={config.uploadUrl}
                            beforeUpload={() => draft.materialize('file_upload')} />
          <div className="actions wide">
            <button type="submit" id="submit" disabled={isSubmitting}>Создать курс</button>
          </div>
        </fieldset>
      </form>

      {failure && <div className="notice error" id="result-error">{failure}</div>}
      {course && draft.snapshot.submitted && <Submitted course={course} elsewhere={draft.alreadySubmitted} onNew={() => void draft.startOver()} />}
    </main>
  );
}

function Submitted({ course, elsewhere, onNew }: { course: Materialized; elsewhere: boolean; onNew: () => void }) {
  return (
    <div className={`notice ${elsewhere ? 'info' : ''}`} id="result" data-course-id={course.courseId}>
      {elsewhere
        ? <>Этот черновик уже отправлен в другой вкладке или на другом устройстве: курс {course.slug} (id {course.courseId}). Изменения,
            сделанные здесь после отправки, в курс не попали.</>
        : <>Курс создан: {course.slug} (id {course.courseId})</>}
      <div className="actions">
        <button type="button" id="new-course" className="secondary" onClick={onNew}>Новый курс</button>
      </div>
    </div>
  );
}

function storageText(storage: string | null): string {
  if (storage === 'database') return 'базе данных (Redis недоступен)';
  return storage ? 'Redis' : '—';
}

/** The browser tests (and a curious developer's console) reach the client as window.drafts. */
function exposeForTests(client: DraftClient) {
  (window as unknown as { drafts?: DraftClient }).drafts = client;
}
