-- One row per (document, model version): redelivery of the same message updates the row instead of adding one.
-- STRICT makes SQLite reject a value of the wrong type, as PostgreSQL would.
CREATE TABLE classification_results (
    document_id     TEXT    NOT NULL,
    model_version   TEXT    NOT NULL,
    label           TEXT    NOT NULL,
    confidence      REAL    NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    probabilities   TEXT    NOT NULL CHECK (json_valid(probabilities)),
    method          TEXT    NOT NULL,
    tokens_input    INTEGER NOT NULL CHECK (tokens_input >= 0),
    tokens_attended INTEGER NOT NULL CHECK (tokens_attended >= 0),
    processed_at    TEXT    NOT NULL, -- UTC, ISO 8601 with 7 fraction digits and 'Z': fixed width, so text order is time order
    message_id      TEXT,
    attempt         INTEGER NOT NULL,
    PRIMARY KEY (document_id, model_version)
) STRICT;

-- Status counts group by model version.
CREATE INDEX ix_classification_results_model_version ON classification_results (model_version);
