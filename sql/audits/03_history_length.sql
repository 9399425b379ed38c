-- check: history_length and days_since_prev_basket equal a recount of the customer's baskets at
--        strictly earlier (shop_date, shop_hour); 0 and NULL for anonymous baskets
-- checked: samples
with
slots as (
    -- one row per (customer, date, hour) with the baskets in it
    select customer_idx, shop_date, shop_hour, count(*) as n
    from samples
    where customer_idx <> 0
    group by customer_idx, shop_date, shop_hour
),

earlier as (
    select
        customer_idx, shop_date, shop_hour,
        coalesce(sum(n) over w, 0) as baskets_before,
        max(shop_date) over w as prev_date
    from slots
    window w as (
        partition by customer_idx order by shop_date, shop_hour
        rows between unbounded preceding and 1 preceding
    )
)

select s.basket_id, s.customer_idx, s.history_length, e.baskets_before,
    s.days_since_prev_basket, s.shop_date - e.prev_date as expected_days
from samples as s
left join earlier as e using (customer_idx, shop_date, shop_hour)
where (s.customer_idx = 0 and (s.history_length <> 0 or s.days_since_prev_basket is not null))
    or (s.customer_idx <> 0 and (
        s.history_length <> e.baskets_before
        or s.days_since_prev_basket is distinct from (s.shop_date - e.prev_date)
    ));
