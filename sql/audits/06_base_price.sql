-- check: base_price = max (product, store) weekly median over weeks w-W..w-1, else the max of the
--        product's all-store weekly medians over those weeks, else NULL; recomputed from items
-- checked: sample_items
with
store_weekly as (
    select product_idx, store_idx, week, median(unit_price) as price from items group by all
),

all_weekly as (
    select product_idx, week, median(unit_price) as price from items group by all
),

expected as (
    select
        k.basket_id, k.position,
        coalesce(
            (select max(p.price) from store_weekly as p
             where p.product_idx = k.product_idx and p.store_idx = k.store_idx
                and p.week >= k.week - getvariable('price_window_weeks') and p.week < k.week),
            (select max(a.price) from all_weekly as a
             where a.product_idx = k.product_idx
                and a.week >= k.week - getvariable('price_window_weeks') and a.week < k.week)
        ) as base_price
    from sample_items as k
)

select k.basket_id, k.position, k.week, k.base_price, e.base_price as expected
from sample_items as k
join expected as e using (basket_id, position)
where k.base_price is distinct from e.base_price;
