//! `mosx-worker`: runs stages for the planner (skeleton; see the scale-out issue).
fn main() {}
