-- 12_history: the purchase-history event log of one slice of customers, as Parquet.
-- grain: one row per (customer, product, shop_ts) at which the customer bought the product
--        (shop_ts = hours since the calendar origin: (shop_date - origin_date) * 24 + shop_hour).
-- inputs: items (07, complete after the last slice of weeks: every kept item of every week, not
--         only the samples' truncated lists);
--         getvariable('slice_first'), getvariable('slice_last') (customer_idx range, known
--         customers only), getvariable('origin_date'), getvariable('history_decay'),
--         getvariable('history_short_decay'), getvariable('target').
-- outputs: getvariable('target') (history/part-NNNN.parquet), rows ordered by
--          (customer_idx, product_idx, shop_ts); the parts, in name order, are globally ordered.
-- Running columns hold the state AFTER the event (this event included):
--   n_baskets       the customer's baskets at this shop_ts holding the product
--   next_shop_ts    the customer's next purchase hour of the product (NULL if none)
--   cum_baskets     Σ n_baskets over the events so far (baskets holding it up to this hour)
--   cum_decay       Σ n_baskets * (1 / history_decay) ^ (shop_ts / 168)
--   cum_short_decay the same with history_short_decay
-- The as-of rule (sql/audits/11_history.sql, retail_sim/data/history.py): the history of a
-- basket at hour t is, per product, the last event with shop_ts < t, i.e. the event with
-- shop_ts < t <= next_shop_ts (baskets in the same date and hour do not see each other). Its
-- decayed count at t is cum_decay * decay ^ (t / 168)
-- = Σ over the earlier baskets holding it of decay ^ (age in weeks); multiplying every product by
-- the same factor keeps their order, so products are ranked on cum_decay itself.
-- Threads: prepare.py runs it on one DuckDB thread. The window sums add a partition's rows in a
-- tree aligned on how the rows were split among the threads, so on 2 threads the last bits of
-- cum_decay and cum_short_decay changed from run to run (12.1M rows: 500K of 9.5M values).
-- Memory: prepare.py runs one slice of customers at a time (at most splits.items_per_slice
-- items), so the window sort of a slice fits in memory at any input size. items is in week
-- order, so each slice scans its four columns in full (26 s for 12.1M items, one slice).
copy (
    with
    slice_items as (
        select
            customer_idx,
            product_idx,
            ((shop_date - getvariable('origin_date')) * 24 + shop_hour)::integer as shop_ts
        from items
        where customer_idx between getvariable('slice_first') and getvariable('slice_last')
            and customer_idx > 0
    ),

    events as (
        select customer_idx, product_idx, shop_ts, count(*)::integer as n_baskets
        from slice_items
        group by customer_idx, product_idx, shop_ts
    ),

    final as (
        select
            customer_idx,
            product_idx,
            shop_ts,
            n_baskets,
            lead(shop_ts) over by_time as next_shop_ts,
            (sum(n_baskets) over w)::integer as cum_baskets,
            sum(n_baskets * pow(1.0 / getvariable('history_decay'), shop_ts / 168.0)) over w
                as cum_decay,
            sum(n_baskets * pow(1.0 / getvariable('history_short_decay'), shop_ts / 168.0)) over w
                as cum_short_decay
        from events
        window
            by_time as (partition by customer_idx, product_idx order by shop_ts),
            w as (by_time rows between unbounded preceding and current row)
    )

    select
        customer_idx, product_idx, shop_ts, n_baskets, next_shop_ts, cum_baskets, cum_decay,
        cum_short_decay
    from final
    order by customer_idx, product_idx, shop_ts
) to (getvariable('target')) (
    format parquet, compression zstd, row_group_size 122880  -- the DuckDB default; splits.row_group_size sets only the samples files (the loader unit)
);
