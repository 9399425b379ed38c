-- 03_reject_lines: lines rejected by validation (01) or as part of a conflicting basket (02),
-- with their line numbers and raw text. Run only when such lines exist (prepare.py checks).
-- grain: one row per rejected input line that the CSV reader could split.
-- inputs: getvariable('reject_files') (input files with at least one such line), reader_rejects,
--         basket_headers. outputs: table line_rejects.
-- Line numbers: these files are read a second time, in file order; the k-th line the reader
-- returns is line k + 1 (header) + the number of reader-rejected lines before it. Assumes one
-- record per physical line, as in LGSR (no quoted newlines).
create or replace table line_rejects as
with
reader_rank as (
    select
        source_file,
        line,
        line - row_number() over (partition by source_file order by line) - 1 as good_lines_before
    from reader_rejects
),

conflicts as (
    select basket_id from basket_headers where is_conflict
),

file_lines as (
    select row_number() over () as ordinal_global, *
    from lgsr_lines(getvariable('reject_files'))
),

numbered as (
    select
        file_lines.*,
        ordinal_global - min(ordinal_global) over (partition by source_file) + 1 as ordinal
    from file_lines
),

rejected as (
    select
        n.source_file,
        n.ordinal,
        coalesce(n.reject_reason, case when c.basket_id is not null then 'basket_conflict' end) as reason,
        n.raw_fields
    from numbered as n
    left join conflicts as c on n.reject_reason is null and n.basket_id = c.basket_id
),

final as (
    select
        r.source_file,
        (r.ordinal + 1 + count(k.line))::bigint as line,
        r.reason,
        null::varchar as detail,
        r.raw_fields
    from rejected as r
    left join reader_rank as k on k.source_file = r.source_file and k.good_lines_before < r.ordinal
    where r.reason is not null
    group by r.source_file, r.ordinal, r.reason, r.raw_fields
)

select source_file, line, reason, detail, raw_fields from final;
