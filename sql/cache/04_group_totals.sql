-- grain: one row per group (store or customer segment, keyed as in 03_group_basket_mix.sql)
--        over the training-week baskets
-- inputs: macro training_baskets (00_macros.sql: views samples, customers); variables train_first, train_last
-- outputs: group_kind, group_key, n_baskets, n_weeks (weeks with a basket), n_customers (distinct
--          known customers), n_anonymous (anonymous baskets), spend_cents (sum of basket spend in
--          cents, an exact integer), n_items (sum of quantities), n_lines (sum of distinct products per basket)
-- one pass: GROUPING SETS total the store and the segment groups from the same rows
with baskets as (
    select
        store_idx,
        segment_key,
        customer_idx,
        week,
        round(spend_total * 100)::bigint as spend_cents,
        n_items,
        n_products
    from training_baskets()
),

grouped as (
    select
        case when grouping(store_idx) = 0 then 'store' else 'segment' end as group_kind,
        case when grouping(store_idx) = 0 then store_idx::varchar else segment_key end as group_key,
        count(*) as n_baskets,
        count(distinct week) as n_weeks,
        count(distinct customer_idx) filter (where customer_idx > 0) as n_customers,
        count(*) filter (where customer_idx = 0) as n_anonymous,
        sum(spend_cents)::bigint as spend_cents,
        sum(n_items)::bigint as n_items,
        sum(n_products)::bigint as n_lines
    from baskets
    group by grouping sets ((store_idx), (segment_key))
)

select group_kind, group_key, n_baskets, n_weeks, n_customers, n_anonymous, spend_cents, n_items, n_lines
from grouped
order by group_kind, group_key
