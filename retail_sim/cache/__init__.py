"""The tensor cache: static tables the T1–T6 encoders look up, fitted on the training weeks only.

`build.build_cache` writes `<prepared>/tensor_cache/`; `tensor_cache.TensorCache` memory-maps it.
"""
