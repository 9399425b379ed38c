"""Widths of the T1–T6 tensors: a contract between the tensor cache (`retail-sim cache`), the
loader and the model, which separate commands build from separate configs, so they are fixed here
rather than settings (a width set in one command's config could not keep the others in step)."""

PRODUCT_DIM = 256  # T2 and the cache's product embeddings (GraphSAGE output, imported tables)
SEGMENT_DIM = 64  # T1[0:64]: segment embedding
HISTORY_DIM = 96  # T1[64:160]: customer history (PCA of product embeddings)
AFFINITY_DIM = 32  # T1[160:192]: customer affinity (cache/customer_state.py AFFINITY_COLUMNS)
CUSTOMER_DIM = SEGMENT_DIM + HISTORY_DIM + AFFINITY_DIM  # T1: 192
STATE_DIM = HISTORY_DIM + AFFINITY_DIM  # one customer-state row: 128
TEMPORAL_DIM = 64  # T3
PRICE_DIM = 64  # T4
STORE_DIM = 96  # T5 and the cache's store embeddings
TRIP_DIM = 48  # T6: mission type 16 ‖ dominant mission 16 ‖ price sensitivity 8 ‖ size 8
