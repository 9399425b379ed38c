-- grain: one row per (group, attribute, value) over the training-week baskets, where group is
--        a store (group_kind 'store', group_key = store_idx) or a customer segment
--        (group_kind 'segment', group_key = customer_lifestage || '|' || customer_price_sensitivity,
--        'ANON|ANON' for anonymous shoppers, XX for unknown values)
-- inputs: macro training_baskets (00_macros.sql: views samples, customers); variables train_first, train_last
-- outputs: group_kind, group_key, attribute, value, n_baskets
-- one pass: GROUPING SETS count the store and the segment groups from the same rows
with baskets as (
    select
        store_idx,
        segment_key,
        coalesce(mission_type, 'XX') as mission_type,
        coalesce(dominant_mission, 'XX') as dominant_mission,
        coalesce(basket_size, 'XX') as basket_size,
        coalesce(basket_price_sensitivity, 'XX') as basket_price_sensitivity,
        shop_weekday::varchar as shop_weekday,
        shop_hour::varchar as shop_hour,
        store_format,
        store_region,
        segment_lifestage as customer_lifestage,
        segment_price_sensitivity as customer_price_sensitivity
    from training_baskets()
),

long as (
    unpivot baskets
    on mission_type, dominant_mission, basket_size, basket_price_sensitivity, shop_weekday, shop_hour,
       store_format, store_region, customer_lifestage, customer_price_sensitivity
    into name attribute value value_code
),

grouped as (
    select
        case when grouping(store_idx) = 0 then 'store' else 'segment' end as group_kind,
        case when grouping(store_idx) = 0 then store_idx::varchar else segment_key end as group_key,
        attribute,
        value_code as value,
        count(*) as n_baskets
    from long
    group by grouping sets ((store_idx, attribute, value_code), (segment_key, attribute, value_code))
)

select group_kind, group_key, attribute, value, n_baskets
from grouped
order by group_kind, group_key, attribute, value
