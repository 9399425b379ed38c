-- 07_prices: weekly price tables and the point-in-time price features of each item.
-- grain: weekly_prices — one row per (product, store, week); item_prices — one row per
--        (product, store, week) that has an item.
-- inputs: items, products; getvariable('price_window_weeks') = W.
-- outputs: tables weekly_prices, product_weekly_prices, category_weekly_prices, item_prices.
-- Point in time: every feature of week w reads weeks < w only.
--   prior_price        median unit price of (product, store) in the latest earlier week that has one
--   base_price         max of the (product, store) weekly medians over weeks w-W..w-1; if none, max of
--                      the product's all-store weekly medians over the same weeks; else NULL
--   category_avg_price mean over weeks w-W..w-1 of the weekly (all-store) median unit prices of the
--                      products in the same PROD_CODE_10 (one value per product and week)
create or replace table weekly_prices as
select
    product_idx,
    store_idx,
    week,
    median(unit_price) as median_unit_price,
    count(*)::integer as n_lines
from items
group by product_idx, store_idx, week;

create or replace table product_weekly_prices as
select product_idx, week, median(unit_price) as median_unit_price
from items
group by product_idx, week;

create or replace table category_weekly_prices as
select p.prod_code_10, w.week, sum(w.median_unit_price) as sum_median, count(*) as n_products
from product_weekly_prices as w
join products as p using (product_idx)
group by p.prod_code_10, w.week;

create or replace table item_prices as
with
keys as (
    select distinct product_idx, store_idx, week, prod_code_10
    from items
),

prior as (
    select k.product_idx, k.store_idx, k.week, p.median_unit_price as prior_price
    from keys as k
    asof left join weekly_prices as p
        on k.product_idx = p.product_idx and k.store_idx = p.store_idx and k.week > p.week
),

base_store as (
    select k.product_idx, k.store_idx, k.week, max(p.median_unit_price) as base_price
    from keys as k
    join weekly_prices as p
        on p.product_idx = k.product_idx and p.store_idx = k.store_idx
        and p.week between k.week - getvariable('price_window_weeks') and k.week - 1
    group by k.product_idx, k.store_idx, k.week
),

product_weeks as (select distinct product_idx, week from keys),

base_all as (
    select k.product_idx, k.week, max(p.median_unit_price) as base_price
    from product_weeks as k
    join product_weekly_prices as p
        on p.product_idx = k.product_idx
        and p.week between k.week - getvariable('price_window_weeks') and k.week - 1
    group by k.product_idx, k.week
),

category_weeks as (select distinct prod_code_10, week from keys),

category as (
    select k.prod_code_10, k.week, sum(c.sum_median) / sum(c.n_products) as category_avg_price
    from category_weeks as k
    join category_weekly_prices as c
        on c.prod_code_10 = k.prod_code_10
        and c.week between k.week - getvariable('price_window_weeks') and k.week - 1
    group by k.prod_code_10, k.week
)

select
    k.product_idx,
    k.store_idx,
    k.week,
    prior.prior_price,
    coalesce(bs.base_price, ba.base_price) as base_price,
    category.category_avg_price
from keys as k
left join prior using (product_idx, store_idx, week)
left join base_store as bs using (product_idx, store_idx, week)
left join base_all as ba using (product_idx, week)
left join category using (prod_code_10, week);
