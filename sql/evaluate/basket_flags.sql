-- basket_flags: which baskets of a split `retail-sim evaluate` reports as cold start.
-- grain: one row per basket of the split
-- inputs: view samples (sql/prepared_views.sql); variable split
-- outputs: basket_id, cold (is_unseen_in_train, NULL read as false), ordered by basket_id
with split_baskets as (
    select basket_id, is_unseen_in_train
    from samples
    where split = getvariable('split')
),

final as (
    select basket_id, coalesce(is_unseen_in_train, false) as cold
    from split_baskets
)

select basket_id, cold from final order by basket_id
