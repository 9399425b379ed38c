"""Special indices shared by the vocab, the tensor cache, the loader and the model."""

PAD_IDX = 0  # padding position (all-zero features)
UNK_IDX = 1  # a product code not in the vocab
MASK_IDX = 2  # a hidden item (masked-item prediction)
FIRST_PRODUCT_IDX = 3  # products are numbered from here in product-code order
ANONYMOUS_CUSTOMER_IDX = 0
UNKNOWN_STORE_IDX = 0
