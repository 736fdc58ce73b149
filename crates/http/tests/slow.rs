//! Slow and greedy clients: a connection that never finishes its headers is
//! closed after the header-read limit, and connections over the cap get an
//! immediate 503 instead of exhausting the server.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use koudai_http::serve::ConnLimits;
use koudai_testkit::{Error, TestApp};

#[tokio::test]
async fn a_slowloris_connection_is_closed_after_the_header_limit() -> Result<(), Error> {
    let t = TestApp::sandbox().await?;
    let addr = t.listen_with(ConnLimits { header_read: Duration::from_millis(500), max_connections: 8 }).await?;
    let mut slow = TcpStream::connect(addr).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await?;
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server gives up on the headers and closes (possibly after a 408).
    tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await??;
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    // A well-behaved client is still served.
    let mut ok = TcpStream::connect(addr).await?;
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
    let mut answer = String::new();
    ok.read_to_string(&mut answer).await?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    Ok(())
}

#[tokio::test]
async fn connections_over_the_cap_get_an_immediate_503() -> Result<(), Error> {
    let t = TestApp::sandbox().await?;
    let addr = t.listen_with(ConnLimits { header_read: Duration::from_secs(10), max_connections: 2 }).await?;
    // Two idle connections hold both slots.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(addr).await?;
        c.write_all(b"GET /healthz HTTP/1.1\r\n").await?;
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(2), third.read_to_string(&mut answer)).await??;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop(held);
    Ok(())
}

#[tokio::test]
async fn one_address_cannot_try_a_password_against_many_logins() -> Result<(), Error> {
    use koudai_store::KeyMode;
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let body = serde_json::json!({
        "appid": m.appid, "mchid": m.created.mchid, "description": "tea", "out_trade_no": "SPRAY00001",
        "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 100}
    })
    .to_string();
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &body)?).await?;
    let token = r.json()["code_url"].as_str().unwrap_or_default().rsplit('=').next().unwrap_or_default().to_owned();
    let addr = t.listen().await?;
    let mut statuses = Vec::new();
    for i in 0..=koudai_http::cache::MAX_ATTEMPTS_PER_ADDRESS {
        let form = format!("kind=native&pr={token}&login=user{i}&password=guess");
        let raw = format!(
            "POST /pay/confirm HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        );
        let mut c = TcpStream::connect(addr).await?;
        c.write_all(raw.as_bytes()).await?;
        let mut answer = String::new();
        c.read_to_string(&mut answer).await?;
        statuses.push(answer.get(9..12).unwrap_or("").to_owned());
    }
    let last = statuses.pop().unwrap_or_default();
    assert!(statuses.iter().all(|s| s == "401"), "{statuses:?}");
    assert_eq!(last, "429", "the address is out of attempts, whatever the login");
    Ok(())
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_too() -> Result<(), Error> {
    let t = TestApp::sandbox().await?;
    let addr = t.listen_with(ConnLimits { header_read: Duration::from_millis(500), max_connections: 8 }).await?;
    let mut c = TcpStream::connect(addr).await?;
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    let mut buf = vec![0u8; 4096];
    let n = c.read(&mut buf).await?;
    assert!(String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).starts_with("HTTP/1.1 200"));
    // Kept alive, then silent: the server lets go after the header limit.
    let started = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest)).await??;
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    Ok(())
}

#[tokio::test]
async fn one_address_cannot_hammer_the_pages() -> Result<(), Error> {
    let t = TestApp::sandbox().await?;
    let addr = t.listen().await?;
    let mut c = TcpStream::connect(addr).await?;
    let mut statuses = Vec::new();
    let mut buf = vec![0u8; 65536];
    for _ in 0..=koudai_http::cache::PAGE_REQUESTS_PER_MINUTE {
        c.write_all(b"GET /pay/native?pr=nothing HTTP/1.1\r\nHost: x\r\n\r\n").await?;
        let n = c.read(&mut buf).await?;
        let head = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
        // Read the rest of this response's body before the next request.
        let len: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0);
        let body_start = head.find("\r\n\r\n").map_or(n, |i| i + 4);
        let mut have = n.saturating_sub(body_start);
        while have < len {
            have += c.read(&mut buf).await?;
        }
        statuses.push(head.get(9..12).unwrap_or("").to_owned());
    }
    let last = statuses.pop().unwrap_or_default();
    assert!(statuses.iter().all(|s| s == "404"), "{:?}", statuses.iter().filter(|s| *s != "404").collect::<Vec<_>>());
    assert_eq!(last, "429");
    Ok(())
}
