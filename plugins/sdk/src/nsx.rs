//! NSX and vCenter through the host (`wasmvisor:plugin/nsx`, `/vcenter`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::wasmvisor::plugin::types::{HttpRequest, Method as WitMethod};
use crate::bindings::wasmvisor::plugin::{nsx, vcenter};

pub use crate::bindings::wasmvisor::plugin::types::HttpResponse;

/// HTTP methods.
pub type Method = WitMethod;

/// One of the host's HTTP endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// NSX Policy API.
    Nsx,
    /// vCenter REST API.
    Vcenter,
}

impl Endpoint {
    /// Sends one request; non-2xx answers arrive as typed errors.
    pub fn request(&self, method: Method, path: &str, body: Option<String>) -> Result<HttpResponse, Error> {
        let req = HttpRequest { method, path: path.to_owned(), body };
        Ok(match self {
            Endpoint::Nsx => nsx::request(&req)?,
            Endpoint::Vcenter => vcenter::request(&req)?,
        })
    }

    /// `GET path`, decoded.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let response = self.request(Method::Get, path, None)?;
        Ok(serde_json::from_str(&response.body)?)
    }

    /// `method path` with a JSON body; returns the raw response.
    pub fn send<B: Serialize>(&self, method: Method, path: &str, body: &B) -> Result<HttpResponse, Error> {
        self.request(method, path, Some(serde_json::to_string(body)?))
    }
}
