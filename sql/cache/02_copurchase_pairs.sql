-- grain: one row per unordered product pair (product_a < product_b) bought together in at least
--        `min_baskets` baskets of the week range [first_week, last_week]
-- inputs: view `items` (<prepared>/items); variables first_week, last_week, min_baskets
-- outputs: product_a, product_b, n_baskets (baskets holding both), plus one row with
--          product_a = product_b = 0 whose n_baskets is the number of baskets in the range
-- used twice: co-purchase edges over the training weeks (min_baskets = graph.min_cooccurrence)
-- and held-out positives over the validation weeks (min_baskets = 1)
with basket_items as (
    select distinct basket_id, product_idx
    from items
    where week between getvariable('first_week') and getvariable('last_week')
),

pairs as (
    select a.product_idx as product_a, b.product_idx as product_b, count(*) as n_baskets
    from basket_items as a
    inner join basket_items as b
        on a.basket_id = b.basket_id and a.product_idx < b.product_idx
    group by a.product_idx, b.product_idx
    having count(*) >= getvariable('min_baskets')
),

basket_total as (
    select 0 as product_a, 0 as product_b, count(distinct basket_id) as n_baskets
    from basket_items
),

final as (
    select product_a, product_b, n_baskets from pairs
    union all
    select product_a, product_b, n_baskets from basket_total
)

select product_a, product_b, n_baskets
from final
order by product_a, product_b
