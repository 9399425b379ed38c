-- check: is_anonymous, is_first_basket and is_unseen_in_train agree with a recount (unseen = no
--        basket of the customer in the train split at a strictly earlier date and hour)
-- checked: samples
with
train_slots as (
    select customer_idx, shop_date, shop_hour, count(*) as n
    from samples
    where customer_idx <> 0 and split = 'train'
    group by all
),

flags as (
    select
        s.basket_id,
        s.customer_idx = 0 as anonymous,
        s.customer_idx <> 0 and s.history_length = 0 as first_basket,
        s.customer_idx = 0 or not exists (
            select 1 from train_slots as t
            where t.customer_idx = s.customer_idx
                and (t.shop_date < s.shop_date or (t.shop_date = s.shop_date and t.shop_hour < s.shop_hour))
        ) as unseen
    from samples as s
)

select s.basket_id, s.is_anonymous, s.is_first_basket, s.is_unseen_in_train,
    f.anonymous, f.first_basket, f.unseen
from samples as s
join flags as f using (basket_id)
where s.is_anonymous <> f.anonymous
    or s.is_first_basket <> f.first_basket
    or s.is_unseen_in_train <> f.unseen
    or (s.customer_id is null) <> s.is_anonymous;
