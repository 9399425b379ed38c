-- 11_write_items: the items of one week as Parquet.
-- grain: one row per (basket, product) of week getvariable('week'), in (basket_id, product_idx) order.
-- inputs: items (07: appended slice by slice in (week, basket_id, product_idx) order, so the week
--         filter reads only that week's row groups and, with preserve_insertion_order, returns them
--         in that order without a sort); getvariable('week'), getvariable('target').
-- outputs: getvariable('target') (items/week=<week>/data_0.parquet; the week is in the folder
--          name, not in the file). One COPY per week instead of one partitioned COPY: DuckDB's
--          partitioned writer interleaves its threads' chunks, so a week's rows came out in a
--          different order from run to run (two 2-thread runs on the sample: 2 of 18 files differed).
--          prepare.py runs it for several weeks at once, each on its own connection.
copy (
    select basket_id, shop_date, shop_hour, customer_idx, store_idx, product_idx, quantity, spend,
        unit_price, n_lines
    from items
    where week = getvariable('week')
) to (getvariable('target')) (
    format parquet, compression zstd, row_group_size 122880  -- the DuckDB default; splits.row_group_size sets only the samples files (the loader unit)
);
