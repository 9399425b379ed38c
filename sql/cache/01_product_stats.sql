-- grain: one row per product with at least one line in the training weeks
-- inputs: view `items` (<prepared>/items: one row per (basket, product)); variables train_first,
--         train_last (inclusive weeks)
-- outputs: product_idx, n_lines (all shoppers), n_customer_lines (known customers only),
--          n_baskets, median_unit_price (median of the line unit prices over the training weeks)
-- No holistic aggregate over the lines (count distinct / median kept every value of a product
-- and spilled tens of GB at 214M rows): items has one row per (basket, product), so a product's
-- baskets are its rows; the median is read from the (product, unit price) histogram, DuckDB's
-- median (quantile_cont 0.5: lo * 0.5 + hi * 0.5 of the two middle values) to the bit.
with training_items as (
    select product_idx, customer_idx, unit_price
    from items
    where week between getvariable('train_first') and getvariable('train_last')
),

counts as (
    select
        product_idx,
        count(*) as n_lines,
        count(*) filter (where customer_idx > 0) as n_customer_lines,
        count(*) as n_baskets,
        count(unit_price) as n_prices
    from training_items
    group by product_idx
),

price_histogram as (
    select product_idx, unit_price, count(*) as n
    from training_items
    where unit_price is not null
    group by product_idx, unit_price
),

cumulative as (
    select
        product_idx,
        unit_price,
        sum(n) over (partition by product_idx order by unit_price rows unbounded preceding) as n_upto
    from price_histogram
),

middle as (
    -- the prices at 0-based positions (n - 1) // 2 and n // 2 of the product's sorted prices
    select
        u.product_idx,
        min(u.unit_price) filter (where u.n_upto > (c.n_prices - 1) // 2) as lo,
        min(u.unit_price) filter (where u.n_upto > c.n_prices // 2) as hi
    from cumulative as u
    join counts as c using (product_idx)
    group by u.product_idx
)

select
    c.product_idx, c.n_lines, c.n_customer_lines, c.n_baskets,
    m.lo * 0.5 + m.hi * 0.5 as median_unit_price
from counts as c
left join middle as m using (product_idx)
order by c.product_idx
