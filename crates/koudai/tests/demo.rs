//! The demo world survives interruptions and concurrent starts: every step
//! is idempotent, `demo.json` comes last, and two nodes starting at once
//! share one world.

use std::path::PathBuf;

use serde_json::Value;

use koudai_protocol::{cert, PrivateKey};
use koudai_testkit::{Error, TestApp};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("koudai-demo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn read(dir: &std::path::Path) -> Result<Value, Error> {
    Ok(serde_json::from_str(&std::fs::read_to_string(dir.join("demo/demo.json"))?)?)
}

#[tokio::test]
async fn two_starts_at_once_make_one_world_and_a_lost_demo_json_comes_back_the_same() -> Result<(), Error> {
    let t = TestApp::sandbox().await?;
    let (one, two) = (scratch("one"), scratch("two"));
    let (a, b) = tokio::join!(koudai::demo::ensure(&t.app, &one), koudai::demo::ensure(&t.app, &two));
    a.map_err(|e| e.to_string())?;
    b.map_err(|e| e.to_string())?;
    // Two merchants, two providers, one sub-merchant each.
    assert_eq!(t.app.store.merchants().await?.len(), 6, "one world, not two");
    assert_eq!(t.app.store.providers().await?.len(), 2);
    let (w1, w2) = (read(&one)?, read(&two)?);
    for (world, dir) in [(&w1, &one), (&w2, &two)] {
        let merchants = world["merchants"].as_array().ok_or("merchants")?;
        assert_eq!(merchants.len(), 2);
        let providers = world["providers"].as_array().ok_or("providers")?;
        assert_eq!(providers.len(), 2);
        for m in merchants.iter().chain(providers) {
            // The key on disk belongs to the certificate named in demo.json.
            let base = dir.join("demo");
            let key = PrivateKey::from_pem(&std::fs::read_to_string(
                base.join(m["private_key_path"].as_str().unwrap_or("")),
            )?)?;
            let c =
                cert::parse_pem(&std::fs::read_to_string(base.join(m["certificate_path"].as_str().unwrap_or("")))?)?;
            assert_eq!(c.public_key, key.public_key());
            assert_eq!(Some(c.serial_hex.as_str()), m["serial_no"].as_str());
        }
    }
    assert_eq!(w1["consumers"], w2["consumers"], "same consumers, passwords and balances");
    // The same providers (each data directory holds its own key file, so
    // the certificate serial may differ, as for merchants).
    let without_serial = |w: &Value| {
        let mut p = w["providers"].clone();
        for one in p.as_array_mut().into_iter().flatten() {
            one["serial_no"] = Value::Null;
        }
        p
    };
    assert_eq!(without_serial(&w1), without_serial(&w2), "same providers, sub-merchants and console logins");
    assert_eq!(w1["operator_console"], w2["operator_console"]);
    for p in w1["providers"].as_array().ok_or("providers")? {
        let sp = p["sp_mchid"].as_str().unwrap_or_default();
        let filter = koudai_store::LogFilter { who: Some(sp.into()), limit: 100, ..Default::default() };
        let granted = t.app.store.privilege_log(&filter).await?.len();
        assert_eq!(granted, p["privileges"].as_array().map_or(0, Vec::len), "granted once, not twice");
        for sub in p["sub_merchants"].as_array().ok_or("subs")? {
            let m = t.app.store.merchant(sub["sub_mchid"].as_str().unwrap_or_default()).await?.ok_or("sub")?;
            assert_eq!(m.sp_mchid.as_deref(), Some(sp));
        }
        // Every consumer has an openid under the provider's app.
        assert!(w1["consumers"][0]["openids"][p["sp_appid"].as_str().unwrap_or_default()].is_string());
    }
    assert_eq!(w1["consumers"][0]["balance_fen"], 1_000_000, "funded once, not twice");
    for m in w1["merchants"].as_array().ok_or("merchants")? {
        let mchid = m["mchid"].as_str().unwrap_or_default();
        let standing = t.app.store.standing(mchid, t.app.clock.business_now().unix()).await?.ok_or("standing")?;
        assert_eq!(standing.deposit_missing_fen(), 0, "the deposit is paid");
        assert_eq!(standing.deposit_held_fen, 5_000_000, "and paid once");
    }

    // An interrupted start: demo.json never written. The next start finishes
    // the same world.
    std::fs::remove_file(one.join("demo/demo.json"))?;
    koudai::demo::ensure(&t.app, &one).await.map_err(|e| e.to_string())?;
    let again = read(&one)?;
    let ids = |w: &Value| w["merchants"].as_array().map(|a| a.iter().map(|m| m["mchid"].clone()).collect::<Vec<_>>());
    assert_eq!(ids(&again), ids(&w1));
    assert_eq!(again["consumers"], w1["consumers"]);
    assert_eq!(without_serial(&again), without_serial(&w1));
    assert_eq!(t.app.store.merchants().await?.len(), 6);
    let _ = std::fs::remove_dir_all(&one);
    let _ = std::fs::remove_dir_all(&two);
    Ok(())
}
