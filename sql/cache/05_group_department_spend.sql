-- grain: one row per (group, PROD_CODE_20 department) over the training-week lines; groups as in
--        03_group_basket_mix.sql
-- inputs: macro training_lines (00_macros.sql: views items, products, customers); variables train_first, train_last
-- outputs: group_kind, group_key, prod_code_20, spend_cents (exact integer)
-- one pass: GROUPING SETS sum the store and the segment groups from the same rows
with lines as (
    select
        store_idx,
        segment_key,
        prod_code_20,
        round(spend * 100)::bigint as spend_cents
    from training_lines()
),

grouped as (
    select
        case when grouping(store_idx) = 0 then 'store' else 'segment' end as group_kind,
        case when grouping(store_idx) = 0 then store_idx::varchar else segment_key end as group_key,
        prod_code_20,
        sum(spend_cents)::bigint as spend_cents
    from lines
    group by grouping sets ((store_idx, prod_code_20), (segment_key, prod_code_20))
)

select group_kind, group_key, prod_code_20, spend_cents
from grouped
order by group_kind, group_key, prod_code_20
