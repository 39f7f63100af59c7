//! Errors of the MLflow export, each naming the server, the run (by its stage) and the
//! item that failed.

use mosx_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// Only plain HTTP is built in (no TLS).
    #[error("MLflow server `{uri}`: only http:// URIs are supported (this build has no TLS)")]
    Scheme { uri: String },
    /// No answer at all: connection refused, timed out, DNS.
    #[error("MLflow server `{uri}` is unreachable ({endpoint}): {message}")]
    Unreachable {
        uri: String,
        endpoint: String,
        message: String,
    },
    /// The server answered with an error (MLflow's `error_code` and `message`).
    #[error("MLflow server `{uri}`: {endpoint} failed with HTTP {status} {code}: {message}")]
    Api {
        uri: String,
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },
    /// The server answered 2xx with something that is not what the API documents.
    #[error("MLflow server `{uri}`: {endpoint} answered unexpectedly: {message}")]
    Answer {
        uri: String,
        endpoint: String,
        message: String,
    },
    /// The experiment named after the spec exists but is deleted.
    #[error("MLflow experiment `{name}` on `{uri}` is deleted: restore it (`mlflow experiments restore`) or rename the spec")]
    DeletedExperiment { uri: String, name: String },
    /// More than one run carries a stage's key tag: the export cannot tell which to update.
    #[error("stage `{stage}`: {count} MLflow runs in experiment `{experiment}` carry tag {tag}={key} ({runs}); delete all but one")]
    DuplicateRuns {
        stage: String,
        experiment: String,
        tag: String,
        key: String,
        count: usize,
        runs: String,
    },
    /// The server stores artifacts elsewhere than behind its proxy.
    #[error("run of stage `{stage}`: its artifact location `{artifact_uri}` is not served by the tracking server; start it with `mlflow server --serve-artifacts`")]
    NotProxied { stage: String, artifact_uri: String },
    /// One item (params, metrics, an artifact, ...) of a stage's run failed.
    #[error("run of stage `{stage}`, {item}: {source}")]
    Item {
        stage: String,
        item: String,
        #[source]
        source: Box<MlflowError>,
    },
    /// A stored artifact of a stage that cannot be read as what it is declared to be.
    #[error("stage `{stage}`, artifact `{artifact}`: {message}")]
    Artifact {
        stage: String,
        artifact: String,
        message: String,
    },
    #[error("reading report `{path}`: {source}")]
    Report {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MlflowError {
    /// This error, as the failure of `item` of the run of `stage`.
    pub fn at(self, stage: &str, item: impl Into<String>) -> MlflowError {
        MlflowError::Item {
            stage: stage.to_string(),
            item: item.into(),
            source: Box::new(self),
        }
    }
}
