-- grain: one row per group (store or customer segment, keyed as in 03_group_basket_mix.sql)
--        over the training-week baskets
-- inputs: macro segment_key (00_macros.sql), views `samples`, `customers`; variables train_first, train_last
-- outputs: group_kind, group_key, n_baskets, n_weeks (weeks with a basket), n_customers (distinct
--          known customers), n_anonymous (anonymous baskets), spend_cents (sum of basket spend in
--          cents, an exact integer), n_items (sum of quantities), n_lines (sum of distinct products per basket)
with baskets as (
    select
        s.store_idx,
        segment_key(s.customer_idx, c.customer_lifestage, c.customer_price_sensitivity) as segment_key,
        s.customer_idx,
        s.week,
        round(s.spend_total * 100)::bigint as spend_cents,
        s.n_items,
        s.n_products
    from samples as s
    left join customers as c on s.customer_idx = c.customer_idx
    where s.week between getvariable('train_first') and getvariable('train_last')
),

by_store as (
    select
        'store' as group_kind, store_idx::varchar as group_key, count(*) as n_baskets,
        count(distinct week) as n_weeks,
        count(distinct customer_idx) filter (where customer_idx > 0) as n_customers,
        count(*) filter (where customer_idx = 0) as n_anonymous,
        sum(spend_cents)::bigint as spend_cents, sum(n_items)::bigint as n_items,
        sum(n_products)::bigint as n_lines
    from baskets
    group by store_idx
),

by_segment as (
    select
        'segment' as group_kind, segment_key as group_key, count(*) as n_baskets,
        count(distinct week) as n_weeks,
        count(distinct customer_idx) filter (where customer_idx > 0) as n_customers,
        count(*) filter (where customer_idx = 0) as n_anonymous,
        sum(spend_cents)::bigint as spend_cents, sum(n_items)::bigint as n_items,
        sum(n_products)::bigint as n_lines
    from baskets
    group by segment_key
),

final as (
    select * from by_store
    union all
    select * from by_segment
)

select group_kind, group_key, n_baskets, n_weeks, n_customers, n_anonymous, spend_cents, n_items, n_lines
from final
order by group_kind, group_key
