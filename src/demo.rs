//! `demo`: the first command a newcomer runs. It starts the simulated TikTok API on loopback,
//! captures every enabled stream from it, writes the records as JSON lines to stdout and a
//! per-stream summary table to stderr. No credentials, no network.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use chrono::Days;
use serde_json::json;

use crate::capture::{Binding, BindingSummary};
use crate::error::{Error, Result};
use crate::protocol::emit::Framing;
use crate::protocol::CaptureOutput;
use crate::{config, registry};
use tiktok_sim::{self as simulator, DataShape, Faults, SimConfig};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Ad accounts in the simulated API.
    #[arg(long, default_value_t = 2)]
    pub(crate) advertisers: usize,
    /// Campaigns per ad account.
    #[arg(long, default_value_t = 3)]
    pub(crate) campaigns: usize,
    /// Ad groups per campaign.
    #[arg(long, default_value_t = 2)]
    pub(crate) adgroups: usize,
    /// Ads per ad group.
    #[arg(long, default_value_t = 3)]
    pub(crate) ads: usize,
    /// Days of history to capture.
    #[arg(long, default_value_t = 7)]
    pub(crate) days: u32,
    /// Latency the simulated API adds to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub(crate) latency_ms: u64,
    /// Requests per second the connector allows itself.
    #[arg(long, default_value_t = 50.0)]
    pub(crate) requests_per_second: f64,
    /// Seed of the simulated data.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let sim_config = SimConfig {
        seed: args.seed,
        data: DataShape {
            advertisers: args.advertisers,
            campaigns_per_advertiser: args.campaigns,
            adgroups_per_campaign: args.adgroups,
            ads_per_adgroup: args.ads,
            days: args.days.max(1),
            ..Default::default()
        },
        faults: Faults {
            latency: std::time::Duration::from_millis(args.latency_ms),
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let start = sim_config
        .today
        .checked_sub_days(Days::new(u64::from(args.days.max(1)) - 1))
        .unwrap_or(sim_config.today);
    let (token, app_id, secret) = (
        sim_config.credentials.access_token.clone(),
        sim_config.credentials.app_id.clone(),
        sim_config.credentials.secret.clone(),
    );
    let sim = simulator::spawn(sim_config)
        .await
        .map_err(|e| Error::Fatal(format!("starting the simulated TikTok API failed: {e}")))?;
    tracing::info!(base_url = sim.base_url(), "Simulated TikTok API started.");
    let config = Arc::new(config::parse(&json!({
        "credentials": {"auth_type": "oauth2.0", "client_id": app_id, "client_secret": secret,
                        "access_token": token},
        "start_date": start.format("%Y-%m-%d").to_string(),
        "advanced": {"base_url": sim.base_url(), "requests_per_second": args.requests_per_second},
    }))?);
    let bindings: Vec<Binding> = registry::catalog(&config)
        .into_iter()
        .filter(|s| !s.disabled_by_default)
        .map(|stream| Binding {
            incremental: stream.cursor.is_some(),
            stream,
            state: Default::default(),
        })
        .collect();
    let streams = bindings.iter().map(|b| b.stream.name.clone()).collect();
    let started = Instant::now();
    let output = CaptureOutput {
        framing: Framing::Plain { streams },
        writer: std::io::stdout(),
    };
    let result = crate::protocol::capture(config, bindings, output).await;
    let served = sim.request_count();
    sim.shutdown().await;
    let summaries = result?;
    write_summary(&summaries, served, started.elapsed().as_secs_f64())
        .map_err(|e| Error::io("writing the summary", e))
}

fn write_summary(summaries: &[BindingSummary], served: u64, seconds: f64) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    let width = summaries
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(err)?;
    writeln!(
        err,
        "{:<width$}  {:>9}  {:>8}  {:>7}",
        "stream", "rows", "requests", "seconds"
    )?;
    writeln!(err, "{}", "-".repeat(width + 30))?;
    for s in summaries {
        let note = s
            .error
            .as_deref()
            .map(|e| format!("  FAILED: {e}"))
            .unwrap_or_default();
        writeln!(
            err,
            "{:<width$}  {:>9}  {:>8}  {:>7.2}{note}",
            s.name, s.records, s.requests, s.seconds
        )?;
    }
    writeln!(err, "{}", "-".repeat(width + 30))?;
    let rows: u64 = summaries.iter().map(|s| s.records).sum();
    writeln!(
        err,
        "{:<width$}  {:>9}  {:>8}  {:>7.2}",
        "total", rows, served, seconds
    )?;
    Ok(())
}
