-- 00_macros: macros shared by the cache's SQL files.
-- grain: none (definitions only). inputs: views samples, items, customers, products
--        (sql/prepared_views.sql); variables train_first, train_last (inclusive weeks) when a
--        training_* macro is used. outputs: macros segment_key, training_baskets, training_lines.
-- segment_key: the customer segment of a basket or line — 'LIFESTAGE|PRICE_SENSITIVITY' of the
-- customer (XX for unknown values), 'ANON|ANON' for anonymous shoppers (customer_idx 0).
create or replace macro segment_key(customer_idx, lifestage, price_sensitivity) as
    case when customer_idx = 0 then 'ANON|ANON'
         else coalesce(lifestage, 'XX') || '|' || coalesce(price_sensitivity, 'XX')
    end;

-- training_baskets: one row per basket of the training weeks (every column of `samples`), with
-- its customer's segment from the vocab: segment_key, segment_lifestage and
-- segment_price_sensitivity ('ANON' for anonymous shoppers, XX for unknown values). The one
-- definition of "the training baskets" for 03 and 04.
create or replace macro training_baskets() as table
select
    s.*,
    segment_key(s.customer_idx, c.customer_lifestage, c.customer_price_sensitivity) as segment_key,
    case when s.customer_idx = 0 then 'ANON' else coalesce(c.customer_lifestage, 'XX') end
        as segment_lifestage,
    case when s.customer_idx = 0 then 'ANON' else coalesce(c.customer_price_sensitivity, 'XX') end
        as segment_price_sensitivity
from samples as s
left join customers as c on s.customer_idx = c.customer_idx
where s.week between getvariable('train_first') and getvariable('train_last');

-- training_lines: one row per item of the training weeks (every column of `items`), with its
-- product's PROD_CODE_20 and its customer's segment_key (05).
create or replace macro training_lines() as table
select
    i.*,
    p.prod_code_20,
    segment_key(i.customer_idx, c.customer_lifestage, c.customer_price_sensitivity) as segment_key
from items as i
inner join products as p on i.product_idx = p.product_idx
left join customers as c on i.customer_idx = c.customer_idx
where i.week between getvariable('train_first') and getvariable('train_last');
