//! mosx-store (skeleton; being written)
