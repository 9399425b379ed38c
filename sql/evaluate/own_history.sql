-- own_history: the own-history baseline of `retail-sim evaluate` (retail_sim/baselines.py OwnHistory).
-- grain: one row per (evaluated basket of a known customer, product that customer bought in a
--        strictly earlier basket: an earlier shop_date, or the same date and an earlier shop_hour;
--        earlier baskets of any split count)
-- inputs: views samples, items (sql/prepared_views.sql); variable split; table evaluated_baskets
--         (basket_id: the baskets being scored, registered by Python)
-- outputs: basket_id, product_idx, n_baskets (the customer's earlier baskets holding the product),
--          ordered by basket_id, product_idx
with evaluated as (
    select basket_id, customer_idx, shop_date, shop_hour
    from samples
    where split = getvariable('split') and customer_idx > 0
      and basket_id in (select basket_id from evaluated_baskets)
),

earlier_items as (
    select customer_idx, shop_date, shop_hour, product_idx
    from items
    where customer_idx > 0
),

final as (
    select e.basket_id, i.product_idx, count(*) as n_baskets
    from evaluated e
    join earlier_items i
      on i.customer_idx = e.customer_idx
     and (i.shop_date < e.shop_date or (i.shop_date = e.shop_date and i.shop_hour < e.shop_hour))
    group by e.basket_id, i.product_idx
)

select basket_id, product_idx, n_baskets from final order by basket_id, product_idx
