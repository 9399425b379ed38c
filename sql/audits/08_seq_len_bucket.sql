-- check: seq_len = min(n_products, max_seq_len) = the length of every list column, and the
--        bucket matches the configured edges (bucket k holds seq_len in (edge k-1, edge k])
-- checked: samples
select basket_id, n_products, seq_len, bucket, len(product_idx) as n_listed
from samples
where seq_len <> least(n_products, getvariable('max_seq_len'))
    or seq_len < 1
    or len(product_idx) <> seq_len or len(quantity) <> seq_len or len(spend) <> seq_len
    or len(unit_price) <> seq_len or len(prior_price) <> seq_len or len(base_price) <> seq_len
    or len(category_avg_price) <> seq_len
    or bucket <> len(list_filter(getvariable('bucket_edges'), lambda e: e < seq_len)) + 1
    or seq_len > getvariable('bucket_edges')[bucket];
