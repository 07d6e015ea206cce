-- Documents seen by the worker, kept so a reclassify job can run a new model version over them.
CREATE TABLE documents (
    document_id    text COLLATE "C" NOT NULL PRIMARY KEY,
    content        text             NOT NULL,
    content_sha256 text             NOT NULL,
    content_type   text,
    first_seen_at  timestamptz      NOT NULL,
    last_seen_at   timestamptz      NOT NULL
);
