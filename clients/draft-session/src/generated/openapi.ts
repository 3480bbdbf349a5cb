// Generated from docs/openapi.json by clients/draft-session/scripts/gen-types.mjs
// (openapi-typescript). Do not edit: run `make client-types` after `make openapi`.

export interface paths {
    "/drafts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List the caller's open draft sessions */
        get: operations["draft_session.list_drafts_drafts_get"];
        put?: never;
        /** Open a draft session */
        post: operations["draft_session.create_draft_drafts_post"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/drafts/{session_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Read a draft session */
        get: operations["draft_session.get_draft_drafts__session_id__get"];
        put?: never;
        post?: never;
        /** Discard a draft session */
        delete: operations["draft_session.delete_draft_drafts__session_id__delete"];
        options?: never;
        head?: never;
        /** Autosave: merge fields into a draft session */
        patch: operations["draft_session.patch_draft_drafts__session_id__patch"];
        trace?: never;
    };
    "/drafts/{session_id}/materialize": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Create the course row (once) from a draft session */
        post: operations["draft_session.materialize_drafts__session_id__materialize_post"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** CreateDraft */
        CreateDraft: {
            formData?: components["schemas"]["FormData"] | null;
        };
        /**
         * Error
         * @description The contract's one error shape (API.md, Common rules).
         */
        Error: {
            error: components["schemas"]["ErrorBody"];
        };
        /** ErrorBody */
        ErrorBody: {
            /**
             * Code
             * @description snake_case, e.g. validation_error, not_found, unavailable
             */
            code: string;
            /**
             * Details
             * @default null
             */
            details: components["schemas"]["ErrorDetail"][] | null;
            /**
             * Message
             * @description One sentence for a human; never a stack trace, SQL or a secret
             */
            message: string;
        };
        /** ErrorDetail */
        ErrorDetail: {
            /**
             * Code
             * @description A stable machine code of the problem, to translate it by
             * @default null
             */
            code: string | null;
            /**
             * Courseid
             * @description already_materialized: the course the draft became
             * @default null
             */
            courseId: string | null;
            /**
             * Field
             * @description The offending field, dotted (formData.estimatedLessons), or the header
             */
            field: string;
            /**
             * Limit
             * @description The bound a too_long, too_small ... value broke
             * @default null
             */
            limit: number | null;
            /** Message */
            message: string;
            /**
             * State
             * @description already_materialized: materializing or materialized
             * @default null
             */
            state: string | null;
        };
        /**
         * FormData
         * @description The course-creation form. Every field is optional; an unknown field is a 422.
         */
        FormData: {
            /** Contentstrategy */
            contentStrategy?: string | null;
            /** Description */
            description?: string | null;
            /** Email */
            email?: string | null;
            /** Estimatedlessons */
            estimatedLessons?: number | null;
            /** Estimatedsections */
            estimatedSections?: number | null;
            /** Formats */
            formats?: string[] | null;
            /** Language */
            language?: string | null;
            /** Learningoutcomes */
            learningOutcomes?: string | null;
            /** Lessonduration */
            lessonDuration?: number | null;
            /** Targetaudience */
            targetAudience?: string | null;
            /** Topic */
            topic?: string | null;
            /** Writingstyle */
            writingStyle?: string | null;
        };
        /** Materialize */
        Materialize: {
            /** @description The submit's final values, merged first. */
            formData?: components["schemas"]["FormData"] | null;
            /**
             * Reason
             * @enum {string}
             */
            reason: "submit" | "file_upload";
        };
        /** Materialized */
        Materialized: {
            /** Courseid */
            courseId: string;
            /** Created */
            created: boolean;
            /** Sessionid */
            sessionId: string;
            /** Slug */
            slug: string;
        };
        /** PatchDraft */
        PatchDraft: {
            formData: components["schemas"]["FormData"];
            /**
             * Version
             * @description The version you last saw; a 409 if the session has moved on since.
             */
            version?: number | null;
        };
        /** Session */
        Session: {
            /**
             * Courseid
             * @description the course this draft became (reserved while materializing)
             */
            courseId: string | null;
            /** Createdat */
            createdAt: string;
            /** Expiresat */
            expiresAt: string | null;
            /** Formdata */
            formData: {
                [key: string]: unknown;
            };
            /** Organizationid */
            organizationId: string | null;
            /** Sessionid */
            sessionId: string;
            /**
             * State
             * @description open: takes saves; materializing: its course is being created; materialized: it became the course `courseId` and takes no more saves (409 already_materialized)
             * @enum {string}
             */
            state: "open" | "materializing" | "materialized";
            /**
             * Storage
             * @enum {string}
             */
            storage: "redis" | "database";
            /** Updatedat */
            updatedAt: string;
            /** Version */
            version: number;
        };
        /** SessionList */
        SessionList: {
            /** Sessions */
            sessions: components["schemas"]["SessionSummary"][];
        };
        /** SessionSummary */
        SessionSummary: {
            /** Expiresat */
            expiresAt: string | null;
            /** Sessionid */
            sessionId: string;
            /** Topic */
            topic: string | null;
            /** Updatedat */
            updatedAt: string;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    "draft_session.list_drafts_drafts_get": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SessionList"];
                };
            };
            /** @description The body is not valid JSON or not an object, a URL parameter is malformed, a query parameter is one the endpoint does not take or given twice, or a body is sent where none is taken (bad_request) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Token missing, malformed, expired or not ours (unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Authenticated but not allowed (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Body over DRAFT_MAX_BODY_BYTES (payload_too_large) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Well-formed JSON that breaks the schema; details lists every field (validation_error) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A backing store is down; see Retry-After (unavailable). The message of a write says whether nothing was changed or the outcome is unknown; a retry with the same Idempotency-Key is safe either way */
            503: {
                headers: {
                    /** @description Seconds to wait before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    "draft_session.create_draft_drafts_post": {
        parameters: {
            query?: never;
            header?: {
                /** @description 1-255 visible ASCII characters chosen by the client, scoped to the caller. A repeat with the same key within 24 h gets the first answer again (status and body, with Idempotent-Replayed: true) and applies nothing twice; the same key with another request is a 422. */
                "Idempotency-Key"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["CreateDraft"] | null;
            };
        };
        responses: {
            /** @description Success */
            201: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            /** @description The body is not valid JSON or not an object, a URL parameter is malformed, a query parameter is one the endpoint does not take or given twice, or a body is sent where none is taken (bad_request) */
            400: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Token missing, malformed, expired or not ours (unauthorized) */
            401: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Authenticated but not allowed (forbidden) */
            403: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Body over DRAFT_MAX_BODY_BYTES (payload_too_large) */
            413: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Well-formed JSON that breaks the schema; details lists every field (validation_error) */
            422: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Over DRAFT_MAX_SESSIONS_PER_USER active sessions, or over the per-minute creation limit (too_many_sessions / rate_limited) */
            429: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    /** @description Seconds to wait before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A backing store is down; see Retry-After (unavailable). The message of a write says whether nothing was changed or the outcome is unknown; a retry with the same Idempotency-Key is safe either way */
            503: {
                headers: {
                    /** @description Seconds to wait before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    "draft_session.get_draft_drafts__session_id__get": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                session_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            /** @description The body is not valid JSON or not an object, a URL parameter is malformed, a query parameter is one the endpoint does not take or given twice, or a body is sent where none is taken (bad_request) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Token missing, malformed, expired or not ours (unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Authenticated but not allowed (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such resource for this caller (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Body over DRAFT_MAX_BODY_BYTES (payload_too_large) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Well-formed JSON that breaks the schema; details lists every field (validation_error) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A backing store is down; see Retry-After (unavailable). The message of a write says whether nothing was changed or the outcome is unknown; a retry with the same Idempotency-Key is safe either way */
            503: {
                headers: {
                    /** @description Seconds to wait before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    "draft_session.delete_draft_drafts__session_id__delete": {
        parameters: {
            query?: never;
            header?: {
                /** @description 1-255 visible ASCII characters chosen by the client, scoped to the caller. A repeat with the same key within 24 h gets the first answer again (status and body, with Idempotent-Replayed: true) and applies nothing twice; the same key with another request is a 422. */
                "Idempotency-Key"?: string;
            };
            path: {
                session_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The body is not valid JSON or not an object, a URL parameter is malformed, a query parameter is one the endpoint does not take or given twice, or a body is sent where none is taken (bad_request) */
            400: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Token missing, malformed, expired or not ours (unauthorized) */
            401: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Authenticated but not allowed (forbidden) */
            403: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such resource for this caller (not_found) */
            404: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The draft was submitted: its course exists or is being created; details name the courseId (already_materialized) */
            409: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Body over DRAFT_MAX_BODY_BYTES (payload_too_large) */
            413: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Well-formed JSON that breaks the schema; details lists every field (validation_error) */
            422: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A backing store is down; see Retry-After (unavailable). The message of a write says whether nothing was changed or the outcome is unknown; a retry with the same Idempotency-Key is safe either way */
            503: {
                headers: {
                    /** @description Seconds to wait before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    "draft_session.patch_draft_drafts__session_id__patch": {
        parameters: {
            query?: never;
            header?: {
                /** @description 1-255 visible ASCII characters chosen by the client, scoped to the caller. A repeat with the same key within 24 h gets the first answer again (status and body, with Idempotent-Replayed: true) and applies nothing twice; the same key with another request is a 422. */
                "Idempotency-Key"?: string;
            };
            path: {
                session_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PatchDraft"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            /** @description The body is not valid JSON or not an object, a URL parameter is malformed, a query parameter is one the endpoint does not take or given twice, or a body is sent where none is taken (bad_request) */
            400: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Token missing, malformed, expired or not ours (unauthorized) */
            401: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Authenticated but not allowed (forbidden) */
            403: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such resource for this caller (not_found) */
            404: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description `version` given and not the current one (version_conflict), or The draft was submitted: its course exists or is being created; details name the courseId (already_materialized) */
            409: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Body over DRAFT_MAX_BODY_BYTES (payload_too_large) */
            413: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Well-formed JSON that breaks the schema; details lists every field (validation_error) */
            422: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A backing store is down; see Retry-After (unavailable). The message of a write says whether nothing was changed or the outcome is unknown; a retry with the same Idempotency-Key is safe either way */
            503: {
                headers: {
                    /** @description Seconds to wait before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    "draft_session.materialize_drafts__session_id__materialize_post": {
        parameters: {
            query?: never;
            header?: {
                /** @description 1-255 visible ASCII characters chosen by the client, scoped to the caller. A repeat with the same key within 24 h gets the first answer again (status and body, with Idempotent-Replayed: true) and applies nothing twice; the same key with another request is a 422. */
                "Idempotency-Key"?: string;
            };
            path: {
                session_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["Materialize"];
            };
        };
        responses: {
            /** @description Materialized before */
            200: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Materialized"];
                };
            };
            /** @description Created now */
            201: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Materialized"];
                };
            };
            /** @description The body is not valid JSON or not an object, a URL parameter is malformed, a query parameter is one the endpoint does not take or given twice, or a body is sent where none is taken (bad_request) */
            400: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Token missing, malformed, expired or not ours (unauthorized) */
            401: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Authenticated but not allowed (forbidden) */
            403: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such resource for this caller (not_found) */
            404: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A repeat whose formData would change the submitted form: The draft was submitted: its course exists or is being created; details name the courseId (already_materialized) */
            409: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Body over DRAFT_MAX_BODY_BYTES (payload_too_large) */
            413: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Well-formed JSON that breaks the schema; details lists every field (validation_error) */
            422: {
                headers: {
                    /** @description true: the first answer of this Idempotency-Key, given again */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A backing store is down; see Retry-After (unavailable). The message of a write says whether nothing was changed or the outcome is unknown; a retry with the same Idempotency-Key is safe either way */
            503: {
                headers: {
                    /** @description Seconds to wait before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
}
