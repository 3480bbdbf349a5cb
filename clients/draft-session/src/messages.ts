// Russian texts for what the client reports: the platform's form is in Russian. Validation details
// are translated by their stable `code` (API.md), never by parsing the English `message`, which
// is the fallback for a code this table does not know yet.
import type { DraftState } from './client.js';
import type { ErrorDetail } from './types.js';

export const STATE_TEXT_RU: Record<DraftState, string> = {
  starting: 'Открываем черновик…',
  pending: 'Есть несохранённые изменения',
  saving: 'Сохраняем…',
  saved: 'Черновик сохранён',
  offline: 'Нет связи: сохраним, когда она вернётся',
  invalid: 'Проверьте отмеченные поля',
  error: 'Не удалось сохранить',
  materialized: 'Курс создан',
};

type Problem = Pick<ErrorDetail, 'message'> & Partial<Pick<ErrorDetail, 'code' | 'limit'>>;

const BY_CODE: Record<string, (limit: string | undefined) => string> = {
  required: () => 'Обязательное поле',
  too_long: (n) => (n ? `Не длиннее ${n} ${plural(n, 'символа', 'символов', 'символов')}` : 'Слишком длинный текст'),
  too_short: (n) => (n ? `Не короче ${n} ${plural(n, 'символа', 'символов', 'символов')}` : 'Слишком короткий текст'),
  too_large: (n) => (n ? `Не больше ${n}` : 'Слишком большое значение'),
  too_small: (n) => (n ? `Не меньше ${n}` : 'Слишком маленькое значение'),
  too_many_items: (n) => (n ? `Не больше ${n} ${plural(n, 'элемента', 'элементов', 'элементов')}` : 'Слишком много элементов'),
  not_email: () => 'Введите адрес электронной почты, например name@example.com',
  not_integer: () => 'Введите целое число',
  not_string: () => 'Введите текст',
  not_list: () => 'Нужен список значений',
  not_language_tag: () => 'Код языка вида ru или en-US',
  invalid_choice: () => 'Выберите одно из предложенных значений',
  nul_character: () => 'Текст содержит недопустимый символ',
  unknown_field: () => 'Такого поля нет в форме',
};

/** The Russian message of one refused field; the server's own message for a code not known here. */
export function fieldMessageRu(problem: Problem): string {
  const make = problem.code ? BY_CODE[problem.code] : undefined;
  const limit = problem.limit === undefined || problem.limit === null ? undefined : String(problem.limit);
  return make ? make(limit) : problem.message;
}

/** Russian for an error that is not about one field (a toast, a notice). */
export function errorMessageRu(error: { status?: number; code?: string; message: string }): string {
  switch (error.code) {
    case 'network_error': return 'Нет связи с сервером';
    case 'unavailable': return 'Сервис временно недоступен, повторим попытку';
    case 'unauthorized': return 'Сессия входа истекла: войдите снова';
    case 'forbidden': return 'Недостаточно прав';
    case 'too_many_sessions': return 'Слишком много открытых черновиков: закройте лишние';
    case 'rate_limited': return 'Слишком много запросов, повторим чуть позже';
    case 'already_materialized': return 'Этот черновик уже отправлен';
    case 'version_conflict': return 'Черновик изменили в другом месте';
    case 'validation_error': return 'Проверьте отмеченные поля';
    case 'payload_too_large': return 'Слишком большой объём данных';
    default: return error.message;
  }
}

/** "14:05" today, "3 дек., 14:05" another day: when a draft offered for resuming was last saved. */
export function draftTimeRu(iso: string, now: Date = new Date(), timeZone?: string): string {
  const date = new Date(iso);
  const zone = timeZone ? { timeZone } : {};
  const day = (d: Date) => new Intl.DateTimeFormat('ru-RU', { ...zone, dateStyle: 'short' }).format(d);
  const time = new Intl.DateTimeFormat('ru-RU', { ...zone, hour: '2-digit', minute: '2-digit' }).format(date);
  if (day(date) === day(now)) return time;
  const dayText = new Intl.DateTimeFormat('ru-RU', { ...zone, day: 'numeric', month: 'short' }).format(date);
  return `${dayText}, ${time}`;
}

function plural(n: string, one: string, few: string, many: string): string {
  const value = Math.abs(Number(n)) % 100;
  const last = value % 10;
  if (value > 10 && value < 20) return many;
  if (last === 1) return one;
  if (last >= 2 && last <= 4) return few;
  return many;
}

/** The badge's text for a snapshot: "already submitted" when another tab or device created the course. */
export function badgeTextRu(snapshot: { state: DraftState; alreadySubmitted?: boolean }): string {
  return snapshot.alreadySubmitted ? ALREADY_SUBMITTED_RU : STATE_TEXT_RU[snapshot.state];
}

export const ALREADY_SUBMITTED_RU = 'Черновик уже отправлен';
export const CONFLICT_RU = 'Черновик изменили в другой вкладке или на другом устройстве: изменения объединены, ваши сохранены поверх.';

/** The offer of another device's draft on a fresh tab: "Продолжить черновик от 14:05?". */
export function resumePromptRu(summary: { updatedAt: string }, now: Date = new Date(), timeZone?: string): string {
  return `Продолжить черновик от ${draftTimeRu(summary.updatedAt, now, timeZone)}?`;
}
