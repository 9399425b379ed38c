-- 09_samples: the training samples of one slice of weeks (list() cannot spill to disk, so
-- prepare.py runs this slice by slice to bound memory).
-- grain: one row per basket in a split, weeks getvariable('slice_first')..getvariable('slice_last').
-- inputs: baskets, items, item_prices. outputs: table slice_samples.
-- Items: at most max_seq_len per basket, the highest-spend ones, ordered by spend descending then
-- product code ascending; the list columns are aligned position by position.
create or replace table slice_samples as
with
slice_items as (
    select
        i.basket_id,
        i.product_idx,
        i.quantity,
        i.spend,
        i.unit_price,
        p.prior_price,
        p.base_price,
        p.category_avg_price,
        row_number() over (partition by i.basket_id order by i.spend desc, i.product_code) as position
    from items as i
    left join item_prices as p using (product_idx, store_idx, week)
    where i.week between getvariable('slice_first') and getvariable('slice_last')
),

lists as (
    select
        basket_id,
        list(product_idx order by position) as product_idx,
        list(quantity order by position) as quantity,
        list(spend order by position) as spend,
        list(unit_price order by position) as unit_price,
        list(prior_price order by position) as prior_price,
        list(base_price order by position) as base_price,
        list(category_avg_price order by position) as category_avg_price
    from slice_items
    where position <= getvariable('max_seq_len')
    group by basket_id
)

select
    b.basket_id, b.customer_id, b.customer_idx, b.store_id, b.store_idx, b.shop_week, b.week,
    b.shop_date, b.shop_weekday, b.shop_hour, b.customer_price_sensitivity, b.customer_lifestage,
    b.store_format, b.store_region, b.mission_type, b.dominant_mission,
    b.basket_price_sensitivity, b.basket_size, b.n_products, b.seq_len, b.history_length,
    b.days_since_prev_basket, b.is_first_basket, b.is_unseen_in_train, b.is_anonymous,
    b.n_items, b.spend_total,
    l.product_idx, l.quantity, l.spend, l.unit_price, l.prior_price, l.base_price,
    l.category_avg_price,
    b.split, b.bucket
from baskets as b
join lists as l using (basket_id)
where b.split is not null
    and b.week between getvariable('slice_first') and getvariable('slice_last');
