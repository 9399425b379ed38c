-- 04_rejects: every rejected input line with its file, line number, reason and raw text.
-- grain: one row per rejected input line.
-- inputs: reader_rejects (01), line_rejects (03; absent when no line was rejected by validation
--         or conflict, then it is created empty here). outputs: table rejects.
create table if not exists line_rejects (
    source_file varchar, line bigint, reason varchar, detail varchar, raw_fields varchar[]
);

create or replace table rejects as
select
    source_file,
    line,
    'malformed_line' as reason,
    error_message as detail,
    [csv_line] as raw_fields
from reader_rejects
union all
select source_file, line, reason, detail, raw_fields
from line_rejects;
