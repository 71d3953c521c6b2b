//! The guests component against a real Supervisor API server (the embedded one, with the
//! chain's CRDs), checked over HTTPS with the real kubectl through the kubeconfig Secret it
//! publishes. One test binary, one module per concern.

mod lifecycle;
mod support;
