-- 07_prices: weekly median prices and the point-in-time price features of one slice of weeks,
-- and the slice's items with their features (prepare.py runs 06 then 07 for consecutive week
-- ranges, in week order; items is complete when the last slice is done).
-- grain: weekly_prices — one row per (product, store, week); product_weekly_prices — one row per
--        (product, week); price_state — one row per (product, store) sold before the slice;
--        items — one row per (basket, product).
-- inputs: slice_items (06), products; getvariable('price_window_weeks') = W, slice_first/slice_last
--         (this slice), previous_first/previous_last (the slice before; an empty range for the first).
-- outputs: tables weekly_prices (in (week, product_idx, store_idx) order), product_weekly_prices,
--          items (slice_items' columns, then prior_price, base_price, category_avg_price), all
--          appended slice by slice; price_state (replaced at each slice).
-- Point in time: every feature of week w reads weeks < w only (window frames end 1 week before).
--   prior_price        median unit price of (product, store) in the latest earlier week that has one
--   base_price         max of the (product, store) weekly medians over weeks w-W..w-1; if none, max of
--                      the product's all-store weekly medians over the same weeks; else NULL
--   category_avg_price mean over weeks w-W..w-1 of the weekly (all-store) median unit prices of the
--                      products in the same PROD_CODE_10 (one value per product and week)
-- Memory and disk: medians are exact (DuckDB's median over the slice's items, one hash group per
-- (product, store, week)); the windows see the slice's weekly rows, the W weeks before it and
-- price_state (the latest earlier week of each (product, store): at most one row per pair), so no
-- step holds more than one slice plus one row per (product, store). The features join the items
-- here, once: items carries them, and no per-(product, store, week) feature table is kept.
create table if not exists weekly_prices (
    product_idx integer, store_idx integer, week integer, median_unit_price double, n_lines integer
);

create table if not exists product_weekly_prices (
    product_idx integer, week integer, median_unit_price double
);

create table if not exists items (
    basket_id bigint, week integer, shop_date date, shop_hour integer, customer_idx integer,
    store_idx integer, product_idx integer, quantity integer, spend double, unit_price double,
    n_lines integer, prior_price double, base_price double, category_avg_price double
);

create table if not exists price_state (
    product_idx integer, store_idx integer, week integer, median_unit_price double
);

-- the latest weekly median of every (product, store) before this slice
create or replace table price_state as
with
candidates as (
    select product_idx, store_idx, week, median_unit_price
    from price_state
    union all
    select product_idx, store_idx, week, median_unit_price
    from weekly_prices
    where week between getvariable('previous_first') and getvariable('previous_last')
)

select
    product_idx,
    store_idx,
    max(week) as week,
    arg_max(median_unit_price, week) as median_unit_price
from candidates
group by product_idx, store_idx;

insert into weekly_prices
select
    product_idx,
    store_idx,
    week,
    median(unit_price) as median_unit_price,
    count(*)::integer as n_lines
from slice_items
group by product_idx, store_idx, week
order by week, product_idx, store_idx;

insert into product_weekly_prices
select product_idx, week, median(unit_price) as median_unit_price
from slice_items
group by product_idx, week;

-- Every (product, store, week) with an item is a row of weekly_prices, every (product, week) a row
-- of product_weekly_prices and every (PROD_CODE_10, week) a row of category_weeks, so the
-- features are windows over those rows: RANGE frames over the week number end at 1 PRECEDING,
-- which excludes week w itself. price_state may repeat a row of the W weeks before the slice
-- (same week, same median): neither lag nor max changes.
insert into items
with
store_weeks as (
    select product_idx, store_idx, week, median_unit_price
    from price_state
    union all
    select product_idx, store_idx, week, median_unit_price
    from weekly_prices
    where week between getvariable('slice_first') - getvariable('price_window_weeks')
        and getvariable('slice_last')
),

product_weeks as (
    select product_idx, week, median_unit_price
    from product_weekly_prices
    where week between getvariable('slice_first') - getvariable('price_window_weeks')
        and getvariable('slice_last')
),

category_weeks as (
    -- summed in product order, so the result does not depend on the thread count
    select
        p.prod_code_10,
        w.week,
        sum(w.median_unit_price order by w.product_idx) as sum_median,
        count(*) as n_products
    from product_weeks as w
    join products as p using (product_idx)
    group by p.prod_code_10, w.week
),

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
    from store_weeks
),

product_features as (
    select
        product_idx,
        week,
        max(median_unit_price) over (
            partition by product_idx order by week
            range between getvariable('price_window_weeks') preceding and 1 preceding
        ) as base_price
    from product_weeks
),

category_features as (
    -- list_sum adds the frame's sums in week order: the same bits whatever the slice
    select
        prod_code_10,
        week,
        list_sum(list(sum_median) over w) / sum(n_products) over w as category_avg_price
    from category_weeks
    window w as (
        partition by prod_code_10 order by week
        range between getvariable('price_window_weeks') preceding and 1 preceding
    )
),

item_features as (
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
    join category_features as c on c.prod_code_10 = p.prod_code_10 and c.week = s.week
    where s.week between getvariable('slice_first') and getvariable('slice_last')
)

select
    i.basket_id, i.week, i.shop_date, i.shop_hour, i.customer_idx, i.store_idx, i.product_idx,
    i.quantity, i.spend, i.unit_price, i.n_lines,
    f.prior_price, f.base_price, f.category_avg_price
from slice_items as i
left join item_features as f using (product_idx, store_idx, week)
-- in (week, basket, product) order: 11 writes items in this order, the same bytes for any thread count
order by i.week, i.basket_id, i.product_idx;
