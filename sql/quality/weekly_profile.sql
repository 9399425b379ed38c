-- quality/weekly_profile: the quality profile of the kept input data, week by week.
-- grain: one row per week with kept items.
-- inputs: basket_sets (09, in the work database of `splits`: one row per kept basket with its
--         week, date, hour, customer, input lines, product count, and the sum and the xor of the
--         64-bit hashes of its product ids).
-- outputs: week, baskets, lines (input lines kept, repeated lines of a product counted), customers
--          (known customers with a basket), known_baskets, replayed_baskets, replay_share.
-- A known customer's basket is "replayed" when its product set equals the set of one of the same
-- customer's earlier baskets (earlier by shop_date, shop_hour, then basket_id). Sets are compared
-- by their size, the sum of their product ids and the xor of the products' 64-bit hashes (09
-- computes them in the grouping that builds the samples' item lists, so no pass over items is
-- added for the profile). Some circulating LGSR copies hold whole weeks that replay earlier
-- baskets; retail-sim audit warns when a week's replay share (or volume) is far from the other
-- weeks'.
-- Memory: one row per basket, grouped and windowed by DuckDB (both spill).
with
baskets as (
    select
        basket_id, week, shop_date, shop_hour, customer_idx, lines, n_products, product_sum,
        product_hash
    from basket_sets
),

known as (
    select
        week,
        row_number() over (
            partition by customer_idx, n_products, product_sum, product_hash
            order by shop_date, shop_hour, basket_id
        ) > 1 as replayed
    from baskets
    where customer_idx > 0
),

replays as (
    select week, count(*) as known_baskets, count(*) filter (where replayed) as replayed_baskets
    from known
    group by week
),

volumes as (
    select
        week,
        count(*) as baskets,
        sum(lines) as lines,
        count(distinct customer_idx) filter (where customer_idx > 0) as customers
    from baskets
    group by week
),

final as (
    select
        v.week,
        v.baskets,
        v.lines::bigint as lines,
        v.customers,
        coalesce(r.known_baskets, 0) as known_baskets,
        coalesce(r.replayed_baskets, 0) as replayed_baskets,
        coalesce(r.replayed_baskets / r.known_baskets, 0.0) as replay_share
    from volumes as v
    left join replays as r on r.week = v.week
)

select week, baskets, lines, customers, known_baskets, replayed_baskets, replay_share
from final
order by week
