//! mosx-fairness (skeleton; being written)
