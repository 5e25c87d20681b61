-- Tables and rows of the demo task manager. The text columns are md5 digests of
-- random numbers, so a gzip of the dump stays above 1 MiB.
CREATE TABLE users (
    id serial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id serial PRIMARY KEY,
    owner_id integer NOT NULL REFERENCES users (id),
    name text NOT NULL,
    description text NOT NULL
);

CREATE TABLE tasks (
    id serial PRIMARY KEY,
    project_id integer NOT NULL REFERENCES projects (id),
    assignee_id integer REFERENCES users (id),
    title text NOT NULL,
    description text NOT NULL,
    status text NOT NULL,
    due_date date
);

CREATE TABLE comments (
    id serial PRIMARY KEY,
    task_id integer NOT NULL REFERENCES tasks (id),
    author_id integer NOT NULL REFERENCES users (id),
    body text NOT NULL,
    created_at timestamptz NOT NULL
);

INSERT INTO users (email, name)
SELECT 'user' || i || '@example.com', 'User ' || md5(random()::text)
FROM generate_series(1, 500) AS i;

INSERT INTO projects (owner_id, name, description)
SELECT 1 + (i % 500), 'Project ' || i, md5(random()::text) || md5(random()::text)
FROM generate_series(1, 200) AS i;

INSERT INTO tasks (project_id, assignee_id, title, description, status, due_date)
SELECT 1 + (i % 200), 1 + (i % 500), 'Task ' || md5(random()::text),
       md5(random()::text) || ' ' || md5(random()::text),
       (ARRAY['todo', 'doing', 'done'])[1 + (i % 3)],
       date '2026-01-01' + (i % 365)
FROM generate_series(1, 20000) AS i;

INSERT INTO comments (task_id, author_id, body, created_at)
SELECT 1 + (i % 20000), 1 + (i % 500),
       md5(random()::text) || ' ' || md5(random()::text),
       timestamptz '2026-01-01' + i * interval '1 minute'
FROM generate_series(1, 25000) AS i;

-- The demo's tables only: the owner may not analyze the system catalogs.
ANALYZE users, projects, tasks, comments;
