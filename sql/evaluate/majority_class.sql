-- majority_class: the majority-class predictor of the auxiliary tasks, shown in the popularity row
-- of `retail-sim evaluate`.
-- grain: one row per basket attribute column of an auxiliary task (retail_sim/data/codes.py
--        AUXILIARY_CODES) that has a label in the training split
-- inputs: view samples (sql/prepared_views.sql)
-- outputs: label_column, label (its most frequent value among the training baskets, NULL left out;
--          ties go to the lower label), n_baskets
with training_labels as (
    unpivot (
        select mission_type, dominant_mission, basket_price_sensitivity, basket_size
        from samples
        where split = 'train'
    )
    on mission_type, dominant_mission, basket_price_sensitivity, basket_size
    into name label_column value label
),

counts as (
    select label_column, label, count(*) as n_baskets
    from training_labels
    where label is not null
    group by label_column, label
),

final as (
    select label_column, label, n_baskets
    from counts
    qualify row_number() over (partition by label_column order by n_baskets desc, label) = 1
)

select label_column, label, n_baskets from final order by label_column
