-- check: every kept basket whose week is in a split is in exactly one sample file row
-- checked: samples
with
sample_counts as (
    select basket_id, count(*) as n, string_agg(split || '/' || bucket, ',') as places
    from samples
    group by basket_id
),

expected as (
    select distinct basket_id
    from items
    where week between getvariable('train_first') and getvariable('train_last')
        or week between getvariable('validation_first') and getvariable('validation_last')
        or week between getvariable('test_first') and getvariable('test_last')
)

select basket_id, coalesce(s.n, 0) as times_in_samples, s.places
from expected as e
full join sample_counts as s using (basket_id)
where s.n is distinct from 1 or e.basket_id is null;
