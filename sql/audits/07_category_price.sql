-- check: category_avg_price = mean over weeks w-W..w-1 of the all-store weekly median unit price
--        of every product in the item's PROD_CODE_10; recomputed from items; no week >= w used
-- checked: sample_items
with
product_weekly as (
    select i.product_idx, p.prod_code_10, i.week, median(i.unit_price) as price
    from items as i
    join products as p using (product_idx)
    group by all
),

keys as (
    select distinct k.week, p.prod_code_10
    from sample_items as k
    join products as p using (product_idx)
),

expected as (
    select k.week, k.prod_code_10, avg(w.price) as price
    from keys as k
    join product_weekly as w
        on w.prod_code_10 = k.prod_code_10
        and w.week >= k.week - getvariable('price_window_weeks') and w.week < k.week
    group by all
)

select k.basket_id, k.position, k.week, k.category_avg_price, e.price as expected
from sample_items as k
join products as p using (product_idx)
left join expected as e on e.week = k.week and e.prod_code_10 = p.prod_code_10
where abs(k.category_avg_price - e.price) > 1e-9 * greatest(1, abs(e.price))
    or ((k.category_avg_price is null) <> (e.price is null));
