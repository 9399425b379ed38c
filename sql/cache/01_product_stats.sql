-- grain: one row per product with at least one line in the training weeks
-- inputs: view `items` (<prepared>/items); variables train_first, train_last (inclusive weeks)
-- outputs: product_idx, n_lines (all shoppers), n_customer_lines (known customers only),
--          n_baskets, median_unit_price (median of the line unit prices over the training weeks)
with training_items as (
    select product_idx, basket_id, customer_idx, unit_price
    from items
    where week between getvariable('train_first') and getvariable('train_last')
),

final as (
    select
        product_idx,
        count(*) as n_lines,
        count(*) filter (where customer_idx > 0) as n_customer_lines,
        count(distinct basket_id) as n_baskets,
        median(unit_price) as median_unit_price
    from training_items
    group by product_idx
)

select product_idx, n_lines, n_customer_lines, n_baskets, median_unit_price
from final
order by product_idx
