//! PostgreSQL over TLS when the URL asks for it (rustls on aws-lc; no
//! OpenSSL). Needs `TEST_DATABASE_URL` and a server with SSL on (Debian's
//! PostgreSQL has it, with its snake-oil certificate).

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
