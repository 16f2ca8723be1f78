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
//! - [`Disagreement::RowDropped`]: an answer at one data level leaves out a row of one account
//!   and day that the other levels and the totals count (a row lost between TikTok's systems: nothing in an
//!   answer shows it, which is what a client's reconciliation of the levels is for).
//! - [`Disagreement::BuyingTypeHidden`]: campaign, ad group and ad answers hold no row of one
//!   buying type while the advertiser's totals count it: TikTok's advertiser level holds "data
//!   of all Auction Ads and Reservation Ads" and has no `buying_type` filter, while the lower
//!   levels answer reservation (TopView) delivery only to a query that filters on its buying
//!   type ([`docs::SYNC_REPORT`], `filtering.buying_type`); a client that does not read a
//!   buying type sees totals its rows do not reach.
//!
//! [`docs::SYNC_REPORT`]: crate::rules::docs::SYNC_REPORT
//! [`docs::REPORTING_FAQ`]: crate::rules::docs::REPORTING_FAQ

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::model::{BuyingType, Model};
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
    /// Answers at `data_level` (e.g. `AUCTION_AD`) leave out their first row of `day` of the
    /// account `advertiser_id` (one account's, so that what it changes does not depend on which
    /// other accounts deliver that day).
    RowDropped {
        data_level: String,
        day: NaiveDate,
        advertiser_id: u64,
    },
    /// Campaign, ad group and ad answers leave out the rows of campaigns of `buying_type`
    /// (TikTok's name: `AUCTION`, `RESERVATION_RF`, `RESERVATION_TOP_VIEW`); the advertiser's
    /// totals still count them.
    BuyingTypeHidden { buying_type: String },
}

/// Rewrites the data of one `report/integrated/get/` answer (`{"list": [...], "page_info"}`)
/// by every switch that applies to it (`model` tells the buying type of a row's entity).
pub(crate) fn apply(
    switches: &[Disagreement],
    model: &Model,
    params: &Params,
    data: Vec<u8>,
) -> Vec<u8> {
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
            Disagreement::RowDropped {
                data_level,
                day,
                advertiser_id,
            } if params.get("data_level") == Some(data_level) => {
                let of_day = |row: &Value| {
                    row_day(row) == Some(*day)
                        && row_account(row).or(asked_alone) == Some(*advertiser_id)
                };
                if let Some(first) = rows.iter().position(of_day) {
                    rows.remove(first);
                }
            }
            Disagreement::BuyingTypeHidden { buying_type } if !advertiser_level => {
                rows.retain(|row| {
                    let account = row_account(row).or(asked_alone);
                    let of_row = account.and_then(|a| row_buying_type(model, a, row));
                    of_row.map(BuyingType::as_api) != Some(buying_type.as_str())
                });
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

/// The buying type of the campaign a row of account `advertiser_id` is about, by the
/// campaign, ad group or ad id among its dimensions (or metrics).
fn row_buying_type(model: &Model, advertiser_id: u64, row: &Value) -> Option<BuyingType> {
    let adv = model.advertiser(advertiser_id)?;
    let id_of = |field: &str| -> Option<u64> {
        [&row["dimensions"][field], &row["metrics"][field]]
            .into_iter()
            .find_map(|v| {
                v.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| v.as_u64())
            })
    };
    let campaign = if let Some(id) = id_of("ad_id") {
        adv.ads.iter().find(|a| a.id == id)?.campaign
    } else if let Some(id) = id_of("adgroup_id") {
        adv.adgroups.iter().find(|g| g.id == id)?.campaign
    } else {
        let id = id_of("campaign_id")?;
        adv.campaigns.iter().position(|c| c.id == id)? as u32
    };
    Some(adv.campaigns.get(campaign as usize)?.buying)
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
    use crate::catalog::{Level, ReportType};
    use crate::{DataShape, ReportQuery, SimConfig};

    /// A model with reach & frequency and TopView campaigns beside auction ones.
    fn model() -> Model {
        Model::new(&SimConfig {
            today: NaiveDate::from_ymd_opt(2024, 6, 30).unwrap(),
            data: DataShape {
                advertisers: 1,
                campaigns_per_advertiser: 12,
                ..Default::default()
            },
            ..SimConfig::default()
        })
    }

    /// The model's daily answer at `level` as the server sends it (`{"list", "page_info"}`),
    /// with the query's parameters.
    fn daily_answer(m: &Model, level: Level, filtering: Vec<Value>) -> (Params, Value) {
        let adv = m.advertiser_ids()[0];
        let q = ReportQuery {
            advertiser_id: adv,
            report_type: ReportType::Basic,
            level,
            dimensions: vec![level.id_field().into(), "stat_time_day".into()],
            metrics: vec!["spend".into(), "impressions".into()],
            start_date: NaiveDate::from_ymd_opt(2024, 6, 1),
            end_date: NaiveDate::from_ymd_opt(2024, 6, 30),
            lifetime: false,
            filtering,
        };
        let rows = m.report_rows(&q).unwrap();
        let answer = json!({"list": rows, "page_info": {"total_number": rows.len()}});
        let p = params(&[
            ("advertiser_id", &adv.to_string()),
            ("data_level", level.data_level()),
        ]);
        (p, answer)
    }

    fn rewritten(switch: &Disagreement, m: &Model, p: &Params, answer: &Value) -> Value {
        let out = apply(
            std::slice::from_ref(switch),
            m,
            p,
            answer.to_string().into_bytes(),
        );
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn a_dropped_row_leaves_its_level_only() {
        let m = model();
        let day = NaiveDate::from_ymd_opt(2024, 6, 20).unwrap();
        let account = m.advertiser_ids()[0];
        let switch = Disagreement::RowDropped {
            data_level: "AUCTION_AD".into(),
            day,
            advertiser_id: account,
        };
        let (p, answer) = daily_answer(&m, Level::Ad, Vec::new());
        let rows = answer["list"].as_array().unwrap();
        let first = rows.iter().position(|r| row_day(r) == Some(day)).unwrap();
        let out = rewritten(&switch, &m, &p, &answer);
        let mut expected = rows.clone();
        expected.remove(first);
        assert_eq!(out["list"], json!(expected));
        assert_eq!(out["page_info"]["total_number"], rows.len() - 1);
        for level in [Level::Advertiser, Level::Campaign, Level::AdGroup] {
            let (p, answer) = daily_answer(&m, level, Vec::new());
            assert_eq!(rewritten(&switch, &m, &p, &answer), answer, "{level:?}");
        }
        // Another account's answers keep all their rows.
        let other = Disagreement::RowDropped {
            data_level: "AUCTION_AD".into(),
            day,
            advertiser_id: account + 1,
        };
        let (p, answer) = daily_answer(&m, Level::Ad, Vec::new());
        assert_eq!(rewritten(&other, &m, &p, &answer), answer);
    }

    #[test]
    fn a_hidden_buying_type_leaves_the_lower_levels_but_not_the_totals() {
        let m = model();
        let adv = m.advertiser(m.advertiser_ids()[0]).unwrap();
        let rf: Vec<String> = adv
            .campaigns
            .iter()
            .filter(|c| c.buying == BuyingType::ReachFrequency)
            .map(|c| c.id.to_string())
            .collect();
        assert!(!rf.is_empty());
        let switch = Disagreement::BuyingTypeHidden {
            buying_type: "RESERVATION_RF".into(),
        };
        let (p, answer) = daily_answer(&m, Level::Campaign, Vec::new());
        let out = rewritten(&switch, &m, &p, &answer);
        let is_rf =
            |r: &Value| rf.contains(&r["dimensions"]["campaign_id"].as_str().unwrap().into());
        let rows = answer["list"].as_array().unwrap();
        let kept: Vec<Value> = rows.iter().filter(|r| !is_rf(r)).cloned().collect();
        assert!(kept.len() < rows.len() && !kept.is_empty());
        assert_eq!(out["list"], json!(kept));
        // Ad rows of reach & frequency campaigns go too; the advertiser's totals stay.
        let (p, answer) = daily_answer(&m, Level::Ad, Vec::new());
        let out = rewritten(&switch, &m, &p, &answer);
        let left = out["list"].as_array().unwrap();
        assert!(!left.is_empty() && left.len() < answer["list"].as_array().unwrap().len());
        assert!(left.iter().all(|r| {
            let id: u64 = r["dimensions"]["ad_id"].as_str().unwrap().parse().unwrap();
            let ad = adv.ads.iter().find(|a| a.id == id).unwrap();
            adv.campaigns[ad.campaign as usize].buying != BuyingType::ReachFrequency
        }));
        let (p, answer) = daily_answer(&m, Level::Advertiser, Vec::new());
        assert_eq!(rewritten(&switch, &m, &p, &answer), answer);
        // Hiding TopView empties the answer of a query that asks for it alone.
        let hide_topview = Disagreement::BuyingTypeHidden {
            buying_type: "RESERVATION_TOP_VIEW".into(),
        };
        let filter = json!({"field_name": "buying_type", "filter_type": "IN",
            "filter_value": "[\"RESERVATION_TOP_VIEW\"]"});
        let (p, answer) = daily_answer(&m, Level::AdGroup, vec![filter]);
        assert!(!answer["list"].as_array().unwrap().is_empty());
        let out = rewritten(&hide_topview, &m, &p, &answer);
        assert_eq!(out["list"], json!([]));
    }

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
            &model(),
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
        let out: Value = serde_json::from_slice(&apply(
            &[switch],
            &model(),
            &adv,
            data.to_string().into_bytes(),
        ))
        .unwrap();
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
        let out: Value = serde_json::from_slice(&apply(
            &switch,
            &model(),
            &batch,
            data.to_string().into_bytes(),
        ))
        .unwrap();
        assert_eq!(out["list"].as_array().unwrap().len(), 1);
        assert_eq!(out["page_info"]["total_number"], 1);
        let alone = params(&[("advertiser_id", "7")]);
        let out: Value = serde_json::from_slice(&apply(
            &switch,
            &model(),
            &alone,
            data.to_string().into_bytes(),
        ))
        .unwrap();
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
        let out: Value = serde_json::from_slice(&apply(
            &switch,
            &model(),
            &daily,
            data.to_string().into_bytes(),
        ))
        .unwrap();
        assert!(out["list"].as_array().unwrap().is_empty());
        let lifetime = params(&[
            ("advertiser_id", "7"),
            ("data_level", "AUCTION_ADVERTISER"),
            ("dimensions", "[\"advertiser_id\"]"),
        ]);
        let out: Value = serde_json::from_slice(&apply(
            &switch,
            &model(),
            &lifetime,
            data.to_string().into_bytes(),
        ))
        .unwrap();
        assert_eq!(out, data);
    }
}
