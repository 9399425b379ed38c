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

-- weekly_prices was appended slice by slice in (week, product_idx, store_idx) order (07): with
-- preserve_insertion_order the scan returns that order without a sort of the whole table
copy (select product_idx, store_idx, week, median_unit_price, n_lines from weekly_prices)
    to (getvariable('out') || '/prices/weekly_prices.parquet') (format parquet, compression zstd);

copy (select * from rejects order by source_file, line)
    to (getvariable('out') || '/rejects/rejects.parquet') (format parquet, compression zstd);
