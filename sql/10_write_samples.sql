-- 10_write_samples: one Parquet file of one (split, bucket) of the current slice.
-- grain: one row per basket, ordered by (week, basket_id).
-- inputs: scratch.slice_samples (09); getvariable('split'), getvariable('bucket'), getvariable('target'),
--         getvariable('row_group_size'). prepare.py runs it for several (split, bucket) at once, each
--         on its own connection to the work database.
-- outputs: getvariable('target') (samples/split=<split>/bucket=<bucket>/part-<slice>.parquet).
copy (
    select * exclude (split, bucket, lines, product_sum, product_hash)
    from scratch.slice_samples
    where split = getvariable('split') and bucket = getvariable('bucket')
    order by week, basket_id
) to (getvariable('target')) (
    format parquet, compression zstd, row_group_size getvariable('row_group_size')
);
