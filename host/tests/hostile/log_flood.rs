//! A log flood across calls: each call stays under the per-call cap, but a
//! plugin that comes back at once and logs its maximum every time is held
//! to its log rate, and what it loses is counted.

use std::time::{Duration, Instant};

use serde_json::json;
use wasmvisor_host::capability::log::rate::LogRateLimits;
use wasmvisor_host::metrics::PluginName;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_plugins::testing::CHAOS;

use crate::fixture::Host;

#[tokio::test]
async fn a_plugin_logging_its_maximum_every_call_is_held_to_its_rate() {
    let rate = LogRateLimits {
        lines_per_second: 50,
        bytes_per_second: 1 << 20,
        burst: Duration::from_secs(1),
        report_every: Duration::ZERO,
    };
    let output = OutputLimits { log_rate: rate, ..OutputLimits::default() };
    let host = Host::with(output, &[(CHAOS.bytes, CHAOS.file)]);
    let calls = 10;
    let started = Instant::now();
    for i in 0..calls {
        // 100 lines: exactly the per-call cap, so none is dropped per call.
        host.reconcile("chaos", "chaos", &format!("flood-{i}"), json!({"mode": "flood", "lines": "100"}))
            .await
            .expect("each call is within its own cap");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let dropped =
        host.runtime.metrics().log_lines_dropped.get_or_create(&PluginName { plugin: "chaos".into() }).get();
    // At most the burst and what the rate refilled while the calls ran got through.
    let admitted_at_most = 50.0 + 50.0 * elapsed;
    assert!(
        dropped as f64 >= calls as f64 * 100.0 - admitted_at_most,
        "{dropped} of {} lines dropped in {elapsed:.2}s",
        calls * 100
    );
    host.assert_responsive().await;
}
