-- 03_rejects: the rejects table, first with the lines the CSV reader could not split.
-- grain: one row per rejected input line.
-- inputs: reader_rejects (02). outputs: table rejects (source_file, line, reason, detail, raw_fields);
-- 04 adds the lines rejected by validation and basket conflicts.
create or replace table rejects as
select
    source_file,
    line,
    'malformed_line' as reason,
    error_message as detail,
    [csv_line] as raw_fields
from reader_rejects;
