-- check: every sample's week lies inside its split's configured week range
-- checked: samples
select basket_id, split, week
from samples
where not (
    (split = 'train' and week between getvariable('train_first') and getvariable('train_last'))
    or (split = 'validation' and week between getvariable('validation_first') and getvariable('validation_last'))
    or (split = 'test' and week between getvariable('test_first') and getvariable('test_last'))
);
