//! mosx-report (skeleton; being written)
