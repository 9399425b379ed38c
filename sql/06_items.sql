-- 06_items: the basket lines of one slice of weeks with repeated lines of one product merged
-- (prepare.py runs 06 then 07 for consecutive week ranges, in week order).
-- grain: one row per (basket, product) of the slice.
-- inputs: lines (01), kept_baskets, products (05); getvariable('slice_first'), getvariable('slice_last').
-- outputs: temp table slice_items (quantity and spend summed over merged lines, n_lines = lines
--          merged), which 07 prices and appends to items.
-- The lines are numbered (products) before the merge, so it groups on two integers, not on the
-- product code text (14% less CPU for 3.5M lines). The join with kept_baskets keeps only baskets
-- without conflict and brings the basket's week, date, hour, customer and store. Memory: the merge
-- holds the slice's (basket, product) pairs only.
create or replace temp table slice_items as
with
slice_lines as (
    select l.basket_id, p.product_idx, l.quantity, l.spend
    from lines as l
    join products as p on p.product_code = l.prod_code
    where l.reject_reason is null
        and l.week between getvariable('slice_first') and getvariable('slice_last')
),

merged as (
    select
        basket_id,
        product_idx,
        sum(quantity) as quantity,
        sum(spend) as spend,
        count(*) as n_lines
    from slice_lines
    group by basket_id, product_idx
),

slice_baskets as (
    select basket_id, week, shop_date, shop_hour, customer_idx, store_idx
    from kept_baskets
    where week between getvariable('slice_first') and getvariable('slice_last')
)

select
    m.basket_id,
    b.week,
    b.shop_date,
    b.shop_hour,
    b.customer_idx,
    b.store_idx,
    m.product_idx,
    m.quantity::integer as quantity,
    m.spend::double as spend,
    (m.spend / m.quantity)::double as unit_price,
    m.n_lines::integer as n_lines
from merged as m
join slice_baskets as b using (basket_id);
