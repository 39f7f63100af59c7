//! Errors of the model layer; each message names the file and, where there is one,
//! the tensor or config field at fault.
//!
//! The tch-free errors (files, tensors, config fields) are `mosx_config::CheckpointError`,
//! wrapped here transparently (its messages are this type's), beside tch's own.

pub use mosx_config::CheckpointError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_checkpoint_error_keeps_its_message() {
        let e = CheckpointError::Config {
            path: "m/config.json".into(),
            field: "model_type".into(),
            message: "missing".into(),
        };
        let want = e.to_string();
        assert_eq!(want, "m/config.json: config field `model_type`: missing");
        assert_eq!(ModelError::from(e).to_string(), want);
    }
}
