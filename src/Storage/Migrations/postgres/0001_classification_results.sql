-- One row per (document, model version): redelivery of the same message updates the row instead of adding one.
-- Keys use the "C" collation so their order (and so keyset pagination) is byte order, the same as SQLite's, whatever
-- locale the cluster was created with.
CREATE TABLE classification_results (
    document_id     text COLLATE "C" NOT NULL,
    model_version   text COLLATE "C" NOT NULL,
    label           text             NOT NULL,
    confidence      double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    -- Stored as text so both dialects share one SQL; the check still rejects text that is not JSON.
    probabilities   text             NOT NULL CHECK (probabilities::jsonb IS NOT NULL),
    method          text             NOT NULL,
    tokens_input    integer          NOT NULL CHECK (tokens_input >= 0),
    tokens_attended bigint           NOT NULL CHECK (tokens_attended >= 0),
    processed_at    timestamptz      NOT NULL,
    message_id      text,
    attempt         integer          NOT NULL,
    PRIMARY KEY (document_id, model_version)
);

-- Status counts group by model version.
CREATE INDEX ix_classification_results_model_version ON classification_results (model_version);
