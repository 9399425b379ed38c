-- 01_lines: every input line typed and validated, kept once in a compact table.
-- grain: one row per data line of the input CSVs that the CSV reader could split into 22 fields
--        (lines it could not split are in reader_rejects: one row per such line).
-- inputs: getvariable('input_files') (list of paths), calendar variables, the basket code lists
--         basket_sizes, price_sensitivities, mission_types, dominant_missions (from
--         retail_sim/data/codes.py; 'XX' = unknown is added here) (see prepare.py).
-- outputs: macro lgsr_lines(files) (typed, validated, with the raw text; 03 re-reads the files
--          that hold rejects through it), macro shop_week_of(week), tables lines and reader_rejects.
-- No type sniffing: every field is read as VARCHAR and cast here, so a bad value becomes a
-- reject with a reason instead of a failed run. lgsr_lines returns rows in file order when DuckDB's
-- preserve_insertion_order is on (03 numbers the lines of a re-read that way). The lines table is
-- written with it off (prepare.any_order): no later stage reads its stored order.
-- lines is the only table with one row per input line and the only pass over the CSV text: it
-- keeps the typed fields later stages use (no raw text, no shop_week or shop_weekday: both
-- follow from week and shop_date on a valid line) and file_index (position in input_files)
-- instead of the path. Size: ~20 bytes a line in the work database (245 MB for 12.1M lines).
-- the inverse of the week formula on a validated week (its WW lies in 1..weeks_per_year)
create or replace macro shop_week_of(week) as
    (getvariable('origin_year')
        + floor((week - 2 + getvariable('origin_ww')) / getvariable('weeks_per_year'))::integer) * 100
    + (week - 2 + getvariable('origin_ww')
        - floor((week - 2 + getvariable('origin_ww')) / getvariable('weeks_per_year'))::integer
            * getvariable('weeks_per_year'))
    + 1;

create or replace macro lgsr_lines(files) as table
with
raw as (
    select *, file_index
    from read_csv(
        files,
        columns = {
            'SHOP_WEEK': 'VARCHAR', 'SHOP_DATE': 'VARCHAR', 'SHOP_WEEKDAY': 'VARCHAR',
            'SHOP_HOUR': 'VARCHAR', 'QUANTITY': 'VARCHAR', 'SPEND': 'VARCHAR',
            'PROD_CODE': 'VARCHAR', 'PROD_CODE_10': 'VARCHAR', 'PROD_CODE_20': 'VARCHAR',
            'PROD_CODE_30': 'VARCHAR', 'PROD_CODE_40': 'VARCHAR', 'CUST_CODE': 'VARCHAR',
            'SEG_1': 'VARCHAR', 'SEG_2': 'VARCHAR', 'BASKET_ID': 'VARCHAR',
            'BASKET_SIZE': 'VARCHAR', 'BASKET_PRICE_SENSITIVITY': 'VARCHAR',
            'BASKET_TYPE': 'VARCHAR', 'BASKET_DOMINANT_MISSION': 'VARCHAR',
            'STORE_CODE': 'VARCHAR', 'STORE_FORMAT': 'VARCHAR', 'STORE_REGION': 'VARCHAR'
        },
        header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
        filename = true, store_rejects = true
    )
),

typed as (
    select
        filename as source_file,
        raw.*,
        try_cast(shop_week as integer) as t_shop_week,
        try_strptime(shop_date, '%Y%m%d')::date as t_shop_date,
        try_cast(shop_weekday as integer) as t_weekday,
        try_cast(shop_hour as integer) as t_hour,
        try_cast(quantity as integer) as t_quantity,
        try_cast(spend as decimal(18, 4)) as t_spend,
        try_cast(basket_id as bigint) as t_basket_id,
        -- both code schemes (seg_1/seg_2 recoded, or the older named columns) map to one
        case seg_1 when 'AZ' then 'LA' when 'BG' then 'UM' when 'CT' then 'MM' when 'DY' then 'XX'
            when 'LA' then 'LA' when 'MM' then 'MM' when 'UM' then 'UM' when 'XX' then 'XX' end
            as n_price_sensitivity,
        case seg_2 when 'AT' then 'YA' when 'BU' then 'OT' when 'CZ' then 'OA' when 'DI' then 'YF'
            when 'EQ' then 'OF' when 'FN' then 'PE'
            when 'YA' then 'YA' when 'OA' then 'OA' when 'YF' then 'YF' when 'OF' then 'OF'
            when 'PE' then 'PE' when 'OT' then 'OT' when 'XX' then 'XX' end
            as n_lifestage
    from raw
),

weeks as (
    select
        typed.*,
        (t_shop_week // 100 - getvariable('origin_year')) * getvariable('weeks_per_year')
            + (t_shop_week % 100 - getvariable('origin_ww')) + 1 as t_week
    from typed
),

checked as (
    select
        weeks.*,
        case
            when (shop_week is not null and t_shop_week is null)
                or (shop_date is not null and t_shop_date is null)
                or (shop_weekday is not null and t_weekday is null)
                or (shop_hour is not null and t_hour is null)
                or (quantity is not null and t_quantity is null)
                or (spend is not null and t_spend is null)
                or (basket_id is not null and t_basket_id is null) then 'bad_type'
            when shop_week is null or shop_date is null or shop_weekday is null or shop_hour is null
                or quantity is null or spend is null or prod_code is null or basket_id is null
                or store_code is null then 'missing_value'
            when (seg_1 is not null and n_price_sensitivity is null)
                or (seg_2 is not null and n_lifestage is null)
                or not list_contains(getvariable('basket_sizes') || ['XX'], basket_size)
                or not list_contains(getvariable('price_sensitivities') || ['XX'], basket_price_sensitivity)
                or not list_contains(getvariable('mission_types') || ['XX'], basket_type)
                or not list_contains(getvariable('dominant_missions') || ['XX'], basket_dominant_mission)
                then 'unknown_code'
            when t_shop_week % 100 not between 1 and getvariable('weeks_per_year')
                then 'week_number_out_of_range'
            when t_week not between getvariable('first_week') and getvariable('last_week')
                then 'week_outside_range'
            when t_shop_date not between getvariable('origin_date') + 7 * (t_week - 1)
                and getvariable('origin_date') + 7 * (t_week - 1) + 6 then 'date_outside_week'
            when t_weekday not between 1 and 7 then 'weekday_out_of_range'
            when t_weekday <> dayofweek(t_shop_date) + 1 then 'weekday_mismatch'
            when t_hour not between 0 and 23 then 'hour_out_of_range'
            when t_quantity < 1 then 'quantity_lt_1'
            when t_spend < 0 then 'negative_spend'
        end as reject_reason
    from weeks
),

final as (
    select
        source_file,
        file_index::integer as file_index,
        t_shop_week as shop_week,
        t_week as week,
        t_shop_date as shop_date,
        t_weekday as shop_weekday,
        t_hour as shop_hour,
        t_quantity as quantity,
        t_spend as spend,
        prod_code,
        prod_code_10,
        prod_code_20,
        prod_code_30,
        prod_code_40,
        cust_code,
        case when cust_code is null then null else coalesce(n_price_sensitivity, 'XX') end
            as customer_price_sensitivity,
        case when cust_code is null then null else coalesce(n_lifestage, 'XX') end
            as customer_lifestage,
        t_basket_id as basket_id,
        basket_size,
        basket_price_sensitivity,
        basket_type,
        basket_dominant_mission,
        store_code,
        store_format,
        store_region,
        reject_reason,
        -- the raw text (projected away by the transactions table; 03 keeps it for rejects)
        [
            shop_week, shop_date, shop_weekday, shop_hour, quantity, spend, prod_code,
            prod_code_10, prod_code_20, prod_code_30, prod_code_40, cust_code, seg_1, seg_2,
            basket_id, basket_size, basket_price_sensitivity, basket_type,
            basket_dominant_mission, store_code, store_format, store_region
        ] as raw_fields
    from checked
)

select * from final;

create or replace table lines as
select
    file_index,
    reject_reason,
    basket_id,
    week::integer as week,
    shop_date,
    shop_hour,
    quantity,
    spend,
    prod_code,
    prod_code_10,
    prod_code_20,
    prod_code_30,
    prod_code_40,
    cust_code,
    customer_price_sensitivity,
    customer_lifestage,
    basket_size,
    basket_price_sensitivity,
    basket_type,
    basket_dominant_mission,
    store_code,
    store_format,
    store_region
from lgsr_lines(getvariable('input_files'));

-- The lines the CSV reader could not split, one row per line (DuckDB's reject tables are
-- replaced by the next scan that stores rejects, and hold one row per problem).
create or replace table reader_rejects as
select
    s.file_path as source_file,
    e.line::bigint as line,
    min(e.error_message) as error_message,
    min(e.csv_line) as csv_line
from reject_errors as e
join reject_scans as s on s.scan_id = e.scan_id and s.file_id = e.file_id
group by s.file_path, e.line;
