-- 05_vocab: products, customers and stores numbered in code order, and the kept baskets with
-- those numbers.
-- grain: products — one row per PROD_CODE; customers — one row per CUST_CODE; stores — one row
--        per STORE_CODE; kept_baskets — one row per basket without conflict.
-- inputs: kept_lines, basket_headers (02). outputs: tables products, customers, stores, kept_baskets.
-- Special ids: products PAD 0, UNK 1, MASK 2, real products from getvariable('first_product_idx');
-- customer 0 = anonymous, store 0 = unknown (neither has a row). A customer's segment codes are
-- the ones of their first basket (ties by basket_id), so the vocab uses no later information.
-- products is the one pass over the lines here (a hash table of one row per product); the rest
-- reads the basket headers.
create or replace table products as
with
agg as (
    select
        prod_code as product_code,
        min(prod_code_10) as prod_code_10,
        min(prod_code_20) as prod_code_20,
        min(prod_code_30) as prod_code_30,
        min(prod_code_40) as prod_code_40,
        min(week) as first_week
    from kept_lines
    group by prod_code
)

select
    (row_number() over (order by product_code) + getvariable('first_product_idx') - 1)::integer
        as product_idx,
    product_code, prod_code_10, prod_code_20, prod_code_30, prod_code_40,
    first_week::integer as first_week
from agg
order by product_code;

create or replace table customers as
with
agg as (
    select
        cust_code as customer_code,
        arg_min(customer_price_sensitivity, (shop_date, shop_hour, basket_id)) as customer_price_sensitivity,
        arg_min(customer_lifestage, (shop_date, shop_hour, basket_id)) as customer_lifestage,
        min(week) as first_week
    from basket_headers
    where not is_conflict and cust_code is not null
    group by cust_code
)

select
    row_number() over (order by customer_code)::integer as customer_idx,
    customer_code, customer_price_sensitivity, customer_lifestage,
    first_week::integer as first_week
from agg
order by customer_code;

create or replace table stores as
with
agg as (
    select
        store_code,
        min(store_format) as store_format,
        min(store_region) as store_region
    from basket_headers
    where not is_conflict
    group by store_code
)

select
    row_number() over (order by store_code)::integer as store_idx,
    store_code, store_format, store_region
from agg
order by store_code;

-- the baskets later stages keep, with customer and store numbers (customer 0 = anonymous)
create or replace table kept_baskets as
select
    h.basket_id,
    h.week,
    h.shop_date,
    h.shop_hour,
    h.cust_code as customer_id,
    coalesce(c.customer_idx, 0)::integer as customer_idx,
    h.customer_price_sensitivity,
    h.customer_lifestage,
    h.store_code as store_id,
    s.store_idx,
    s.store_format,
    s.store_region,
    h.basket_type,
    h.basket_dominant_mission,
    h.basket_price_sensitivity,
    h.basket_size,
    h.n_lines,
    h.n_items,
    h.spend_total
from basket_headers as h
join stores as s on s.store_code = h.store_code
left join customers as c on c.customer_code = h.cust_code
where not h.is_conflict;
