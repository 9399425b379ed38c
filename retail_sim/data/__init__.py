"""The loader: T1–T6 encoders, masking, sharding, datasets and data loaders."""
