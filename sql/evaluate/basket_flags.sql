-- basket_flags: what `retail-sim evaluate` needs per basket of a split beyond its batch: the
-- cold-start flag, the customer and the hour its purchase history is read at.
-- grain: one row per basket of the split
-- inputs: view samples (sql/prepared_views.sql); variables split, origin_date
-- outputs: basket_id, cold (is_unseen_in_train, NULL read as false), customer_idx (0 = anonymous),
--          shop_ts (hours since calendar.origin_date, as in the history event log), ordered by basket_id
with split_baskets as (
    select basket_id, is_unseen_in_train, customer_idx, shop_date, shop_hour
    from samples
    where split = getvariable('split')
),

final as (
    select
        basket_id,
        coalesce(is_unseen_in_train, false) as cold,
        customer_idx,
        ((shop_date - getvariable('origin_date')) * 24 + shop_hour)::bigint as shop_ts
    from split_baskets
)

select basket_id, cold, customer_idx, shop_ts from final order by basket_id
