-- grain: one row per unordered product pair (product_a < product_b) bought together in a basket
--        of the week slice [slice_first, slice_last], plus one row with product_a = product_b = 0
--        whose n_baskets is the number of baskets in the slice
-- inputs: view `items` (<prepared>/items); variables slice_first, slice_last
-- outputs: product_a, product_b, n_baskets (baskets of the slice holding both)
-- a basket lies in one week, so the counts of consecutive slices add up to those of their union:
-- sqlfiles.copurchase_pairs sums them over the slices of a week range and keeps the pairs of at
-- least `min_baskets` baskets; a slice's self-join stays in memory at any input size.
-- used for the co-purchase edges over the training weeks (min_baskets = graph.min_cooccurrence),
-- the held-out positives over the validation weeks and evaluate's co_purchase baseline
with basket_items as (
    select distinct basket_id, product_idx
    from items
    where week between getvariable('slice_first') and getvariable('slice_last')
),

pairs as (
    select a.product_idx as product_a, b.product_idx as product_b, count(*) as n_baskets
    from basket_items as a
    inner join basket_items as b
        on a.basket_id = b.basket_id and a.product_idx < b.product_idx
    group by a.product_idx, b.product_idx
),

basket_total as (
    select 0 as product_a, 0 as product_b, count(distinct basket_id) as n_baskets
    from basket_items
)

select product_a, product_b, n_baskets from pairs
union all
select product_a, product_b, n_baskets from basket_total
