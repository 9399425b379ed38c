-- 02_conflicts: baskets whose valid lines disagree on customer, store, date, hour or basket
-- attributes; every line of such a basket is rejected ('basket_conflict').
-- grain: one row per conflicting basket_id.
-- inputs: transactions (01). outputs: table basket_conflicts.
create or replace table basket_conflicts as
select basket_id
from transactions
where reject_reason is null
group by basket_id
having count(distinct coalesce(cust_code, '')) > 1
    or count(distinct store_code) > 1
    or count(distinct shop_date) > 1
    or count(distinct shop_hour) > 1
    or count(distinct coalesce(customer_price_sensitivity, '')) > 1
    or count(distinct coalesce(customer_lifestage, '')) > 1
    or count(distinct coalesce(basket_size, '')) > 1
    or count(distinct coalesce(basket_price_sensitivity, '')) > 1
    or count(distinct coalesce(basket_type, '')) > 1
    or count(distinct coalesce(basket_dominant_mission, '')) > 1;

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
