-- prepared_views: read-only views over a prepared folder, for audits and ad-hoc checks
-- (`retail-sim sql FILE` and `retail-sim audit` create them before running a file).
-- inputs: getvariable('prepared') (the folder), split/bucket variables from its manifest.
-- outputs: views samples, sample_items, items, products, customers, stores, weekly_prices,
--          rejects, history, manifest.
create or replace view samples as
select * from read_parquet(getvariable('prepared') || '/samples/*/*/*.parquet', hive_partitioning = true);

-- grain: one row per item kept in a sample (position 1 = highest spend)
create or replace view sample_items as
select
    basket_id, customer_idx, store_idx, week, shop_date, shop_hour, split,
    unnest(generate_series(1, len(product_idx))) as position,
    unnest(product_idx) as product_idx,
    unnest(quantity) as quantity,
    unnest(spend) as spend,
    unnest(unit_price) as unit_price,
    unnest(prior_price) as prior_price,
    unnest(base_price) as base_price,
    unnest(category_avg_price) as category_avg_price
from samples;

create or replace view items as
select * replace (week::integer as week)
from read_parquet(getvariable('prepared') || '/items/*/*.parquet', hive_partitioning = true);

-- grain: one row per (customer, product, shop_ts) the customer bought it (sql/12_history.sql)
create or replace view history as
select * from read_parquet(getvariable('prepared') || '/history/*.parquet');

create or replace view products as
select * from read_parquet(getvariable('prepared') || '/vocab/products.parquet');

create or replace view customers as
select * from read_parquet(getvariable('prepared') || '/vocab/customers.parquet');

create or replace view stores as
select * from read_parquet(getvariable('prepared') || '/vocab/stores.parquet');

create or replace view weekly_prices as
select * from read_parquet(getvariable('prepared') || '/prices/weekly_prices.parquet');

create or replace view rejects as
select * from read_parquet(getvariable('prepared') || '/rejects/rejects.parquet');

create or replace view manifest as
select * from read_json(getvariable('prepared') || '/manifest.json', maximum_object_size = 67108864);
