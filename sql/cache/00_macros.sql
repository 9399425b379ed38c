-- 00_macros: macros shared by the cache's SQL files.
-- grain: none (definitions only). inputs: none. outputs: macro segment_key.
-- segment_key: the customer segment of a basket or line — 'LIFESTAGE|PRICE_SENSITIVITY' of the
-- customer (XX for unknown values), 'ANON|ANON' for anonymous shoppers (customer_idx 0).
create or replace macro segment_key(customer_idx, lifestage, price_sensitivity) as
    case when customer_idx = 0 then 'ANON|ANON'
         else coalesce(lifestage, 'XX') || '|' || coalesce(price_sensitivity, 'XX')
    end;
