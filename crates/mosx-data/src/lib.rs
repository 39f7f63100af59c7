//! mosx-data (skeleton; being written)
