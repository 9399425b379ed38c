-- 06_items: basket lines with repeated lines of one product merged.
-- grain: one row per (basket, product).
-- inputs: transactions (valid lines), products, customers, stores.
-- outputs: table items (quantity and spend summed over merged lines, n_lines = lines merged).
create or replace table items as
with
kept as (select * from transactions where reject_reason is null),

merged as (
    select
        basket_id,
        prod_code,
        any_value(week) as week,
        any_value(shop_date) as shop_date,
        any_value(shop_hour) as shop_hour,
        any_value(cust_code) as cust_code,
        any_value(store_code) as store_code,
        sum(quantity) as quantity,
        sum(spend) as spend,
        count(*) as n_lines
    from kept
    group by basket_id, prod_code
)

select
    m.basket_id,
    m.week::integer as week,
    m.shop_date,
    m.shop_hour::integer as shop_hour,
    coalesce(c.customer_idx, 0)::integer as customer_idx,
    s.store_idx,
    p.product_idx,
    m.prod_code as product_code,
    p.prod_code_10,
    m.quantity::integer as quantity,
    m.spend::double as spend,
    (m.spend / m.quantity)::double as unit_price,
    m.n_lines::integer as n_lines
from merged as m
join products as p on p.product_code = m.prod_code
join stores as s on s.store_code = m.store_code
left join customers as c on c.customer_code = m.cust_code;
