// The package's entry: the client, its errors, the wire types and the Russian texts. The React
// hook is its own entry (`@course-drafts/draft-session/react`), so a plain page never loads React.
export { AUTOSAVE_DELAY_MS, DraftClient, STATES } from './client.js';
export type { DraftClientOptions, DraftEvents, DraftSnapshot, DraftState, FieldProblem, TokenRequest } from './client.js';
export { DraftApiError, retryAfterMs } from './errors.js';
export {
  ALREADY_SUBMITTED_RU, CONFLICT_RU, STATE_TEXT_RU, badgeTextRu, draftTimeRu, errorMessageRu, fieldMessageRu, resumePromptRu,
} from './messages.js';
export type * from './types.js';
