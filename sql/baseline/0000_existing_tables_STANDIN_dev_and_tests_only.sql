-- STAND-IN of the tables production already has (Supabase). Applied by the migration runner only
-- with --with-standin-baseline (make dev, make test); NEVER apply it to the production database.
-- It recreates just the columns the functions and the monitoring queries rely on (DESIGN.md).

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE IF NOT EXISTS organizations (
    id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid REFERENCES organizations (id),
    email           text,
    role            text NOT NULL DEFAULT 'user'   -- 'admin' = organization admin
);

CREATE TABLE IF NOT EXISTS courses (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id   uuid NOT NULL,
    user_id           uuid NOT NULL,
    title             text NOT NULL,
    slug              text UNIQUE NOT NULL,
    status            text NOT NULL DEFAULT 'draft',
    generation_status text NULL,
    language          text,
    settings          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sections (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    title     text NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS lessons (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    section_id uuid NOT NULL REFERENCES sections (id) ON DELETE CASCADE,
    title      text NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS assets (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    lesson_id uuid NOT NULL REFERENCES lessons (id) ON DELETE CASCADE,
    url       text
);

CREATE TABLE IF NOT EXISTS file_catalog (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id    uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    storage_path text,
    file_size    bigint
);

CREATE TABLE IF NOT EXISTS materials (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    file_path text,
    file_size bigint
);

-- No foreign key on purpose: production has none, which is why these rows leak today.
CREATE TABLE IF NOT EXISTS rag_context_cache (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id  uuid NOT NULL,
    context    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS audit_log (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    table_name text NOT NULL,
    record_id  uuid,
    action     text NOT NULL,
    old_values jsonb,
    new_values jsonb,
    user_id    uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);
