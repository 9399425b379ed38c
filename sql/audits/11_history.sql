-- check: the purchase history of audited baskets (every known-customer basket that shares its
--        date and hour with another of the customer's baskets, then a hashed sample, at most
--        history_audit_baskets) read from the `history` event log by the as-of rule equals a
--        brute-force recount from `items`: only products of strictly earlier (date, hour)
--        baskets, the right counts, decayed counts, last purchase and ranks, top history_k
-- checked: history_audited
-- The as-of rule: per product, the customer's last event with shop_ts < the basket's shop_ts
-- (hours since calendar.origin_date), i.e. shop_ts < t <= next_shop_ts; rank by decayed count,
-- then count, then product index.
-- Near-ties: decayed counts summed in another order may differ in the last bits, so a rank is
-- wrong only when the two products' recounted decayed counts differ by more than 1e-9 relative.
create or replace temp view history_audited as
with
baskets as (
    select
        basket_id,
        customer_idx,
        ((shop_date - getvariable('origin_date')) * 24 + shop_hour)::integer as shop_ts,
        count(*) over (partition by customer_idx, shop_date, shop_hour) > 1 as shares_hour
    from samples
    where customer_idx > 0
)

select basket_id, customer_idx, shop_ts, shares_hour
from baskets
order by shares_hour desc, hash(basket_id), basket_id
limit getvariable('history_audit_baskets');

with
audited as (select basket_id, customer_idx, shop_ts from history_audited),

as_of as (
    -- the contract: per (basket, product) the last event strictly before the basket's hour
    select
        a.basket_id,
        h.product_idx,
        h.cum_baskets as n_baskets,
        h.cum_decay * pow(getvariable('history_decay'), a.shop_ts / 168.0) as decayed,
        h.cum_short_decay * pow(getvariable('history_short_decay'), a.shop_ts / 168.0) as short_decayed,
        h.shop_ts as last_ts,
        row_number() over (
            partition by a.basket_id order by h.cum_decay desc, h.cum_baskets desc, h.product_idx
        ) as rank
    from audited as a
    join history as h
        on h.customer_idx = a.customer_idx
        and h.shop_ts < a.shop_ts
        and (h.next_shop_ts is null or h.next_shop_ts >= a.shop_ts)
),

contract as (select * from as_of where rank <= getvariable('history_k')),

item_hours as (
    select customer_idx, product_idx, ((shop_date - getvariable('origin_date')) * 24 + shop_hour)::integer as shop_ts
    from items
    where customer_idx in (select customer_idx from audited)
),

recount as (
    -- brute force: every item of the customer in a strictly earlier (date, hour); items hold one
    -- row per (basket, product), so count(*) counts baskets
    select
        a.basket_id,
        i.product_idx,
        count(*) as n_baskets,
        sum(pow(getvariable('history_decay'), (a.shop_ts - i.shop_ts) / 168.0)) as decayed,
        sum(pow(getvariable('history_short_decay'), (a.shop_ts - i.shop_ts) / 168.0)) as short_decayed,
        max(i.shop_ts) as last_ts
    from audited as a
    join item_hours as i on i.customer_idx = a.customer_idx and i.shop_ts < a.shop_ts
    group by a.basket_id, i.product_idx
),

recount_ranked as (
    select
        *,
        row_number() over (partition by basket_id order by decayed desc, n_baskets desc, product_idx) as rank,
        count(*) over (partition by basket_id) as n_products
    from recount
),

expected_lengths as (
    select a.basket_id, least(coalesce(max(r.n_products), 0), getvariable('history_k')) as expected
    from audited as a
    left join recount_ranked as r using (basket_id)
    group by a.basket_id
),

per_product as (
    select
        c.basket_id,
        c.product_idx,
        c.rank,
        case
            when r.basket_id is null then 'not_strictly_earlier'
            when c.n_baskets <> r.n_baskets then 'wrong_count'
            when abs(c.decayed - r.decayed) > 1e-9 * (1 + r.decayed)
                or abs(c.short_decayed - r.short_decayed) > 1e-9 * (1 + r.short_decayed)
                then 'wrong_decayed_count'
            when c.last_ts <> r.last_ts then 'wrong_last_purchase'
        end as problem
    from contract as c
    left join recount as r using (basket_id, product_idx)
),

per_rank as (
    -- the product at each rank against the recount's product at that rank
    select c.basket_id, c.product_idx, c.rank, 'wrong_rank' as problem
    from contract as c
    join recount_ranked as r using (basket_id, rank)
    join recount as mine on mine.basket_id = c.basket_id and mine.product_idx = c.product_idx
    where c.product_idx <> r.product_idx
        and (abs(mine.decayed - r.decayed) > 1e-9 * (1 + r.decayed) or mine.n_baskets <> r.n_baskets)
),

per_basket as (
    select e.basket_id, null::integer as product_idx, count(c.product_idx) as rank, 'wrong_length' as problem
    from expected_lengths as e
    left join contract as c using (basket_id)
    group by e.basket_id, e.expected
    having count(c.product_idx) <> e.expected
),

final as (
    select basket_id, product_idx, rank, problem from per_product where problem is not null
    union all
    select basket_id, product_idx, rank, problem from per_rank
    union all
    select basket_id, product_idx, rank, problem from per_basket
)

select basket_id, product_idx, rank, problem from final order by basket_id, rank;
