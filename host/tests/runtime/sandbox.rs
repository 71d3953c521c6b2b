//! WASI gives a plugin clocks and random numbers only.

use serde_json::json;

use crate::harness::Host;

#[tokio::test]
async fn files_sockets_environment_and_arguments_are_absent() {
    // The host process itself has environment variables a leaky sandbox would show.
    assert!(std::env::vars().count() > 0);
    let host = Host::new().with_chaos();
    host.chaos("probe", json!({"mode": "wasi"})).await.unwrap();
    let seen = host.config_map("probe-wasi").expect("the probe reported")["data"].clone();
    assert!(seen["file"].as_str().unwrap().starts_with("error"), "read /etc/passwd: {seen}");
    assert!(seen["cwd"].as_str().unwrap().starts_with("error"), "listed the working directory: {seen}");
    assert_eq!(seen["env"], "0", "saw environment variables: {seen}");
    assert_eq!(seen["args"], "0", "saw arguments: {seen}");
    assert!(seen["socket"].as_str().unwrap().starts_with("error"), "opened a socket: {seen}");
    assert!(seen["spawn"].as_str().unwrap().starts_with("error"), "started a process: {seen}");
    assert_eq!(seen["clock"], "true", "clocks are allowed");
    host.assert_still_serving().await;
}
