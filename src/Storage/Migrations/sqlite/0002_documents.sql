-- Documents seen by the worker, kept so a reclassify job can run a new model version over them.
CREATE TABLE documents (
    document_id    TEXT NOT NULL PRIMARY KEY,
    content        TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    content_type   TEXT,
    first_seen_at  TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL
) STRICT;
