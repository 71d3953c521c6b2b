//! The NSX data plane over real TCP: a virtual server created through the Policy API is
//! a listener on VIP:port that forwards round robin to its pool's members, skips members
//! that refuse, follows pool and virtual server changes, and is back after a restart.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::harness::{POLICY, config, eventually, nsx_client, nsx_patch, start_nsx, tier1};

const DEADLINE: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP server on `127.0.0.1:0` that answers every connection with its name, then closes.
struct Member {
    name: &'static str,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Member {
    async fn start(name: &'static str) -> Result<Member> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = stream.write_all(name.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Ok(Member { name, addr, task })
    }

    fn json(&self) -> Value {
        json!({"ip_address": self.addr.ip().to_string(), "port": self.addr.port().to_string()})
    }

    /// Stops listening: connections to it are refused from now on.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A VIP on an address of 127.171.0.0/16 no other test of this run uses, and a port
/// free on it (and the next one, for ranges).
async fn free_vip(test: u8) -> Result<SocketAddr> {
    let run = u8::try_from(std::process::id() % 250).unwrap_or(0) + 1;
    let ip = IpAddr::V4(Ipv4Addr::new(127, 171, run, test));
    let probe = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
    let addr = probe.local_addr()?;
    Ok(if addr.port() == u16::MAX { SocketAddr::new(ip, addr.port() - 1) } else { addr })
}

/// Connects to `addr` and reads all it says: the answering member's name, or `""` when
/// the connection was closed without an answer. `Err` when it cannot connect.
async fn ask(addr: SocketAddr) -> Result<String, String> {
    let mut stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let mut answer = String::new();
    match tokio::time::timeout(IO_TIMEOUT, stream.read_to_string(&mut answer)).await {
        Err(_) => Err(format!("no answer from {addr} within {IO_TIMEOUT:?}")),
        // A reset instead of a close also means "closed without an answer".
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(String::new()),
        Ok(Err(e)) => Err(format!("reading from {addr}: {e}")),
        Ok(Ok(_)) => Ok(answer),
    }
}

/// Polls until connecting to `addr` is refused.
async fn until_refused(addr: SocketAddr) -> Result<()> {
    eventually(DEADLINE, || async move {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(()),
            Err(e) => Err(format!("connect failed, but not refused: {e}")),
            Ok(_) => Err(format!("{addr} still accepts connections")),
        }
    })
    .await
}

/// Polls until a connection to `addr` is answered with `want`.
async fn until_answer(addr: SocketAddr, want: &str) -> Result<()> {
    eventually(DEADLINE, || async move {
        match ask(addr).await? {
            got if got == want => Ok(()),
            got => Err(format!("answered {got:?}, want {want:?}")),
        }
    })
    .await
}

/// An LB service on Tier-1 `t1`, pool `pool` with `members` and virtual server `vs` on
/// `vip` (its `ports` as given).
async fn load_balancer(nsx: &Client, vip: SocketAddr, ports: Value, members: Value) -> Result<()> {
    tier1(nsx, "t1").await?;
    nsx_patch(nsx, "/infra/lb-services/lbs", json!({"connectivity_path": "/infra/tier-1s/t1"})).await?;
    nsx_patch(nsx, "/infra/lb-pools/pool", json!({"members": members})).await?;
    nsx_patch(
        nsx,
        "/infra/lb-virtual-servers/vs",
        json!({
            "ip_address": vip.ip().to_string(), "ports": ports,
            "lb_service_path": "/infra/lb-services/lbs", "pool_path": "/infra/lb-pools/pool",
            "application_profile_path": "/infra/lb-app-profiles/default-tcp-lb-app-profile",
        }),
    )
    .await
}

#[tokio::test]
async fn virtual_server_forwards_round_robin_and_follows_changes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let (a, b, c) = (Member::start("a").await?, Member::start("b").await?, Member::start("c").await?);
    let vip = free_vip(1).await?;
    load_balancer(&nsx, vip, json!([vip.port().to_string()]), json!([a.json(), b.json()])).await?;

    // Both members answer, alternately.
    eventually(DEADLINE, || async move { ask(vip).await.map(|_| ()) }).await?;
    let mut seen = BTreeMap::<String, usize>::new();
    for _ in 0..6 {
        *seen.entry(ask(vip).await.map_err(anyhow::Error::msg)?).or_default() += 1;
    }
    assert_eq!(seen, BTreeMap::from([("a".into(), 3), ("b".into(), 3)]), "round robin");

    // A member that refuses is skipped.
    let a_json = a.json();
    a.stop().await;
    for _ in 0..4 {
        assert_eq!(ask(vip).await.map_err(anyhow::Error::msg)?, b.name, "the stopped member is skipped");
    }

    // Only refusing members: the client connection is closed without an answer.
    nsx_patch(&nsx, "/infra/lb-pools/pool", json!({"members": [a_json]})).await?;
    until_answer(vip, "").await.context("pool of one stopped member")?;

    // A pool change reaches the next connection, without restarting anything.
    nsx_patch(&nsx, "/infra/lb-pools/pool", json!({"members": [c.json()]})).await?;
    until_answer(vip, c.name).await.context("pool changed to c")?;
    let mut disabled = b.json();
    disabled["admin_state"] = json!("DISABLED");
    nsx_patch(&nsx, "/infra/lb-pools/pool", json!({"members": [disabled, c.json()]})).await?;
    for _ in 0..4 {
        assert_eq!(ask(vip).await.map_err(anyhow::Error::msg)?, c.name, "a DISABLED member gets nothing");
    }

    // Disabled, enabled again, deleted.
    nsx_patch(&nsx, "/infra/lb-virtual-servers/vs", json!({"enabled": false})).await?;
    until_refused(vip).await.context("virtual server disabled")?;
    nsx_patch(&nsx, "/infra/lb-virtual-servers/vs", json!({"enabled": true})).await?;
    until_answer(vip, c.name).await.context("virtual server enabled again")?;
    nsx.delete(&format!("{POLICY}/infra/lb-virtual-servers/vs")).await?.expect(200);
    until_refused(vip).await.context("virtual server deleted")?;

    running.shutdown().await;
    b.stop().await;
    c.stop().await;
    Ok(())
}

#[tokio::test]
async fn port_ranges_and_member_ports_from_the_virtual_server() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let member = Member::start("m").await?;
    let vip = free_vip(2).await?;
    let next = SocketAddr::new(vip.ip(), vip.port() + 1);
    let range = format!("{}-{}", vip.port(), next.port());
    // No port on the member: default_pool_member_ports gives it.
    load_balancer(&nsx, vip, json!([range]), json!([{"ip_address": member.addr.ip().to_string()}])).await?;
    nsx_patch(
        &nsx,
        "/infra/lb-virtual-servers/vs",
        json!({"default_pool_member_ports": [member.addr.port().to_string()]}),
    )
    .await?;
    until_answer(vip, member.name).await?;
    until_answer(next, member.name).await.context("every port of the range listens")?;

    // Narrowing the range closes the port left out.
    nsx_patch(&nsx, "/infra/lb-virtual-servers/vs", json!({"ports": [vip.port().to_string()]})).await?;
    until_refused(next).await?;
    assert_eq!(ask(vip).await.map_err(anyhow::Error::msg)?, member.name);
    running.shutdown().await;
    member.stop().await;
    Ok(())
}

#[tokio::test]
async fn listeners_close_on_shutdown_and_come_back_after_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let member = Member::start("m").await?;
    let vip = free_vip(3).await?;
    load_balancer(&nsx, vip, json!([vip.port().to_string()]), json!([member.json()])).await?;
    until_answer(vip, member.name).await?;

    running.shutdown().await;
    let closed = TcpStream::connect(vip).await;
    assert!(closed.is_err(), "shutdown closes the listener: {closed:?}");

    // `start` returns once the stored virtual servers listen: no polling needed.
    let running = wasmvisor_sim::NsxSim::start(config(dir.path())).await?;
    assert_eq!(ask(vip).await.map_err(anyhow::Error::msg)?, member.name, "back after the restart");
    nsx_client(&running)?.get(&format!("{POLICY}/infra/lb-virtual-servers/vs")).await?.expect(200);
    running.shutdown().await;
    member.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_address_that_cannot_be_bound_fails_neither_the_request_nor_the_simulator() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let member = Member::start("m").await?;
    // 192.0.2.0/24 (TEST-NET-1) is not an address of this machine.
    let not_local: SocketAddr = "192.0.2.10:6443".parse()?;
    load_balancer(&nsx, not_local, json!(["6443"]), json!([member.json()])).await?;
    nsx.get(&format!("{POLICY}/infra/lb-virtual-servers/vs")).await?.expect(200);

    // An address in use by someone else: the request succeeds, the other listener is untouched.
    let squatter = TcpListener::bind(SocketAddr::new(free_vip(4).await?.ip(), 0)).await?;
    let taken = squatter.local_addr()?;
    nsx_patch(
        &nsx,
        "/infra/lb-virtual-servers/vs2",
        json!({
            "ip_address": taken.ip().to_string(), "ports": [taken.port().to_string()],
            "lb_service_path": "/infra/lb-services/lbs", "pool_path": "/infra/lb-pools/pool",
            "application_profile_path": "/infra/lb-app-profiles/default-tcp-lb-app-profile",
        }),
    )
    .await?;
    let accepted = tokio::time::timeout(IO_TIMEOUT, async {
        let _client = TcpStream::connect(taken).await?;
        squatter.accept().await
    })
    .await
    .context("the squatter still accepts")??;
    drop(accepted);

    // The simulator still serves, and a servable virtual server still works.
    let vip = free_vip(5).await?;
    nsx_patch(
        &nsx,
        "/infra/lb-virtual-servers/vs3",
        json!({
            "ip_address": vip.ip().to_string(), "ports": [vip.port().to_string()],
            "lb_service_path": "/infra/lb-services/lbs", "pool_path": "/infra/lb-pools/pool",
            "application_profile_path": "/infra/lb-app-profiles/default-tcp-lb-app-profile",
        }),
    )
    .await?;
    until_answer(vip, member.name).await?;
    running.shutdown().await;
    member.stop().await;
    Ok(())
}
