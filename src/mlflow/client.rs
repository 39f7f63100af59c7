//! A small blocking client of MLflow's REST API 2.0 over plain HTTP (`ureq`, no TLS).
//!
//! Invariants:
//! * Every call names its endpoint; every failure is a typed [`MlflowError`] naming the
//!   server's URI: [`MlflowError::Unreachable`] when nothing answers, [`MlflowError::Api`]
//!   with MLflow's `error_code` when it answers with an error.
//! * Requests and answers are JSON (`serde_json::Value`); the shapes are built and read by
//!   the callers ([`super::runs`], [`super::push`]).

use std::time::Duration;

use serde_json::Value;

use super::error::MlflowError;

/// The longest an answer may be read (an artifact listing, a run).
const ANSWER_LIMIT: u64 = 64 << 20;

pub struct Client {
    /// The server's URI without a trailing `/`, e.g. `http://127.0.0.1:5000`.
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `uri` (`http://host:port`, optionally with a path prefix).
    pub fn new(uri: &str) -> Result<Client, MlflowError> {
        let base = uri.trim_end_matches('/').to_string();
        if !base.starts_with("http://") || base.len() == "http://".len() {
            return Err(MlflowError::Scheme {
                uri: uri.to_string(),
            });
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(300)))
            .build();
        Ok(Client {
            base,
            agent: ureq::Agent::new_with_config(config),
        })
    }

    pub fn uri(&self) -> &str {
        &self.base
    }

    /// `GET /api/2.0/mlflow/<endpoint>?<query>`.
    pub fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value, MlflowError> {
        let mut req = self
            .agent
            .get(format!("{}/api/2.0/mlflow/{endpoint}", self.base));
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        self.answer(endpoint, req.call())
    }

    /// `POST /api/2.0/mlflow/<endpoint>` with a JSON body.
    pub fn post(&self, endpoint: &str, body: &Value) -> Result<Value, MlflowError> {
        let res = self
            .agent
            .post(format!("{}/api/2.0/mlflow/{endpoint}", self.base))
            .header("Content-Type", "application/json")
            .send(body.to_string());
        self.answer(endpoint, res)
    }

    /// `PUT /api/2.0/mlflow-artifacts/artifacts/<path>`: upload one file through the
    /// server's artifact proxy (`path` is `<experiment>/<run>/artifacts/<file>`).
    pub fn put_artifact(&self, path: &str, bytes: &[u8]) -> Result<(), MlflowError> {
        let endpoint = format!("mlflow-artifacts/artifacts/{path}");
        let res = self
            .agent
            .put(format!("{}/api/2.0/{endpoint}", self.base))
            .header("Content-Type", "application/octet-stream")
            .send(bytes);
        self.answer(&endpoint, res).map(|_| ())
    }

    /// The JSON answer of a 2xx response (an empty body reads as `{}`), else the error.
    fn answer(
        &self,
        endpoint: &str,
        res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, MlflowError> {
        let mut res = res.map_err(|e| MlflowError::Unreachable {
            uri: self.base.clone(),
            endpoint: endpoint.to_string(),
            message: e.to_string(),
        })?;
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_to_string()
            .map_err(|e| MlflowError::Unreachable {
                uri: self.base.clone(),
                endpoint: endpoint.to_string(),
                message: format!("reading the answer: {e}"),
            })?;
        let json: Option<Value> = if text.trim().is_empty() {
            Some(Value::Object(Default::default()))
        } else {
            serde_json::from_str(&text).ok()
        };
        if (200..300).contains(&status) {
            return json.ok_or_else(|| MlflowError::Answer {
                uri: self.base.clone(),
                endpoint: endpoint.to_string(),
                message: format!("not JSON: {}", excerpt(&text)),
            });
        }
        let field = |k: &str| {
            json.as_ref()
                .and_then(|j| j.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Err(MlflowError::Api {
            uri: self.base.clone(),
            endpoint: endpoint.to_string(),
            status,
            code: field("error_code").unwrap_or_else(|| "-".into()),
            message: field("message").unwrap_or_else(|| excerpt(&text)),
        })
    }
}

/// The start of an answer that is not what was expected, for an error message.
fn excerpt(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

/// MLflow's error code of an API error (`RESOURCE_DOES_NOT_EXIST`, ...), if it is one.
pub fn api_code(e: &MlflowError) -> Option<&str> {
    match e {
        MlflowError::Api { code, .. } => Some(code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_uris_make_a_client() {
        assert!(Client::new("http://127.0.0.1:5000/").is_ok());
        assert_eq!(
            Client::new("http://127.0.0.1:5000/").unwrap().uri(),
            "http://127.0.0.1:5000"
        );
        for bad in ["https://mlflow.example", "127.0.0.1:5000", "http://"] {
            let e = Client::new(bad).err().unwrap();
            assert!(matches!(e, MlflowError::Scheme { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn a_closed_port_is_unreachable_naming_the_server() {
        // Bind a port, then close it: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let uri = format!("http://127.0.0.1:{port}");
        let e = Client::new(&uri)
            .unwrap()
            .get("experiments/get-by-name", &[("experiment_name", "x")])
            .unwrap_err();
        assert!(matches!(e, MlflowError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains(&uri), "{e}");
    }
}
