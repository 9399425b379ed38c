-- grain: one row per (group, PROD_CODE_20 department) over the training-week lines; groups as in
--        03_group_basket_mix.sql
-- inputs: macro segment_key (00_macros.sql), views `items`, `products`, `customers`; variables train_first, train_last
-- outputs: group_kind, group_key, prod_code_20, spend_cents (exact integer)
with lines as (
    select
        i.store_idx,
        segment_key(i.customer_idx, c.customer_lifestage, c.customer_price_sensitivity) as segment_key,
        p.prod_code_20,
        round(i.spend * 100)::bigint as spend_cents
    from items as i
    inner join products as p on i.product_idx = p.product_idx
    left join customers as c on i.customer_idx = c.customer_idx
    where i.week between getvariable('train_first') and getvariable('train_last')
),

final as (
    select 'store' as group_kind, store_idx::varchar as group_key, prod_code_20, sum(spend_cents)::bigint as spend_cents
    from lines
    group by store_idx, prod_code_20
    union all
    select 'segment' as group_kind, segment_key as group_key, prod_code_20, sum(spend_cents)::bigint as spend_cents
    from lines
    group by segment_key, prod_code_20
)

select group_kind, group_key, prod_code_20, spend_cents
from final
order by group_kind, group_key, prod_code_20
