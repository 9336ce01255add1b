"""The ledger of imported backfill chunks (``linkhop analytics backfill``).

Each chunk of a backfill file is inserted with a deterministic dedup token (a hash of its bytes
and position). The insert dedup window only remembers recent tokens, so a file imported again
hours later, after thousands of worker inserts, would be counted twice: the importer records
every chunk here after its insert and skips chunks already listed. A crash between the insert
and the record replays the chunk with the same token, which the dedup window still holds.
"""

UP: list[str] = [
    """
CREATE TABLE IF NOT EXISTS $db.backfill_log
(
    token String,                                        -- the chunk's insert_deduplication_token
    source String,                                       -- file name as given on the command line
    first_line UInt64,                                   -- 1-based line number of the chunk's start
    lines UInt64,                                        -- data lines in the chunk
    stored UInt64,                                       -- rows inserted (lines minus rejected)
    imported_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- Looked up by token; a handful of rows per imported file.
ENGINE = MergeTree
ORDER BY token
""",
]

DOWN: list[str] = [
    "DROP TABLE IF EXISTS $db.backfill_log",
]
