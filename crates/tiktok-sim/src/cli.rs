//! The command line of the simulated API (`simulate` and `demo`): [`SimArgs`] flags, their
//! translation into a [`SimConfig`], and [`run_cli`], which serves until Ctrl-C or SIGTERM.

use std::time::Duration;

use super::faults::parse_fault;
use super::{spawn_on, ApiBehaviour, AssetCounts, AsyncReports, DataShape, Faults, SimConfig};

/// Flags of the simulated TikTok API.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of advertisers.
    #[arg(long, default_value_t = 2)]
    pub advertisers: usize,
    /// Campaigns per advertiser.
    #[arg(long, default_value_t = 3)]
    pub campaigns: usize,
    /// Ad groups per campaign.
    #[arg(long, default_value_t = 2)]
    pub adgroups: usize,
    /// Ads per ad group.
    #[arg(long, default_value_t = 2)]
    pub ads: usize,
    /// Days of history, ending today.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// The simulated API's today, as YYYY-MM-DD (default: today in UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<String>,
    /// Share (0 to 1) of advertisers that never deliver (no report rows at all).
    #[arg(long, default_value_t = 0.0)]
    pub idle_account_share: f64,
    /// Share (0 to 1) of days on which each delivering advertiser delivers nothing.
    #[arg(long, default_value_t = 0.0)]
    pub idle_day_share: f64,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Behave like sandbox-ads.tiktok.com.
    #[arg(long)]
    pub sandbox: bool,
    /// Serve AUDIENCE reports with stat_time_hour (today's API refuses them with 40002).
    #[arg(long)]
    pub allow_hourly_audience: bool,
    /// A permission scope the app lacks (repeatable), e.g. "Reporting": its endpoints answer
    /// 40001 naming it, for every advertiser.
    #[arg(long = "missing-scope", value_name = "SCOPE")]
    pub missing_scope: Vec<String>,
    /// Enforce TikTok's sandbox quotas per endpoint: 30 requests a minute, 1,000 a day.
    #[arg(long)]
    pub sandbox_quota: bool,
    /// Leave the last value of every breakdown dimension empty in report rows.
    #[arg(long)]
    pub empty_breakdown_values: bool,
    /// Every Nth campaign, ad group and ad is deleted (0 = none).
    #[arg(long, default_value_t = 5)]
    pub deleted_every: usize,
    /// Custom audiences per advertiser.
    #[arg(long, default_value_t = 7)]
    pub audiences: usize,
    /// Library images per advertiser.
    #[arg(long, default_value_t = 25)]
    pub images: usize,
    /// Library videos per advertiser.
    #[arg(long, default_value_t = 12)]
    pub videos: usize,
    /// Music tracks per advertiser (every third is system music without modify_time).
    #[arg(long, default_value_t = 5)]
    pub music: usize,
    /// Creative portfolios per advertiser.
    #[arg(long, default_value_t = 3)]
    pub portfolios: usize,
    /// Spark Ads posts per advertiser (tt_video/list/, production only).
    #[arg(long, default_value_t = 6)]
    pub spark_posts: usize,
    /// Pixels per advertiser (pixel/list/, production only).
    #[arg(long, default_value_t = 2)]
    pub pixels: usize,
    /// Every Nth advertiser answers 40001 on the pixel endpoints (0 = none).
    #[arg(long, default_value_t = 4)]
    pub pixel_denied_every: usize,
    /// Every Nth advertiser runs auction campaigns only (0 = every advertiser may also have
    /// reach & frequency and TopView campaigns).
    #[arg(long, default_value_t = 0)]
    pub auction_only_every: usize,
    /// Ads one report processes (TikTok: the 20,000 most recently created).
    #[arg(long, default_value_t = 20_000)]
    pub ads_cap: usize,
    /// Put the app on the allowlist of asynchronous reports: report/task/create/, check/ and
    /// download/ serve tasks (without it, create refuses them with 40001: TikTok does not
    /// document the code of apps outside the allowlist, so 40001 is the simulator's choice).
    #[arg(long)]
    pub async_reports: bool,
    /// report/task/check/ calls an asynchronous report task needs before it says SUCCESS (the
    /// first says QUEUING, the next ones PROCESSING; 0 or 1 = done at the first check).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub async_task_checks: u32,
    /// Refuse a report metric (repeatable) with 40002 "Invalid metric fields", as TikTok
    /// answers a metric it does not serve in the report: NAME at every data level, or
    /// NAME@DATA_LEVEL (e.g. complete_payment_roas@AUCTION_CAMPAIGN).
    #[arg(long = "refuse-metric", value_name = "NAME[@DATA_LEVEL]")]
    pub refuse_metric: Vec<String>,
    /// Word refusals of metrics without naming them ("Invalid metric fields.").
    #[arg(long)]
    pub unnamed_metric_refusals: bool,
    /// Inject a fault (repeatable): CODE/N (e.g. 40100/5), httpSTATUS/N, drop/N, truncate/N,
    /// slow=MS/N, qps/N, qpm/N, qpd/N (40100 naming that limit), 40067>DAYS,
    /// noperm=ADVERTISER_ID, storm=MS; append @path,path to restrict it.
    #[arg(long = "fault", value_name = "SPEC")]
    pub fault: Vec<String>,
    /// Keep every request and, when stopped, write them to this file as JSON lines
    /// (`{"path":…,"params":{…},"code":…,"ads_throttled":…}`), for counting requests by kind.
    #[arg(long, value_name = "FILE")]
    pub request_log: Option<std::path::PathBuf>,
}

impl SimArgs {
    /// The configuration these flags describe; errors name the bad flag.
    pub fn to_config(&self) -> Result<SimConfig, String> {
        if self.days == 0 {
            return Err("--days must be at least 1".into());
        }
        if self.advertisers == 0 {
            return Err("--advertisers must be at least 1".into());
        }
        if self.ads_cap == 0 {
            return Err("--ads-cap must be at least 1".into());
        }
        for (flag, share) in [
            ("--idle-account-share", self.idle_account_share),
            ("--idle-day-share", self.idle_day_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!(
                    "{flag} must be a share from 0 to 1 (0.3 = 30%); got {share}"
                ));
            }
        }
        let today = match &self.today {
            None => SimConfig::default().today,
            Some(text) => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                format!("--today must be a date as YYYY-MM-DD, such as 2024-06-30; got {text:?}")
            })?,
        };
        let refused = self
            .refuse_metric
            .iter()
            .map(|spec| {
                let (metric, level) = match spec.split_once('@') {
                    None => (spec.as_str(), None),
                    Some((metric, level)) => match crate::catalog::Level::from_data_level(level) {
                        Some(level) => (metric, Some(level)),
                        None => {
                            return Err(format!(
                                "--refuse-metric {spec:?}: {level:?} is not a data level (one \
                                 of AUCTION_ADVERTISER, AUCTION_CAMPAIGN, AUCTION_ADGROUP, \
                                 AUCTION_AD)"
                            ))
                        }
                    },
                };
                if metric.is_empty() {
                    return Err(format!("--refuse-metric {spec:?} names no metric"));
                }
                Ok(crate::RefusedMetric {
                    metric: metric.to_string(),
                    level,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let faults = self
            .fault
            .iter()
            .map(|spec| parse_fault(spec))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(SimConfig {
            seed: self.seed,
            today,
            record_requests: self.request_log.is_some(),
            data: DataShape {
                advertisers: self.advertisers,
                campaigns_per_advertiser: self.campaigns,
                adgroups_per_campaign: self.adgroups,
                ads_per_adgroup: self.ads,
                days: self.days,
                idle_account_share: self.idle_account_share,
                idle_day_share: self.idle_day_share,
                deleted_every: self.deleted_every,
                auction_only_every: self.auction_only_every,
                ..Default::default()
            },
            assets: AssetCounts {
                audiences_per_advertiser: self.audiences,
                images_per_advertiser: self.images,
                videos_per_advertiser: self.videos,
                music_per_advertiser: self.music,
                portfolios_per_advertiser: self.portfolios,
                spark_posts_per_advertiser: self.spark_posts,
                pixels_per_advertiser: self.pixels,
                pixel_denied_every: self.pixel_denied_every,
            },
            api: ApiBehaviour {
                sandbox: self.sandbox,
                hourly_audience_refused: !self.allow_hourly_audience,
                missing_scopes: self.missing_scope.clone(),
                quota: self.sandbox_quota.then_some(crate::rules::Quota::SANDBOX),
                empty_breakdown_values: self.empty_breakdown_values,
                ads_cap: self.ads_cap,
                metrics: crate::MetricRules {
                    refused,
                    refusal_wording: match self.unnamed_metric_refusals {
                        true => crate::RefusalWording::Unnamed,
                        false => crate::RefusalWording::Named,
                    },
                    ..Default::default()
                },
                ..Default::default()
            },
            async_reports: AsyncReports {
                allowlisted: self.async_reports,
                task_checks: self.async_task_checks,
                ..Default::default()
            },
            faults: Faults {
                latency: Duration::from_millis(self.latency_ms),
                rules: faults,
                disagreements: Vec::new(),
            },
            ..SimConfig::default()
        })
    }
}

/// Serves the simulated API until Ctrl-C or SIGTERM.
pub async fn run_cli(args: SimArgs) -> Result<(), String> {
    let cfg = args.to_config()?;
    let handle = spawn_on(cfg.clone(), args.port)
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    tracing::info!(
        base_url = %handle.base_url(),
        api_root = %format!("{}/open_api/v1.3/", handle.base_url()),
        advertisers = cfg.data.advertisers,
        ads = cfg.data.advertisers * cfg.data.campaigns_per_advertiser * cfg.data.adgroups_per_campaign * cfg.data.ads_per_adgroup,
        days = cfg.data.days,
        access_token = %cfg.credentials.access_token,
        app_id = %cfg.credentials.app_id,
        secret = %cfg.credentials.secret,
        "simulated TikTok API serving at {}",
        handle.base_url()
    );
    wait_for_signal().await;
    tracing::info!(
        requests = handle.request_count(),
        "simulated TikTok API stopping"
    );
    if let Some(path) = &args.request_log {
        write_request_log(path, &handle.requests())
            .map_err(|e| format!("cannot write --request-log {}: {e}", path.display()))?;
    }
    handle.shutdown().await;
    Ok(())
}

/// One JSON line per request, in the order they were answered.
fn write_request_log(
    path: &std::path::Path,
    requests: &[crate::RecordedRequest],
) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in requests {
        let line = serde_json::json!({
            "path": r.path,
            "params": r.params,
            "code": r.code,
            "ads_throttled": r.ads_throttled,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fault, FaultRule};
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn parse(args: &[&str]) -> SimArgs {
        Cli::try_parse_from(std::iter::once("sim").chain(args.iter().copied()))
            .unwrap()
            .sim
    }

    #[test]
    fn the_request_log_keeps_every_request_and_writes_one_json_line_each() {
        assert!(!parse(&[]).to_config().unwrap().record_requests);
        let path = std::env::temp_dir().join(format!("sim-requests-{}.jsonl", std::process::id()));
        let text = path.to_str().unwrap();
        assert!(
            parse(&["--request-log", text])
                .to_config()
                .unwrap()
                .record_requests
        );
        let requests = [crate::RecordedRequest {
            path: "ad/get/".into(),
            params: [("page_size".to_string(), "1".to_string())].into(),
            code: 0,
            ads_throttled: false,
        }];
        write_request_log(&path, &requests).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let line: serde_json::Value = serde_json::from_str(written.trim()).unwrap();
        assert_eq!(
            line,
            serde_json::json!({"path": "ad/get/", "params": {"page_size": "1"}, "code": 0,
                               "ads_throttled": false})
        );
    }

    #[test]
    fn refused_metrics_are_named_with_their_level() {
        let cfg = parse(&[
            "--refuse-metric",
            "complete_payment_roas@AUCTION_CAMPAIGN",
            "--refuse-metric",
            "reach",
            "--unnamed-metric-refusals",
        ])
        .to_config()
        .unwrap();
        assert_eq!(
            cfg.api.metrics.refused,
            [
                crate::RefusedMetric {
                    metric: "complete_payment_roas".into(),
                    level: Some(crate::catalog::Level::Campaign),
                },
                crate::RefusedMetric {
                    metric: "reach".into(),
                    level: None,
                },
            ]
        );
        assert_eq!(
            cfg.api.metrics.refusal_wording,
            crate::RefusalWording::Unnamed
        );
        assert!(parse(&[])
            .to_config()
            .unwrap()
            .api
            .metrics
            .refused
            .is_empty());
        for bad in ["reach@CAMPAIGN", "@AUCTION_AD"] {
            let err = parse(&["--refuse-metric", bad]).to_config().unwrap_err();
            assert!(
                err.contains("--refuse-metric") && err.contains(bad),
                "{err}"
            );
        }
    }

    #[test]
    fn defaults_match_the_config_defaults() {
        let args = parse(&[]);
        assert_eq!(args.port, 8080);
        let cfg = args.to_config().unwrap();
        let def = SimConfig::default();
        assert_eq!(cfg.data.advertisers, def.data.advertisers);
        assert_eq!(
            cfg.data.campaigns_per_advertiser,
            def.data.campaigns_per_advertiser
        );
        assert_eq!(cfg.data.days, def.data.days);
        assert_eq!(
            (cfg.data.idle_account_share, cfg.data.idle_day_share),
            (0.0, 0.0)
        );
        assert!(cfg.api.hourly_audience_refused);
        assert_eq!(cfg.data.deleted_every, 5);
        assert_eq!(
            (
                cfg.assets.audiences_per_advertiser,
                cfg.assets.images_per_advertiser,
                cfg.assets.videos_per_advertiser,
                cfg.assets.music_per_advertiser,
                cfg.assets.portfolios_per_advertiser,
                cfg.assets.spark_posts_per_advertiser,
                cfg.assets.pixels_per_advertiser,
                cfg.assets.pixel_denied_every,
            ),
            (
                def.assets.audiences_per_advertiser,
                def.assets.images_per_advertiser,
                def.assets.videos_per_advertiser,
                def.assets.music_per_advertiser,
                def.assets.portfolios_per_advertiser,
                def.assets.spark_posts_per_advertiser,
                def.assets.pixels_per_advertiser,
                def.assets.pixel_denied_every,
            )
        );
        assert!(cfg.faults.rules.is_empty());
        assert!(!cfg.async_reports.allowlisted && !def.async_reports.allowlisted);
        assert_eq!(cfg.async_reports.task_checks, def.async_reports.task_checks);
        assert_eq!(cfg.async_reports.task_checks, 2);
    }

    #[test]
    fn flags_reach_the_config() {
        let args = parse(&[
            "--port",
            "0",
            "--seed",
            "7",
            "--advertisers",
            "3",
            "--campaigns",
            "4",
            "--adgroups",
            "5",
            "--ads",
            "6",
            "--days",
            "10",
            "--latency-ms",
            "25",
            "--sandbox",
            "--allow-hourly-audience",
            "--deleted-every",
            "0",
            "--today",
            "2024-06-30",
            "--idle-account-share",
            "0.6",
            "--idle-day-share",
            "0.3",
            "--images",
            "300",
            "--pixels",
            "1",
            "--pixel-denied-every",
            "0",
            "--async-reports",
            "--async-task-checks",
            "5",
            "--fault",
            "40100/5",
            "--fault",
            "storm=70000",
            "--fault",
            "40067>7@report/integrated/get/",
        ]);
        let cfg = args.to_config().unwrap();
        assert_eq!(
            (
                cfg.seed,
                cfg.data.advertisers,
                cfg.data.campaigns_per_advertiser
            ),
            (7, 3, 4)
        );
        assert_eq!(
            (
                cfg.data.adgroups_per_campaign,
                cfg.data.ads_per_adgroup,
                cfg.data.days
            ),
            (5, 6, 10)
        );
        assert_eq!(cfg.faults.latency, Duration::from_millis(25));
        assert!(cfg.api.sandbox && !cfg.api.hourly_audience_refused);
        assert_eq!(cfg.data.deleted_every, 0);
        assert!(cfg.async_reports.allowlisted);
        assert_eq!(cfg.async_reports.task_checks, 5);
        assert_eq!(
            cfg.today,
            chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap()
        );
        assert_eq!(
            (cfg.data.idle_account_share, cfg.data.idle_day_share),
            (0.6, 0.3)
        );
        assert_eq!(
            (
                cfg.assets.images_per_advertiser,
                cfg.assets.pixels_per_advertiser,
                cfg.assets.pixel_denied_every,
                cfg.assets.music_per_advertiser
            ),
            (300, 1, 0, 5)
        );
        assert_eq!(
            cfg.faults.rules,
            vec![
                FaultRule {
                    fault: Fault::Code(40100),
                    every: 5,
                    paths: None
                },
                FaultRule {
                    fault: Fault::RateLimitStorm(Duration::from_secs(70)),
                    every: 1,
                    paths: None
                },
                FaultRule {
                    fault: Fault::QueryTooLarge { max_days: 7 },
                    every: 1,
                    paths: Some(vec!["report/integrated/get/".into()])
                },
            ]
        );
    }

    #[test]
    fn bad_flags_are_clear_errors() {
        let err = parse(&["--fault", "boom/3"]).to_config().unwrap_err();
        assert!(err.contains("unknown kind \"boom\""), "{err}");
        let err = parse(&["--fault", "slow=/3"]).to_config().unwrap_err();
        assert!(err.contains("slow delay"), "{err}");
        let err = parse(&["--days", "0"]).to_config().unwrap_err();
        assert!(err.contains("--days"), "{err}");
        let err = parse(&["--idle-day-share", "30"]).to_config().unwrap_err();
        assert!(
            err.contains("--idle-day-share") && err.contains("30"),
            "{err}"
        );
        let err = parse(&["--today", "30/06/2024"]).to_config().unwrap_err();
        assert!(
            err.contains("--today") && err.contains("30/06/2024"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn run_cli_reports_bad_flags_without_serving() {
        let err = run_cli(parse(&["--port", "0", "--fault", "40067>x"]))
            .await
            .unwrap_err();
        assert!(err.contains("max days"), "{err}");
    }
}
