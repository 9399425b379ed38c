-- 08_baskets: basket attributes, split, bucket and the customer's point-in-time history.
-- grain: one row per kept basket.
-- inputs: basket_headers (02), items, customers, stores; split/bucket variables.
-- outputs: table baskets.
-- history_length         the customer's baskets with (shop_date, shop_hour) strictly earlier
--                        (baskets in the same date and hour do not count each other); 0 if anonymous
-- days_since_prev_basket days since the latest such basket; NULL if none
-- is_first_basket        known customer and history_length = 0
-- is_unseen_in_train     no basket of the customer in the train weeks strictly earlier (true if anonymous)
create or replace table baskets as
with
attributes as (
    select
        basket_id, shop_week, week, shop_date, shop_weekday, shop_hour,
        cust_code as customer_id, customer_price_sensitivity, customer_lifestage,
        store_code as store_id,
        nullif(basket_type, 'XX') as mission_type,
        nullif(basket_dominant_mission, 'XX') as dominant_mission,
        nullif(basket_price_sensitivity, 'XX') as basket_price_sensitivity,
        nullif(basket_size, 'XX') as basket_size
    from basket_headers
),

contents as (
    select
        basket_id,
        count(*)::integer as n_products,
        sum(quantity)::integer as n_items,
        sum(spend) as spend_total
    from items
    group by basket_id
),

joined as (
    select
        a.*,
        coalesce(c.customer_idx, 0)::integer as customer_idx,
        s.store_idx,
        s.store_format,
        s.store_region,
        n.n_products,
        n.n_items,
        n.spend_total,
        a.customer_id is null as is_anonymous,
        case
            when a.week between getvariable('train_first') and getvariable('train_last') then 'train'
            when a.week between getvariable('validation_first') and getvariable('validation_last')
                then 'validation'
            when a.week between getvariable('test_first') and getvariable('test_last') then 'test'
        end as split,
        -- hours since 1970-01-01: orders baskets by (shop_date, shop_hour)
        (a.shop_date - date '1970-01-01') * 24 + a.shop_hour as shop_ts
    from attributes as a
    join contents as n using (basket_id)
    join stores as s on s.store_code = a.store_id
    left join customers as c on c.customer_code = a.customer_id
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
