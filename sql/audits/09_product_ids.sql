-- check: every product_idx of a sample is a product of the vocab; no special id (PAD/UNK/MASK)
--        is used as a product; no product twice in a basket
-- checked: sample_items
select k.basket_id, k.position, k.product_idx, 'not a vocab product' as problem
from sample_items as k
left join products as p using (product_idx)
where p.product_idx is null or k.product_idx < getvariable('first_product_idx')
union all
select basket_id, null, product_idx, 'repeated in basket'
from sample_items
group by basket_id, product_idx
having count(*) > 1;
