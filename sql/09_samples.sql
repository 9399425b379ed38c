-- 09_samples: the training samples of one slice of weeks (list() cannot spill to disk, so
-- prepare.py runs this slice by slice to bound memory).
-- grain: one row per kept basket, weeks getvariable('slice_first')..getvariable('slice_last')
--        (baskets outside the splits have split NULL: 10 writes no file of them).
-- inputs: baskets (08), items (07). outputs: table scratch.slice_samples (the in-memory database
--          prepare.py attaches, so that 10's writers, each its own connection, read it); table
--          basket_sets (appended slice by slice): every kept basket's input lines and product set
--          (size, sum and xor of the 64-bit hashes of its product ids), which
--          sql/quality/weekly_profile.sql compares, computed in the grouping that builds the lists.
-- Items: at most max_seq_len per basket, the highest-spend ones, ordered by spend descending then
-- product code ascending (product_idx is in code order); the list columns are aligned position
-- by position. items is appended by week slices, so the week filter reads only the row groups of
-- this slice.
-- How: one list per column (the list() aggregates of one group see its rows in the same order, so
-- the lists are aligned), then the positions that sort (-spend, product_idx) (list_grade_up; the
-- pair is unique in a basket) pick the first max_seq_len of every list. Lists of plain values
-- cost a fraction of one list of structs.
create or replace table scratch.slice_samples as
with
slice_items as (
    select
        basket_id, product_idx, quantity, spend, unit_price, prior_price, base_price,
        category_avg_price, n_lines
    from items
    where week between getvariable('slice_first') and getvariable('slice_last')
),

lists as (
    select
        basket_id,
        list(product_idx) as product_idx,
        list(quantity) as quantity,
        list(spend) as spend,
        list(unit_price) as unit_price,
        list(prior_price) as prior_price,
        list(base_price) as base_price,
        list(category_avg_price) as category_avg_price,
        sum(n_lines)::bigint as lines,
        sum(product_idx)::bigint as product_sum,
        bit_xor(hash(product_idx)) as product_hash
    from slice_items
    group by basket_id
),

ordered as (
    select
        basket_id,
        list_grade_up(list_zip(list_transform(spend, lambda s: -s), product_idx))
            [1:getvariable('max_seq_len')] as top,
        product_idx, quantity, spend, unit_price, prior_price, base_price, category_avg_price,
        lines, product_sum, product_hash
    from lists
)

select
    b.basket_id, b.customer_id, b.customer_idx, b.store_id, b.store_idx, b.shop_week, b.week,
    b.shop_date, b.shop_weekday, b.shop_hour, b.customer_price_sensitivity, b.customer_lifestage,
    b.store_format, b.store_region, b.mission_type, b.dominant_mission,
    b.basket_price_sensitivity, b.basket_size, b.n_products, b.seq_len, b.history_length,
    b.days_since_prev_basket, b.is_first_basket, b.is_unseen_in_train, b.is_anonymous,
    b.n_items, b.spend_total,
    list_select(o.product_idx, o.top) as product_idx,
    list_select(o.quantity, o.top) as quantity,
    list_select(o.spend, o.top) as spend,
    list_select(o.unit_price, o.top) as unit_price,
    list_select(o.prior_price, o.top) as prior_price,
    list_select(o.base_price, o.top) as base_price,
    list_select(o.category_avg_price, o.top) as category_avg_price,
    b.split, b.bucket, o.lines, o.product_sum, o.product_hash
from baskets as b
join ordered as o using (basket_id)
where b.week between getvariable('slice_first') and getvariable('slice_last');

-- the product set of every kept basket, slice by slice: what sql/quality/weekly_profile.sql reads
create table if not exists basket_sets (
    basket_id bigint, week integer, shop_date date, shop_hour integer, customer_idx integer,
    lines bigint, n_products integer, product_sum bigint, product_hash ubigint
);

insert into basket_sets
select basket_id, week, shop_date, shop_hour, customer_idx, lines, n_products, product_sum, product_hash
from scratch.slice_samples;
