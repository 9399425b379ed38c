-- grain: one row per (group, attribute, value) over the training-week baskets, where group is
--        a store (group_kind 'store', group_key = store_idx) or a customer segment
--        (group_kind 'segment', group_key = customer_lifestage || '|' || customer_price_sensitivity,
--        'ANON|ANON' for anonymous shoppers, XX for unknown values)
-- inputs: macro segment_key (00_macros.sql), views `samples` (one row per basket), `customers` (vocab); variables train_first, train_last
-- outputs: group_kind, group_key, attribute, value, n_baskets
with baskets as (
    select
        s.store_idx,
        segment_key(s.customer_idx, c.customer_lifestage, c.customer_price_sensitivity) as segment_key,
        coalesce(s.mission_type, 'XX') as mission_type,
        coalesce(s.dominant_mission, 'XX') as dominant_mission,
        coalesce(s.basket_size, 'XX') as basket_size,
        coalesce(s.basket_price_sensitivity, 'XX') as basket_price_sensitivity,
        s.shop_weekday::varchar as shop_weekday,
        s.shop_hour::varchar as shop_hour,
        s.store_format,
        s.store_region,
        case when s.customer_idx = 0 then 'ANON' else coalesce(c.customer_lifestage, 'XX') end as customer_lifestage,
        case when s.customer_idx = 0 then 'ANON' else coalesce(c.customer_price_sensitivity, 'XX') end
            as customer_price_sensitivity
    from samples as s
    left join customers as c on s.customer_idx = c.customer_idx
    where s.week between getvariable('train_first') and getvariable('train_last')
),

long as (
    unpivot baskets
    on mission_type, dominant_mission, basket_size, basket_price_sensitivity, shop_weekday, shop_hour,
       store_format, store_region, customer_lifestage, customer_price_sensitivity
    into name attribute value value_code
),

by_store as (
    select 'store' as group_kind, store_idx::varchar as group_key, attribute, value_code as value, count(*) as n_baskets
    from long
    group by store_idx, attribute, value_code
),

by_segment as (
    select 'segment' as group_kind, segment_key as group_key, attribute, value_code as value, count(*) as n_baskets
    from long
    group by segment_key, attribute, value_code
),

final as (
    select group_kind, group_key, attribute, value, n_baskets from by_store
    union all
    select group_kind, group_key, attribute, value, n_baskets from by_segment
)

select group_kind, group_key, attribute, value, n_baskets
from final
order by group_kind, group_key, attribute, value
