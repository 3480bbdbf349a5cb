// The wire types, named. Every shape comes from src/generated/openapi.ts (docs/openapi.json);
// nothing here restates a field the server's document already has.
import type { components, paths } from './generated/openapi.js';

type Schemas = components['schemas'];

export type { components, paths };
/** The course-creation form (every field optional; `null` in a save removes the field). */
export type FormData = Schemas['FormData'];
/** Form values as the client keeps them: field name -> value (null removes the field). */
export type FormValues = Record<string, unknown>;
export type CreateDraftBody = Schemas['CreateDraft'];
export type PatchDraftBody = Schemas['PatchDraft'];
export type MaterializeBody = Schemas['Materialize'];
export type MaterializeReason = MaterializeBody['reason'];
export type Materialized = Schemas['Materialized'];
export type SessionSummary = Schemas['SessionSummary'];
export type SessionList = Schemas['SessionList'];
export type ErrorBody = Schemas['ErrorBody'];

/** The session's life cycle: open, materializing (its course is being created), materialized. */
export type Session = Schemas['Session'];
export type SessionState = Session['state'];

/**
 * One detail of an error answer: `code` (stable, to translate by), `limit` where one applies, and
 * for already_materialized `courseId` and `state`.
 */
export type ErrorDetail = Schemas['ErrorDetail'];
