//! The NSX Policy API calls ncp makes, as typed helpers over the host's
//! `nsx` interface: create-or-merge by id (PATCH), read, delete, and the
//! realized identifiers NSX reports for an intent.
//!
//! Every write names its object by a deterministic id (see [`crate::ids`]),
//! so a retry or a restart finds and finishes what an earlier attempt began
//! instead of making a twin.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasmvisor_sdk::{Endpoint, Error, Method};

/// Base of every Policy path.
pub const POLICY: &str = "/policy/api/v1";

/// A `{scope, tag}` pair on an NSX object.
pub type Tag = (String, String);

/// The Policy API through the host.
#[derive(Debug, Clone, Copy)]
pub struct Nsx(Endpoint);

impl Nsx {
    /// The host's NSX endpoint.
    pub fn new(endpoint: Endpoint) -> Self {
        Self(endpoint)
    }

    /// Creates the object at `path` (an `/infra/...` intent path) or merges
    /// `body` into it, with `tags`.
    pub fn patch(&self, path: &str, mut body: Value, tags: &[Tag]) -> Result<(), Error> {
        body["tags"] =
            tags.iter().map(|(scope, tag)| serde_json::json!({"scope": scope, "tag": tag})).collect();
        self.0.send(Method::Patch, &format!("{POLICY}{path}"), &body)?;
        Ok(())
    }

    /// Reads the object at `path`; `None` when NSX does not have it.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, Error> {
        match self.0.get(&format!("{POLICY}{path}")) {
            Ok(object) => Ok(Some(object)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the object at `path`; one already gone is not an error.
    pub fn delete(&self, path: &str) -> Result<(), Error> {
        match self.0.request(Method::Delete, &format!("{POLICY}{path}"), None) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The ids of the objects listed under `collection` whose tags include
    /// `tag`, e.g. the virtual servers of one Service.
    pub fn ids_tagged(&self, collection: &str, tag: &Tag) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            results: Vec<Listed>,
            cursor: Option<String>,
        }
        #[derive(Deserialize)]
        struct Listed {
            id: String,
            #[serde(default)]
            tags: Vec<TagBody>,
        }
        #[derive(Deserialize)]
        struct TagBody {
            #[serde(default)]
            scope: String,
            #[serde(default)]
            tag: String,
        }
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = cursor.as_deref().map(|c| format!("?cursor={c}")).unwrap_or_default();
            let Some(page) = self.get::<Page>(&format!("{collection}{query}"))? else { return Ok(ids) };
            ids.extend(
                page.results
                    .into_iter()
                    .filter(|o| o.tags.iter().any(|t| t.scope == tag.0 && t.tag == tag.1))
                    .map(|o| o.id),
            );
            match page.cursor {
                Some(next) if !next.is_empty() && !next.starts_with("0000") => cursor = Some(next),
                _ => return Ok(ids),
            }
        }
    }

    /// The realization-specific identifier NSX reports for an intent (the
    /// logical switch UUID of a segment, the logical port UUID of a port);
    /// `None` until it is realized.
    pub fn realized_id(&self, intent_path: &str) -> Result<Option<String>, Error> {
        #[derive(Deserialize)]
        struct Entities {
            #[serde(default)]
            results: Vec<Entity>,
        }
        #[derive(Deserialize)]
        struct Entity {
            #[serde(default)]
            state: String,
            realization_specific_identifier: Option<String>,
        }
        let path = format!("/infra/realized-state/realized-entities?intent_path={intent_path}");
        let Some(entities) = self.get::<Entities>(&path)? else { return Ok(None) };
        Ok(entities
            .results
            .into_iter()
            .find(|e| e.state == "REALIZED")
            .and_then(|e| e.realization_specific_identifier))
    }
}
