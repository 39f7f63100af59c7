//! Inputs of running stages, read from the store and decoded once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mosx_store::Store;

use crate::artifact::{ArtifactSource, Decoder, Shared};

pub struct StoreSource {
    store: Arc<dyn Store>,
    memo: Mutex<HashMap<(String, String), Shared>>,
}

impl StoreSource {
    pub fn new(store: Arc<dyn Store>) -> StoreSource {
        StoreSource {
            store,
            memo: Mutex::new(HashMap::new()),
        }
    }
}

impl ArtifactSource for StoreSource {
    fn load(&self, key: &str, artifact: &str, decode: Decoder<'_>) -> Result<Shared, String> {
        let id = (key.to_string(), artifact.to_string());
        if let Some(v) = self.memo.lock().map_err(|e| e.to_string())?.get(&id) {
            return Ok(v.clone());
        }
        let bytes = self
            .store
            .artifact(key, artifact)
            .map_err(|e| e.to_string())?;
        let v = decode(&bytes)?;
        self.memo
            .lock()
            .map_err(|e| e.to_string())?
            .insert(id, v.clone());
        Ok(v)
    }
}
