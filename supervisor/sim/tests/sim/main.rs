//! Integration tests of both simulators over real HTTPS on 127.0.0.1:0: one binary, one
//! module per behaviour.

mod client;
mod concurrency;
mod faults;
mod harness;
mod nsx_dataplane;
mod nsx_dependencies;
mod nsx_ipam;
mod nsx_node;
mod nsx_objects;
mod nsx_paging;
mod persistence;
mod vcenter_session;
mod vcenter_vapi;
mod vcenter_vm;
mod vendor_clients;
mod world_linkage;
