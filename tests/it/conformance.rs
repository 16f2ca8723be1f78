//! Runs the protocol checker of `tests/conformance/` (Estuary's and Airbyte's published
//! protocol models plus the strict Flow field check) against the binary and the simulated TikTok
//! API, in production (25 core resources, the 22 extras and two custom reports) and sandbox (19
//! core resources, 12 extras, two custom reports): every stream must deliver records that match
//! its discovered schema; and `selftest.py` shows the checker refuses lines the runtimes
//! refuse. The checker needs python3 and PyPI for its virtual environment
//! (created once by `tests/conformance/setup.py`, which several tests may call at once); without
//! them the tests say so and pass, unless CONFORMANCE_REQUIRED=1 (as `.ci/run` sets) demands
//! them.

#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use tiktok_sim::{self as simulator, ApiBehaviour, DataShape, SimConfig};

/// The checker's folder and the python of its virtual environment, or None (skip) when
/// python3 or the environment is missing and conformance is not required.
fn checker() -> Option<(PathBuf, String)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let required = std::env::var("CONFORMANCE_REQUIRED").is_ok_and(|v| v == "1");
    let setup = Command::new("python3")
        .arg(folder.join("setup.py"))
        .output();
    let problem = match setup {
        Ok(out) if out.status.success() => {
            let python = String::from_utf8_lossy(&out.stdout).trim().to_string();
            return Some((folder, python));
        }
        Ok(out) => format!(
            "tests/conformance/setup.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("python3 cannot be started: {e}"),
    };
    assert!(!required, "CONFORMANCE_REQUIRED=1 but {problem}");
    eprintln!("skipping the conformance check: {problem}");
    None
}

async fn conformance(sandbox: bool) {
    let Some((folder, python)) = checker() else {
        return;
    };
    let sim = simulator::spawn(SimConfig {
        data: DataShape {
            days: 6,
            ..Default::default()
        },
        api: ApiBehaviour {
            sandbox,
            // Today's API refuses hourly audience queries; the checker reads every stream in
            // Airbyte mode, so this run serves them (the refusal has its own tests).
            hourly_audience_refused: false,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let start = sim.model().first_day().format("%Y-%m-%d").to_string();
    let credentials = if sandbox {
        json!({"auth_type": "sandbox_access_token",
               "advertiser_id": sim.model().advertiser_ids()[0].to_string(),
               "access_token": "sim-token"})
    } else {
        json!({"auth_type": "oauth2.0", "client_id": "sim-app", "client_secret": "sim-secret",
               "access_token": "sim-token"})
    };
    // Two reports of the user's own design ride along with every core and extra stream.
    let custom_reports = json!([
        {"name": "ads_by_country", "report_type": "BASIC", "data_level": "AUCTION_AD",
         "dimensions": ["ad_id", "stat_time_day", "country_code"],
         "metrics": ["spend", "impressions", "clicks", "conversion", "cpc"]},
        {"name": "campaigns_by_platform", "report_type": "AUDIENCE", "data_level": "AUCTION_CAMPAIGN",
         "dimensions": ["campaign_id", "stat_time_day", "platform"],
         "metrics": ["campaign_name", "spend", "impressions", "ctr"]}
    ]);
    let config = json!({"credentials": credentials, "start_date": start,
        "custom_reports": custom_reports,
        "advanced": {"base_url": sim.base_url(), "requests_per_second": 100}});
    let dir = tempfile::tempdir().unwrap();
    let path = crate::common::temp_json(&dir, "config.json", &config);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(folder.join("check.py"))
            .args([
                "--binary",
                crate::common::BINARY,
                "--config",
                &path,
                "--timeout",
                "300",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        output.status.success() && failures.is_empty(),
        "conformance failed:\n{}\n{stdout}\n{}",
        failures.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" 0 failed"), "{last}");
    // Production: 25 core + 23 extras + 2 custom; sandbox: 19 core + 12 extras + 2 custom.
    let expected_streams = if sandbox { 33 } else { 50 };
    assert!(
        stdout.contains(&format!("records over {expected_streams} streams")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("documents over {expected_streams} bindings")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_production_all_core_resources() {
    conformance(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_sandbox_all_sandbox_resources() {
    conformance(true).await;
}

/// The checker can fail: lines either runtime would refuse are refused by its parsers.
#[test]
fn the_checker_refuses_what_the_runtimes_refuse() {
    let Some((folder, python)) = checker() else {
        return;
    };
    let output = Command::new(python)
        .arg(folder.join("selftest.py"))
        .current_dir(&folder)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.lines().filter(|l| l.contains(" refused: ")).count() >= 8,
        "{stdout}"
    );
}
