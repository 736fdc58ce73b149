//! The descriptor budget, on the real binary under `ulimit -n 256`: the
//! connection cap is what the limit leaves after the database, callbacks
//! and files; hundreds of idle clients cannot take the server down: past
//! the cap a connection gets an immediate 503, `/healthz` still answers,
//! the jobs keep their database, and when the crowd leaves it serves again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: SocketAddr, path: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    (answer, started.elapsed())
}

#[test]
fn a_crowd_of_idle_clients_under_a_low_descriptor_limit_gets_503s_and_healthz_answers() {
    rlimit::increase_nofile_limit(4096).unwrap();
    let dir = std::env::temp_dir().join(format!("koudai-fds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let log = dir.with_extension("log");
    let mut server = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 256 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_koudai"))
        .args(["serve", "--no-demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env_remove("KOUDAI_DATABASE_URL")
        .env("KOUDAI_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: SocketAddr = line.trim().rsplit("http://").next().unwrap().parse().expect(&line);

    // 400 idle clients: more than the cap, more than the limit.
    let crowd: Vec<TcpStream> = (0..400).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let (answer, took) = get(addr, "/healthz");
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer:?}");
        assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    }
    let (answer, took) = get(addr, "/v3/certificates");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(took < Duration::from_secs(1), "the 503 took {took:?}");
    // The jobs have run meanwhile (they read the database every second).
    std::thread::sleep(Duration::from_millis(1500));

    drop(crowd);
    std::thread::sleep(Duration::from_millis(300));
    let (answer, _) = get(addr, "/v3/certificates");
    assert!(answer.starts_with("HTTP/1.1 401"), "served again: {answer:?}");
    server.kill().unwrap();
    server.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
    assert!(text.contains("descriptor budget"), "{text}");
    for trouble in ["unable to open database file", "Too many open files", "accepting a connection failed"] {
        assert!(!text.contains(trouble), "{trouble}: {text}");
    }
}
