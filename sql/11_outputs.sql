-- 11_outputs: the intermediate tables later stages read, as Parquet.
-- grain: vocab/products — one row per product; vocab/customers — per customer; vocab/stores —
--        per store; prices/weekly_prices — one row per (product, store, week); rejects/rejects —
--        one row per rejected input line. (items/week=<w>/: 11_write_items.sql, once per week.)
-- inputs: products, customers, stores, weekly_prices, rejects; getvariable('out') (the output
--         folder being written). outputs: the files above.
copy (select * from products order by product_idx)
    to (getvariable('out') || '/vocab/products.parquet') (format parquet, compression zstd);

copy (select * from customers order by customer_idx)
    to (getvariable('out') || '/vocab/customers.parquet') (format parquet, compression zstd);

copy (select * from stores order by store_idx)
    to (getvariable('out') || '/vocab/stores.parquet') (format parquet, compression zstd);

-- Sorted here although 07 appends weekly_prices in this order: the Parquet row groups follow the
-- batches of the COPY's input, and a scan's batches follow the table's row groups, whose sizes
-- vary with how 07's parallel inserts completed (214.4M rows: two runs split rows differently
-- between two row groups). The sort's output batches do not, so the file is the same every run
-- (12.1M rows: 1.0 -> 1.4 s, same bytes as the unsorted COPY of a table in whole row groups).
copy (select product_idx, store_idx, week, median_unit_price, n_lines from weekly_prices
      order by week, product_idx, store_idx)
    to (getvariable('out') || '/prices/weekly_prices.parquet') (format parquet, compression zstd);

copy (select * from rejects order by source_file, line)
    to (getvariable('out') || '/rejects/rejects.parquet') (format parquet, compression zstd);
