//! How the store connects: PostgreSQL over TLS when the URL asks for it
//! (rustls on aws-lc; no OpenSSL; needs `TEST_DATABASE_URL` and a server with
//! SSL on, as Debian's PostgreSQL is with its snake-oil certificate), and
//! read-only connections that cannot write on either engine.

use koudai_store::Store;

fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

#[tokio::test]
async fn sslmode_require_connects_over_tls_and_disable_does_not() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        if std::env::var_os("CI").is_some() {
            return Err("TEST_DATABASE_URL is not set in CI".into());
        }
        eprintln!("note: TEST_DATABASE_URL unset; the PostgreSQL TLS test is skipped");
        return Ok(());
    };
    let tls = Store::connect(&with_param(&url, "sslmode=require")).await?;
    assert_eq!(tls.transport().await?, "tls");
    tls.close().await;
    let plain = Store::connect(&with_param(&url, "sslmode=disable")).await?;
    assert_eq!(plain.transport().await?, "plain");
    plain.close().await;
    Ok(())
}

#[tokio::test]
async fn read_only_connections_cannot_write() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("koudai-ro-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("k.db").display());
    let rw = Store::connect(&url).await?;
    rw.migrate().await?;
    rw.close().await;
    let ro = Store::connect_read_only(&url).await?;
    assert!(ro.is_migrated().await?);
    assert!(ro.set_meta("x", "y").await.is_err(), "SQLite opened read-only refuses writes");
    ro.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    if let Ok(admin) = std::env::var("TEST_DATABASE_URL") {
        let url = koudai_store::testing::scratch_postgres_database(&admin, "koudai_store_test").await?;
        let rw = Store::connect(&url).await?;
        rw.migrate().await?;
        rw.close().await;
        let ro = Store::connect_read_only(&url).await?;
        assert!(ro.is_migrated().await?);
        assert!(ro.set_meta("x", "y").await.is_err(), "a read-only PostgreSQL session refuses writes");
        ro.close().await;
    }
    Ok(())
}

#[tokio::test]
async fn nodes_migrating_a_fresh_database_at_once_all_succeed() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        if std::env::var_os("CI").is_some() {
            return Err("TEST_DATABASE_URL is not set in CI".into());
        }
        eprintln!("note: TEST_DATABASE_URL unset; the concurrent migration test is skipped");
        return Ok(());
    };
    for _ in 0..5 {
        let url = koudai_store::testing::scratch_postgres_database(&admin, "koudai_store_test").await?;
        let (a, b, c) = (Store::connect(&url).await?, Store::connect(&url).await?, Store::connect(&url).await?);
        let (ra, rb, rc) = tokio::join!(a.migrate(), b.migrate(), c.migrate());
        ra?;
        rb?;
        rc?;
        assert!(a.is_migrated().await?);
        // Then every node loads the shipped fee schedule at once.
        let schedule = koudai_domain::fees::DEFAULT_SCHEDULE;
        let (la, lb, lc) = tokio::join!(
            a.load_fee_schedule(schedule, 0),
            b.load_fee_schedule(schedule, 0),
            c.load_fee_schedule(schedule, 0)
        );
        la?;
        lb?;
        lc?;
        for s in [a, b, c] {
            s.close().await;
        }
        koudai_store::testing::drop_postgres_database(&admin, &url).await?;
    }
    Ok(())
}
