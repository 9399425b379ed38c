-- 02_basket_headers: one header per basket, and whether its lines disagree.
-- grain: one row per basket_id with at least one valid line.
-- inputs: lines (01). outputs: table basket_headers; views kept_lines, line_reject_counts,
--          rejected_files, kept_lines_per_week.
-- A basket is in conflict when its valid lines disagree on customer, store, date, hour or basket
-- attributes: every line of it is then rejected ('basket_conflict'). The lines agree iff the hash
-- of their header fields is the same on every line (min = max); a 64-bit hash collision between
-- two different headers of one basket is the only way a conflict could pass unseen.
-- n_lines, n_items and spend_total sum the basket's valid lines (spend exactly, in decimal).
-- Valid lines of one basket share shop_date, hence week; shop_week and shop_weekday follow from
-- week and shop_date. Memory: one hash-table row per basket (~100 bytes; DuckDB spills past the
-- memory limit).
create or replace table basket_headers as
with
valid_lines as (
    select
        basket_id, week, shop_date, shop_hour, quantity, spend, cust_code,
        customer_price_sensitivity, customer_lifestage, store_code, store_format, store_region,
        basket_size, basket_price_sensitivity, basket_type, basket_dominant_mission,
        hash(
            cust_code, customer_price_sensitivity, customer_lifestage, store_code, shop_date,
            shop_hour, basket_size, basket_price_sensitivity, basket_type, basket_dominant_mission
        ) as header_hash
    from lines
    where reject_reason is null
),

final as (
    select
        basket_id,
        min(header_hash) <> max(header_hash) as is_conflict,
        any_value(week) as week,
        any_value(shop_date) as shop_date,
        any_value(shop_hour) as shop_hour,
        any_value(cust_code) as cust_code,
        any_value(customer_price_sensitivity) as customer_price_sensitivity,
        any_value(customer_lifestage) as customer_lifestage,
        any_value(store_code) as store_code,
        min(store_format) as store_format,
        min(store_region) as store_region,
        any_value(basket_type) as basket_type,
        any_value(basket_dominant_mission) as basket_dominant_mission,
        any_value(basket_price_sensitivity) as basket_price_sensitivity,
        any_value(basket_size) as basket_size,
        count(*) as n_lines,
        sum(quantity) as n_items,
        sum(spend) as spend_total
    from valid_lines
    group by basket_id
)

select
    basket_id, is_conflict, week, shop_date, shop_hour, cust_code, customer_price_sensitivity,
    customer_lifestage, store_code, store_format, store_region, basket_type,
    basket_dominant_mission, basket_price_sensitivity, basket_size, n_lines, n_items, spend_total
from final;

-- the valid lines of baskets without conflict: what every later stage reads
create or replace view kept_lines as
select l.*
from lines as l
anti join (select basket_id from basket_headers where is_conflict) as c using (basket_id)
where l.reject_reason is null;

-- rejected lines per reason (validation reasons from 01, then whole conflicting baskets)
create or replace view line_reject_counts as
select reject_reason as reason, count(*) as n_lines
from lines
where reject_reason is not null
group by reject_reason
union all
select 'basket_conflict', sum(n_lines)
from basket_headers
where is_conflict
having count(*) > 0;

-- input files (file_index) holding a rejected line: 03 re-reads them for line numbers and raw text
create or replace view rejected_files as
select distinct file_index
from lines
where reject_reason is not null
union
select distinct l.file_index
from lines as l
semi join (select basket_id from basket_headers where is_conflict) as c using (basket_id)
where l.reject_reason is null;

-- kept lines per week: the sizes prepare.py cuts the week slices of 06-07 from
create or replace view kept_lines_per_week as
select week, sum(n_lines)::bigint as n_lines
from basket_headers
where not is_conflict
group by week;
