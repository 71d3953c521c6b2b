//! `wasmvisor_endpoint_retries_total{endpoint,reason}`: how often the host
//! tried NSX or vCenter again, and why. A retry that then succeeds reaches
//! the plugin as a plain success, so this is where an operator sees how
//! flaky an endpoint is before plugins see any of it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::http::{RawResponse, SendError};

/// Labels of one retry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RetryLabels {
    /// `nsx` or `vcenter`.
    pub endpoint: &'static str,
    /// The answer's status (`503`, `429`, …), or `connect`, `connection`,
    /// `timeout` when there was none.
    pub reason: String,
}

/// The endpoint clients' metrics, shared by every client of one host.
#[derive(Debug, Clone, Default)]
pub struct EndpointMetrics {
    /// Retries by endpoint and reason.
    pub retries: Family<RetryLabels, Counter>,
}

impl EndpointMetrics {
    /// Registers every family in `registry` under the `wasmvisor` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("wasmvisor");
        r.register(
            "endpoint_retries",
            "NSX and vCenter requests tried again, by reason",
            self.retries.clone(),
        );
    }

    /// Where the client of `endpoint` counts its retries.
    pub fn retries_of(&self, endpoint: &'static str) -> RetryCounter {
        RetryCounter { family: self.retries.clone(), endpoint }
    }
}

/// One client's retry count.
#[derive(Debug, Clone)]
pub struct RetryCounter {
    family: Family<RetryLabels, Counter>,
    endpoint: &'static str,
}

impl RetryCounter {
    /// Counts a retry after `outcome`.
    pub(crate) fn count(&self, outcome: &Result<RawResponse, SendError>) {
        let reason = match outcome {
            Ok(response) => response.status.as_str().to_owned(),
            Err(SendError::Connect(_)) => "connect".to_owned(),
            Err(SendError::Connection(_)) => "connection".to_owned(),
            Err(SendError::Timeout(_)) => "timeout".to_owned(),
            Err(SendError::Request(_)) => "request".to_owned(),
        };
        self.family.get_or_create(&RetryLabels { endpoint: self.endpoint, reason }).inc();
    }
}
