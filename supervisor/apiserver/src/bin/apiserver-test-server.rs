//! A bare server process for tests that must kill it (`kill -9`) and restart it.
//!
//! Usage: `apiserver-test-server DATA_DIR [LISTEN_ADDR [WATCH_WINDOW]]`. Prints `listening ADDR` on
//! stdout once ready, then serves until killed or until stdin closes. With
//! `APISERVER_COMMIT_DELAY_MS=N` every commit takes N ms longer, as on a slow disk.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: apiserver-test-server DATA_DIR [LISTEN_ADDR [WATCH_WINDOW]]");
        return std::process::ExitCode::from(2);
    };
    let listen: SocketAddr = match args.next().map(|a| a.parse()) {
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
        Some(Ok(addr)) => addr,
        Some(Err(error)) => {
            eprintln!("bad listen address: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut config = wasmvisor_apiserver::Config::new(dir).listen(listen);
    match args.next().map(|w| w.parse::<u64>()) {
        None => {}
        Some(Ok(window)) => config.watch_window = window,
        Some(Err(error)) => {
            eprintln!("bad watch window: {error}");
            return std::process::ExitCode::from(2);
        }
    }
    if let Some(ms) = std::env::var("APISERVER_COMMIT_DELAY_MS").ok().and_then(|v| v.parse().ok()) {
        config.commit_delay = std::time::Duration::from_millis(ms);
    }
    let running = match wasmvisor_apiserver::ApiServer::start(config).await {
        Ok(running) => running,
        Err(error) => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("apiserver-test-server: {text}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("listening {}", running.addr());
    // Serve until stdin closes (the parent went away) or we are killed.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    })
    .await;
    let _ = running.shutdown().await;
    std::process::ExitCode::SUCCESS
}
