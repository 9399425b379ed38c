-- grain: one row: the number of rows 06_customer_weeks returns
-- inputs: view `samples` (one row per basket)
-- outputs: n — its (known customer, week with a basket) pairs, counted without its windows and
--          joins (counting 06 itself ran all of them: 5.5 of the customer state's 34.5 s at 12.1M
--          rows); build.py preallocates customer_state.npy with it and checks it against the rows
--          06 streams
select count(*) as n
from (select distinct customer_idx, week from samples where customer_idx > 0)
