//! The command line as an operator meets it.

use std::process::Command;

fn koudai() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_koudai"));
    c.env_remove("KOUDAI_DATABASE_URL").env_remove("KOUDAI_DATA_DIR").env("KOUDAI_LOG", "warn");
    c
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("koudai-cli-{name}-{}", std::process::id()))
}

#[test]
fn ledger_commands_on_a_missing_data_dir_fail_and_create_nothing() -> Result<(), Box<dyn std::error::Error>> {
    let dir = scratch_dir("missing");
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["verify", "positions"] {
        let out = koudai().args(["ledger", sub, "--data-dir"]).arg(&dir).output()?;
        assert!(!out.status.success(), "ledger {sub} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no database at"), "ledger {sub}: {stderr}");
        assert!(!dir.exists(), "ledger {sub} created {}", dir.display());
    }
    Ok(())
}

#[test]
fn ledger_verify_on_an_empty_sqlite_file_does_not_migrate_it() -> Result<(), Box<dyn std::error::Error>> {
    let dir = scratch_dir("empty");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("koudai.db"), b"")?;
    let out = koudai().args(["ledger", "verify", "--data-dir"]).arg(&dir).output()?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no Koudai tables"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::metadata(dir.join("koudai.db"))?.len(), 0, "nothing was written");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn ledger_verify_passes_on_a_migrated_database() -> Result<(), Box<dyn std::error::Error>> {
    let dir = scratch_dir("migrated");
    let _ = std::fs::remove_dir_all(&dir);
    let out = koudai().args(["migrate", "--data-dir"]).arg(&dir).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = koudai().args(["ledger", "verify", "--data-dir"]).arg(&dir).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ledger verified"));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn ledger_verify_with_a_database_url_creates_nothing_either() -> Result<(), Box<dyn std::error::Error>> {
    let dir = scratch_dir("url");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("other.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let out = koudai().args(["ledger", "verify", "--database-url", &url]).output()?;
    assert!(!out.status.success(), "verify must fail on a missing database");
    assert!(!file.exists(), "ledger verify created {}", file.display());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn a_database_served_live_is_never_opened_as_a_sandbox() -> Result<(), Box<dyn std::error::Error>> {
    use std::io::BufRead as _;
    let dir = scratch_dir("live");
    let _ = std::fs::remove_dir_all(&dir);
    let mut server = koudai()
        .args(["serve", "--mode", "live", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut line = String::new();
    if let Some(out) = server.stdout.take() {
        std::io::BufReader::new(out).read_line(&mut line)?;
    }
    server.kill()?;
    server.wait()?;
    assert!(line.starts_with("koudai listening on"), "{line:?}");

    let refused = koudai()
        .args(["admin", "top-up", "--login", "x", "--amount-fen", "1", "--mode", "sandbox", "--data-dir"])
        .arg(&dir)
        .output()?;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("served in live mode"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // Without --mode, commands take the recorded one.
    let verify = koudai().args(["ledger", "verify", "--data-dir"]).arg(&dir).output()?;
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
