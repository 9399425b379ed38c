-- check: prior_price = the (product, store) median unit price of the latest week BEFORE the
--        basket's week that has one, recomputed from items; NULL when there is none
-- checked: sample_items
with
weekly as (
    select product_idx, store_idx, week, median(unit_price) as price
    from items
    group by all
),

latest as (
    select k.basket_id, k.position, max(w.week) as prior_week
    from sample_items as k
    left join weekly as w
        on w.product_idx = k.product_idx and w.store_idx = k.store_idx and w.week < k.week
    group by k.basket_id, k.position
)

select k.basket_id, k.position, k.product_idx, k.week, k.prior_price, w.price as expected, l.prior_week
from sample_items as k
join latest as l using (basket_id, position)
left join weekly as w on w.product_idx = k.product_idx and w.store_idx = k.store_idx and w.week = l.prior_week
where k.prior_price is distinct from w.price;
