-- grain: one row per (known customer, product) bought in week `week`
-- inputs: view `items`; variable week
-- outputs: customer_idx, product_idx, n_lines (baskets of that week holding the product)
select customer_idx, product_idx, count(*) as n_lines
from items
where week = getvariable('week') and customer_idx > 0
group by customer_idx, product_idx
order by customer_idx, product_idx
