-- 08_baskets: basket attributes, split, bucket and the customer's point-in-time history.
-- grain: one row per kept basket.
-- inputs: kept_baskets (05), items (07); split/bucket variables.
-- outputs: table baskets.
-- history_length         the customer's baskets with (shop_date, shop_hour) strictly earlier
--                        (baskets in the same date and hour do not count each other); 0 if anonymous
-- days_since_prev_basket days since the latest such basket; NULL if none
-- is_first_basket        known customer and history_length = 0
-- is_unseen_in_train     no basket of the customer in the train weeks strictly earlier (true if anonymous)
-- n_items and spend_total come from the basket's lines (02: spend summed exactly, then DOUBLE);
-- n_products counts its items: its lines less the lines merged into another line of the same
-- product (items.n_lines > 1 — rare, so this reads one column of items, not a grouping of it).
create or replace table baskets as
with
merged_lines as (
    -- items that merged repeated lines (rare): how many lines each basket lost to merging
    select basket_id, sum(n_lines - 1) as n_merged
    from items
    where n_lines > 1
    group by basket_id
),

joined as (
    select
        k.basket_id,
        shop_week_of(k.week) as shop_week,
        k.week,
        k.shop_date,
        (dayofweek(k.shop_date) + 1)::integer as shop_weekday,
        k.shop_hour,
        k.customer_id,
        k.customer_idx,
        k.customer_price_sensitivity,
        k.customer_lifestage,
        k.store_id,
        k.store_idx,
        k.store_format,
        k.store_region,
        nullif(k.basket_type, 'XX') as mission_type,
        nullif(k.basket_dominant_mission, 'XX') as dominant_mission,
        nullif(k.basket_price_sensitivity, 'XX') as basket_price_sensitivity,
        nullif(k.basket_size, 'XX') as basket_size,
        (k.n_lines - coalesce(m.n_merged, 0))::integer as n_products,
        k.n_items::integer as n_items,
        k.spend_total,
        k.customer_id is null as is_anonymous,
        case
            when k.week between getvariable('train_first') and getvariable('train_last') then 'train'
            when k.week between getvariable('validation_first') and getvariable('validation_last')
                then 'validation'
            when k.week between getvariable('test_first') and getvariable('test_last') then 'test'
        end as split,
        -- hours since 1970-01-01: orders baskets by (shop_date, shop_hour)
        (k.shop_date - date '1970-01-01') * 24 + k.shop_hour as shop_ts
    from kept_baskets as k
    left join merged_lines as m using (basket_id)
),

known_history as (
    select
        basket_id,
        (rank() over by_time - 1)::integer as history_length,
        max(shop_date) over earlier as prev_date,
        coalesce(sum((split = 'train')::integer) over earlier, 0) as train_baskets_before
    from joined
    where not is_anonymous
    window
        by_time as (partition by customer_idx order by shop_ts),
        earlier as (
            partition by customer_idx order by shop_ts
            range between unbounded preceding and 1 preceding
        )
),

final as (
    select
        j.basket_id,
        j.customer_id,
        j.customer_idx,
        j.store_id,
        j.store_idx,
        j.shop_week,
        j.week,
        j.shop_date,
        j.shop_weekday,
        j.shop_hour,
        j.customer_price_sensitivity,
        j.customer_lifestage,
        j.store_format,
        j.store_region,
        j.mission_type,
        j.dominant_mission,
        j.basket_price_sensitivity,
        j.basket_size,
        j.n_products,
        least(j.n_products, getvariable('max_seq_len'))::integer as seq_len,
        coalesce(h.history_length, 0)::integer as history_length,
        (j.shop_date - h.prev_date)::integer as days_since_prev_basket,
        (not j.is_anonymous and h.history_length = 0) as is_first_basket,
        (j.is_anonymous or h.train_baskets_before = 0) as is_unseen_in_train,
        j.is_anonymous,
        j.n_items,
        j.spend_total::double as spend_total,
        j.split,
        (len(list_filter(getvariable('bucket_edges'), lambda e: e < least(j.n_products, getvariable('max_seq_len')))) + 1)::integer
            as bucket
    from joined as j
    left join known_history as h using (basket_id)
)

select * from final;
