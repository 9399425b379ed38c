-- check: the manifest's row accounting holds: rows read = kept + rejected, the reasons add up,
--        the rejects file holds every rejected row, and the samples hold the counted baskets
-- checked: manifest
with
m as (select * from manifest),

reasons as (
    select coalesce(sum(v::bigint), 0) as n
    from (select unnest(map_values(json_transform(to_json(rows.rejected_by_reason), '"MAP(VARCHAR, BIGINT)"'))) as v from m)
),

checks as (
    select 'read = kept + rejected' as rule, rows.read as lhs, rows.kept + rows.rejected as rhs from m
    union all
    select 'rejected = sum by reason', rows.rejected, (select n from reasons) from m
    union all
    select 'rejected = rows in rejects file', rows.rejected, (select count(*) from rejects) from m
    union all
    select 'kept lines = items + merged lines', rows.kept, rows.items + rows.merged_duplicate_lines from m
    union all
    select 'items in files = manifest items', (select count(*) from items), rows.items from m
    union all
    select 'baskets in samples = manifest', (select count(*) from samples),
        baskets.kept - baskets.outside_splits from m
)

select rule, lhs, rhs from checks where lhs is distinct from rhs;
