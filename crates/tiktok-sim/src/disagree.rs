//! Disagreement switches, part of the fault layer: rewrites of report answers that make
//! TikTok's levels disagree the ways its documents allow, so a client's checks of its own
//! output can be tested. Each rewrite is applied to the rows an endpoint rendered, after it, so
//! the model and its metric values stay as they are; a test compares a client's capture with
//! what a client reading every day of the same server captures.
//!
//! What each stands for:
//! - [`Disagreement::OnlyMetrics`]: on one day the delivery shows only in some metrics (an
//!   attributed in-app event, a video milestone passed just after midnight), every other figure
//!   of every row reading zero. With `dash_in_totals` the advertiser-level rows answer `-` for
//!   those metrics, which TikTok sends for a metric it has no value of in a row (Metrics page,
//!   portal doc 1751443967255553: "-" for metrics that do not apply).
//! - [`Disagreement::AccountLeftOut`]: a report over several ad accounts (`advertiser_ids`;
//!   Run a synchronous report, [`docs::SYNC_REPORT`]) holds no row of one of them; nothing TikTok
//!   publishes says an account without rows there had no delivery.
//! - [`Disagreement::TotalsOverCap`]: an account's advertiser-level daily totals hold no rows
//!   and no `X-Tt-Ads-Throttle` header, as totals over the ads cap that cover only its newest
//!   (idle) ads would; TikTok gives that cap as 20,000 ads ([`docs::REPORTING_FAQ`]) and its SDK
//!   as 10,000, and the header is the only sign of it a report answer carries.
//!
//! [`docs::SYNC_REPORT`]: crate::rules::docs::SYNC_REPORT
//! [`docs::REPORTING_FAQ`]: crate::rules::docs::REPORTING_FAQ

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::server::Params;

/// One way the levels of a report disagree (see the module text).
#[derive(Debug, Clone, PartialEq)]
pub enum Disagreement {
    /// On `day`, every figure of every report row but those of `keep` reads zero; with
    /// `dash_in_totals`, advertiser-level rows answer `-` for `keep`.
    OnlyMetrics {
        day: NaiveDate,
        keep: Vec<String>,
        dash_in_totals: bool,
    },
    /// Reports over several accounts leave this account's rows out.
    AccountLeftOut { advertiser_id: u64 },
    /// This account's advertiser-level reports by day hold no rows (no throttle header).
    TotalsOverCap { advertiser_id: u64 },
}

/// Rewrites the data of one `report/integrated/get/` answer (`{"list": [...], "page_info"}`)
/// by every switch that applies to it.
pub(crate) fn apply(switches: &[Disagreement], params: &Params, data: Vec<u8>) -> Vec<u8> {
    if switches.is_empty() {
        return data;
    }
    let Ok(mut answer) = serde_json::from_slice::<Value>(&data) else {
        return data;
    };
    let Some(rows) = answer.get_mut("list").and_then(Value::as_array_mut) else {
        return data;
    };
    let advertiser_level =
        params.get("data_level").map(String::as_str) == Some("AUCTION_ADVERTISER");
    let by_day = params
        .get("dimensions")
        .is_some_and(|d| d.contains("stat_time_day"));
    let several = params.contains_key("advertiser_ids");
    let asked_alone = params
        .get("advertiser_id")
        .and_then(|id| id.trim().parse::<u64>().ok());
    let before = rows.len();
    for switch in switches {
        match switch {
            Disagreement::OnlyMetrics {
                day,
                keep,
                dash_in_totals,
            } => {
                for row in rows.iter_mut() {
                    if row_day(row) == Some(*day) {
                        only(row, keep, *dash_in_totals && advertiser_level);
                    }
                }
            }
            Disagreement::AccountLeftOut { advertiser_id } if several => {
                rows.retain(|row| row_account(row) != Some(*advertiser_id));
            }
            Disagreement::TotalsOverCap { advertiser_id }
                if advertiser_level
                    && by_day
                    && !several
                    && asked_alone == Some(*advertiser_id) =>
            {
                rows.clear();
            }
            _ => {}
        }
    }
    let removed = before - rows.len();
    if removed > 0 {
        if let Some(total) = answer["page_info"]["total_number"].as_u64() {
            answer["page_info"]["total_number"] = json!(total.saturating_sub(removed as u64));
        }
    }
    serde_json::to_vec(&answer).unwrap_or(data)
}

/// The day of a row's `stat_time_day` or `stat_time_hour`.
fn row_day(row: &Value) -> Option<NaiveDate> {
    let dims = &row["dimensions"];
    let time = dims["stat_time_day"]
        .as_str()
        .or_else(|| dims["stat_time_hour"].as_str())?;
    NaiveDate::parse_from_str(time.get(..10)?, "%Y-%m-%d").ok()
}

fn row_account(row: &Value) -> Option<u64> {
    let id = &row["metrics"]["advertiser_id"];
    id.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| id.as_u64())
        .or_else(|| row["dimensions"]["advertiser_id"].as_str()?.parse().ok())
}

/// Zeroes every figure of the row but those of `keep` (which read `-` when `dash`). Text and
/// id metrics are left alone.
fn only(row: &mut Value, keep: &[String], dash: bool) {
    let Some(metrics) = row.get_mut("metrics").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, value) in metrics.iter_mut() {
        if name.ends_with("_id") {
            continue;
        }
        if keep.iter().any(|k| k == name) {
            if dash {
                *value = json!("-");
            }
            continue;
        }
        *value = match &*value {
            Value::Number(_) => json!(0),
            Value::String(s) => match s.parse::<f64>() {
                Ok(_) => {
                    let decimals = s.split_once('.').map_or(0, |(_, f)| f.len());
                    json!(format!("{:.*}", decimals, 0.0))
                }
                Err(_) => continue,
            },
            _ => continue,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_day_shows_only_the_kept_metrics_and_totals_may_read_a_dash() {
        let data = json!({"list": [
            {"dimensions": {"stat_time_day": "2024-06-02 00:00:00", "advertiser_id": "7"},
             "metrics": {"spend": "1.20", "impressions": "30", "conversion": "2", "campaign_name": "x"}},
            {"dimensions": {"stat_time_day": "2024-06-03 00:00:00", "advertiser_id": "7"},
             "metrics": {"spend": "1.20", "impressions": 30, "conversion": "2"}},
        ], "page_info": {"total_number": 2}});
        let day = NaiveDate::from_ymd_opt(2024, 6, 2).unwrap();
        let switch = Disagreement::OnlyMetrics {
            day,
            keep: vec!["conversion".into()],
            dash_in_totals: true,
        };
        let ad = params(&[("data_level", "AUCTION_AD")]);
        let out: Value = serde_json::from_slice(&apply(
            std::slice::from_ref(&switch),
            &ad,
            data.to_string().into_bytes(),
        ))
        .unwrap();
        assert_eq!(
            out["list"][0]["metrics"],
            json!({"spend": "0.00", "impressions": "0", "conversion": "2", "campaign_name": "x"})
        );
        assert_eq!(out["list"][1], data["list"][1]);
        let adv = params(&[("data_level", "AUCTION_ADVERTISER")]);
        let out: Value =
            serde_json::from_slice(&apply(&[switch], &adv, data.to_string().into_bytes())).unwrap();
        assert_eq!(out["list"][0]["metrics"]["conversion"], "-");
    }

    #[test]
    fn an_account_is_left_out_of_multi_account_answers_only() {
        let data = json!({"list": [
            {"dimensions": {"advertiser_id": "7"}, "metrics": {"advertiser_id": "7", "spend": "1"}},
            {"dimensions": {"advertiser_id": "8"}, "metrics": {"advertiser_id": "8", "spend": "1"}},
        ], "page_info": {"total_number": 2}});
        let switch = [Disagreement::AccountLeftOut { advertiser_id: 7 }];
        let batch = params(&[("advertiser_ids", "[\"7\",\"8\"]")]);
        let out: Value =
            serde_json::from_slice(&apply(&switch, &batch, data.to_string().into_bytes())).unwrap();
        assert_eq!(out["list"].as_array().unwrap().len(), 1);
        assert_eq!(out["page_info"]["total_number"], 1);
        let alone = params(&[("advertiser_id", "7")]);
        let out: Value =
            serde_json::from_slice(&apply(&switch, &alone, data.to_string().into_bytes())).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn capped_totals_lose_their_daily_rows_only() {
        let data = json!({"list": [{"dimensions": {"stat_time_day": "2024-06-02 00:00:00"},
            "metrics": {"spend": "1"}}], "page_info": {"total_number": 1}});
        let switch = [Disagreement::TotalsOverCap { advertiser_id: 7 }];
        let daily = params(&[
            ("advertiser_id", "7"),
            ("data_level", "AUCTION_ADVERTISER"),
            ("dimensions", "[\"advertiser_id\",\"stat_time_day\"]"),
        ]);
        let out: Value =
            serde_json::from_slice(&apply(&switch, &daily, data.to_string().into_bytes())).unwrap();
        assert!(out["list"].as_array().unwrap().is_empty());
        let lifetime = params(&[
            ("advertiser_id", "7"),
            ("data_level", "AUCTION_ADVERTISER"),
            ("dimensions", "[\"advertiser_id\"]"),
        ]);
        let out: Value =
            serde_json::from_slice(&apply(&switch, &lifetime, data.to_string().into_bytes()))
                .unwrap();
        assert_eq!(out, data);
    }
}
