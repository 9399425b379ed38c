-- 07_prices: weekly price tables and the point-in-time price features of each item.
-- grain: weekly_prices — one row per (product, store, week); item_prices — one row per
--        (product, store, week) that has an item.
-- inputs: items, products; getvariable('price_window_weeks') = W.
-- outputs: tables weekly_prices, product_weekly_prices, category_weekly_prices, item_prices.
-- Point in time: every feature of week w reads weeks < w only (window frames end 1 week before).
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

-- Every (product, store, week) with an item is a row of weekly_prices, every (product, week) a row
-- of product_weekly_prices and every (PROD_CODE_10, week) a row of category_weekly_prices, so the
-- features are windows over those tables: RANGE frames over the week number end at 1 PRECEDING,
-- which excludes week w itself.
create or replace table item_prices as
with
store_features as (
    select
        product_idx,
        store_idx,
        week,
        lag(median_unit_price) over (partition by product_idx, store_idx order by week) as prior_price,
        max(median_unit_price) over (
            partition by product_idx, store_idx order by week
            range between getvariable('price_window_weeks') preceding and 1 preceding
        ) as base_price
    from weekly_prices
),

product_features as (
    select
        product_idx,
        week,
        max(median_unit_price) over (
            partition by product_idx order by week
            range between getvariable('price_window_weeks') preceding and 1 preceding
        ) as base_price
    from product_weekly_prices
),

category_features as (
    select
        prod_code_10,
        week,
        sum(sum_median) over w / sum(n_products) over w as category_avg_price
    from category_weekly_prices
    window w as (
        partition by prod_code_10 order by week
        range between getvariable('price_window_weeks') preceding and 1 preceding
    )
)

select
    s.product_idx,
    s.store_idx,
    s.week,
    s.prior_price,
    coalesce(s.base_price, pf.base_price) as base_price,
    c.category_avg_price
from store_features as s
join products as p using (product_idx)
join product_features as pf using (product_idx, week)
join category_features as c on c.prod_code_10 = p.prod_code_10 and c.week = s.week;
