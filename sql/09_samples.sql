-- 09_samples: the training samples of one slice of weeks (list() cannot spill to disk, so
-- prepare.py runs this slice by slice to bound memory).
-- grain: one row per basket in a split, weeks getvariable('slice_first')..getvariable('slice_last').
-- inputs: baskets (08), items (06), item_prices (07). outputs: table slice_samples.
-- Items: at most max_seq_len per basket, the highest-spend ones, ordered by spend descending then
-- product code ascending (product_idx is in code order); the list columns are aligned position
-- by position. items and item_prices are appended by week slices, so the week filters read only
-- the row groups of this slice.
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
        p.category_avg_price
    from items as i
    left join (
        select product_idx, store_idx, week, prior_price, base_price, category_avg_price
        from item_prices
        where week between getvariable('slice_first') and getvariable('slice_last')
    ) as p using (product_idx, store_idx, week)
    where i.week between getvariable('slice_first') and getvariable('slice_last')
),

ordered as (
    -- items sorted by spend descending then product (unique in a basket, so the order is total),
    -- cut to max_seq_len; list_sort over structs is cheaper than an ordered aggregate
    select
        basket_id,
        list_sort(list({
            'neg_spend': -spend, 'product_idx': product_idx,
            'quantity': quantity, 'spend': spend, 'unit_price': unit_price, 'prior_price': prior_price,
            'base_price': base_price, 'category_avg_price': category_avg_price
        }))[1:getvariable('max_seq_len')] as basket_items
    from slice_items
    group by basket_id
),

lists as (
    -- aligned list columns, position by position
    select
        basket_id,
        list_transform(basket_items, lambda x: x.product_idx) as product_idx,
        list_transform(basket_items, lambda x: x.quantity) as quantity,
        list_transform(basket_items, lambda x: x.spend) as spend,
        list_transform(basket_items, lambda x: x.unit_price) as unit_price,
        list_transform(basket_items, lambda x: x.prior_price) as prior_price,
        list_transform(basket_items, lambda x: x.base_price) as base_price,
        list_transform(basket_items, lambda x: x.category_avg_price) as category_avg_price
    from ordered
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
