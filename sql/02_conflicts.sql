-- 02_conflicts: one header per basket, and the baskets whose lines disagree on customer, store,
-- date, hour or basket attributes; every line of such a basket is rejected ('basket_conflict').
-- grain: basket_headers — one row per basket with at least one valid line;
--        basket_conflicts — one row per conflicting basket.
-- inputs: transactions (01). outputs: tables basket_headers, basket_conflicts, reader_rejects;
--         transactions.reject_reason set to 'basket_conflict' on those lines.
-- The lines of a basket agree iff the hash of their header fields is the same on every line
-- (min = max); a 64-bit hash collision between two different headers of one basket is the only
-- way a conflict could pass unseen.
create or replace table basket_headers as
with
valid as (
    select
        *,
        hash(
            cust_code, customer_price_sensitivity, customer_lifestage, store_code, shop_date,
            shop_hour, basket_size, basket_price_sensitivity, basket_type, basket_dominant_mission
        ) as header_hash
    from transactions
    where reject_reason is null
)

select
    basket_id,
    min(header_hash) <> max(header_hash) as is_conflict,
    any_value(shop_week) as shop_week,
    any_value(week) as week,
    any_value(shop_date) as shop_date,
    any_value(shop_weekday) as shop_weekday,
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
    any_value(basket_size) as basket_size
from valid
group by basket_id;

create or replace table basket_conflicts as
select basket_id from basket_headers where is_conflict;

delete from basket_headers where is_conflict;

update transactions
set reject_reason = 'basket_conflict'
where reject_reason is null
    and basket_id in (select basket_id from basket_conflicts);

-- Snapshot of the lines the CSV reader could not split (DuckDB's reject tables are per scan and
-- hold one row per problem; one row per line here).
create or replace table reader_rejects as
select
    s.file_path as source_file,
    e.line::bigint as line,
    min(e.error_message) as error_message,
    min(e.csv_line) as csv_line
from reject_errors as e
join reject_scans as s on s.scan_id = e.scan_id and s.file_id = e.file_id
group by s.file_path, e.line;
