//! mosx-spec (skeleton; being written)
