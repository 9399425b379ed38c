-- grain: one row per (known customer, week in which that customer has a basket), every split
-- inputs: view `samples` (one row per basket); variables mission_types, dominant_missions,
--         basket_sizes, price_sensitivities (retail_sim/data/codes.py, in the order of the b_*
--         columns: Top Up, Full Shop, Small Shop; Fresh, Grocery, Mixed, Nonfood; S, M, L; LA, MM, UM)
-- outputs: customer_idx, week, and running counts over the customer's baskets in STRICTLY EARLIER
--          weeks (the state as of the start of `week`): b_baskets, b_stores (distinct stores),
--          b_home_store / b_home_region (baskets at the most-visited store / region), b_<format>,
--          b_<mission>, b_<dominant mission>, b_size_<S|M|L>, b_ps_<LA|MM|UM>, weekday bands
--          (b_mon_thu, b_fri, b_weekend), hour bands (b_hour_to_11, b_hour_12_15, b_hour_16_18,
--          b_hour_from_19), b_spend_cents, b_lines; plus prev_week (last earlier basket week, NULL
--          if none), first_week (the customer's first basket week), b_weeks (earlier active weeks)
-- all counts are integers, so the result does not depend on DuckDB's thread count
with baskets as (
    select customer_idx, week, store_idx, store_region, store_format, mission_type, dominant_mission,
        basket_size, basket_price_sensitivity, shop_weekday, shop_hour,
        round(spend_total * 100)::bigint as spend_cents, n_products
    from samples
    where customer_idx > 0
),

weekly as (
    select
        customer_idx, week,
        count(*) as n_baskets,
        count(*) filter (where store_format = 'LS') as n_ls,
        count(*) filter (where store_format = 'MS') as n_ms,
        count(*) filter (where store_format = 'SS') as n_ss,
        count(*) filter (where store_format = 'XLS') as n_xls,
        count(*) filter (where mission_type = getvariable('mission_types')[1]) as n_top_up,
        count(*) filter (where mission_type = getvariable('mission_types')[2]) as n_full_shop,
        count(*) filter (where mission_type = getvariable('mission_types')[3]) as n_small_shop,
        count(*) filter (where dominant_mission = getvariable('dominant_missions')[1]) as n_fresh,
        count(*) filter (where dominant_mission = getvariable('dominant_missions')[2]) as n_grocery,
        count(*) filter (where dominant_mission = getvariable('dominant_missions')[3]) as n_mixed,
        count(*) filter (where dominant_mission = getvariable('dominant_missions')[4]) as n_nonfood,
        count(*) filter (where basket_size = getvariable('basket_sizes')[1]) as n_size_s,
        count(*) filter (where basket_size = getvariable('basket_sizes')[2]) as n_size_m,
        count(*) filter (where basket_size = getvariable('basket_sizes')[3]) as n_size_l,
        count(*) filter (where basket_price_sensitivity = getvariable('price_sensitivities')[1]) as n_ps_la,
        count(*) filter (where basket_price_sensitivity = getvariable('price_sensitivities')[2]) as n_ps_mm,
        count(*) filter (where basket_price_sensitivity = getvariable('price_sensitivities')[3]) as n_ps_um,
        count(*) filter (where shop_weekday between 2 and 5) as n_mon_thu,
        count(*) filter (where shop_weekday = 6) as n_fri,
        count(*) filter (where shop_weekday in (1, 7)) as n_weekend,
        count(*) filter (where shop_hour <= 11) as n_hour_to_11,
        count(*) filter (where shop_hour between 12 and 15) as n_hour_12_15,
        count(*) filter (where shop_hour between 16 and 18) as n_hour_16_18,
        count(*) filter (where shop_hour >= 19) as n_hour_from_19,
        sum(spend_cents) as spend_cents,
        sum(n_products) as n_lines
    from baskets
    group by customer_idx, week
),

-- most-visited store / region up to and including each week: the running count of each
-- (customer, store) only grows, so the running maximum over all rows so far is the top count
store_weeks as (
    select customer_idx, week, store_idx, count(*) as n
    from baskets
    group by customer_idx, week, store_idx
),

store_running as (
    select customer_idx, week, store_idx,
        sum(n) over (partition by customer_idx, store_idx order by week) as cum,
        row_number() over (partition by customer_idx, store_idx order by week) = 1 as is_new_store
    from store_weeks
),

store_top as (
    select customer_idx, week, max(cum) as top_store, count(*) filter (where is_new_store) as new_stores
    from store_running
    group by customer_idx, week
),

region_weeks as (
    select customer_idx, week, store_region, count(*) as n
    from baskets
    group by customer_idx, week, store_region
),

region_running as (
    select customer_idx, week, sum(n) over (partition by customer_idx, store_region order by week) as cum
    from region_weeks
),

region_top as (
    select customer_idx, week, max(cum) as top_region
    from region_running
    group by customer_idx, week
),

joined as (
    select w.*, s.top_store, s.new_stores, r.top_region
    from weekly as w
    inner join store_top as s on w.customer_idx = s.customer_idx and w.week = s.week
    inner join region_top as r on w.customer_idx = r.customer_idx and w.week = r.week
),

final as (
    select
        customer_idx, week,
        lag(week) over before as prev_week,
        min(week) over (partition by customer_idx) as first_week,
        (row_number() over before - 1) as b_weeks,
        coalesce(sum(n_baskets) over earlier, 0)::bigint as b_baskets,
        coalesce(sum(new_stores) over earlier, 0)::bigint as b_stores,
        coalesce(max(top_store) over earlier, 0)::bigint as b_home_store,
        coalesce(max(top_region) over earlier, 0)::bigint as b_home_region,
        coalesce(sum(n_ls) over earlier, 0)::bigint as b_ls,
        coalesce(sum(n_ms) over earlier, 0)::bigint as b_ms,
        coalesce(sum(n_ss) over earlier, 0)::bigint as b_ss,
        coalesce(sum(n_xls) over earlier, 0)::bigint as b_xls,
        coalesce(sum(n_top_up) over earlier, 0)::bigint as b_top_up,
        coalesce(sum(n_full_shop) over earlier, 0)::bigint as b_full_shop,
        coalesce(sum(n_small_shop) over earlier, 0)::bigint as b_small_shop,
        coalesce(sum(n_fresh) over earlier, 0)::bigint as b_fresh,
        coalesce(sum(n_grocery) over earlier, 0)::bigint as b_grocery,
        coalesce(sum(n_mixed) over earlier, 0)::bigint as b_mixed,
        coalesce(sum(n_nonfood) over earlier, 0)::bigint as b_nonfood,
        coalesce(sum(n_size_s) over earlier, 0)::bigint as b_size_s,
        coalesce(sum(n_size_m) over earlier, 0)::bigint as b_size_m,
        coalesce(sum(n_size_l) over earlier, 0)::bigint as b_size_l,
        coalesce(sum(n_ps_la) over earlier, 0)::bigint as b_ps_la,
        coalesce(sum(n_ps_mm) over earlier, 0)::bigint as b_ps_mm,
        coalesce(sum(n_ps_um) over earlier, 0)::bigint as b_ps_um,
        coalesce(sum(n_mon_thu) over earlier, 0)::bigint as b_mon_thu,
        coalesce(sum(n_fri) over earlier, 0)::bigint as b_fri,
        coalesce(sum(n_weekend) over earlier, 0)::bigint as b_weekend,
        coalesce(sum(n_hour_to_11) over earlier, 0)::bigint as b_hour_to_11,
        coalesce(sum(n_hour_12_15) over earlier, 0)::bigint as b_hour_12_15,
        coalesce(sum(n_hour_16_18) over earlier, 0)::bigint as b_hour_16_18,
        coalesce(sum(n_hour_from_19) over earlier, 0)::bigint as b_hour_from_19,
        coalesce(sum(spend_cents) over earlier, 0)::bigint as b_spend_cents,
        coalesce(sum(n_lines) over earlier, 0)::bigint as b_lines
    from joined
    window
        before as (partition by customer_idx order by week),
        earlier as (partition by customer_idx order by week rows between unbounded preceding and 1 preceding)
)

select *
from final
order by customer_idx, week
