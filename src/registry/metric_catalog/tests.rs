//! Invariants of the metric catalog, and its agreement with the streams' metric lists and
//! schema files.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::row::{Group, ValueType, ANY};
use super::*;
use crate::registry::{Breakdown, Kind, STREAMS};

fn shape(report_type: ReportType, level: Level, granularity: Granularity) -> ReportShape {
    ReportShape {
        report_type,
        level,
        granularity,
        breakdown: false,
    }
}

#[test]
fn names_are_unique_snake_case_and_about_a_thousand() {
    let mut seen = HashSet::new();
    for metric in all() {
        assert!(seen.insert(metric.name), "{} is listed twice", metric.name);
        assert!(
            !metric.name.is_empty()
                && metric
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{:?} is not a metric name",
            metric.name
        );
    }
    assert!(all().len() >= 1_040, "{} metrics", all().len());
}

#[test]
fn every_row_is_found_by_name_and_nothing_else_is() {
    for metric in all() {
        assert_eq!(lookup(metric.name), Some(metric));
    }
    for name in [
        "",
        "made_up_metric",
        "Spend",
        "spend ",
        "cost_per_result_v2",
    ] {
        assert_eq!(lookup(name), None, "{name:?}");
    }
}

#[test]
fn rows_follow_the_sections_of_tiktoks_page_in_order() {
    let mut order = Vec::new();
    for metric in all() {
        if order.last() != Some(&metric.group) {
            assert!(
                !order.contains(&metric.group),
                "{}: the section {:?} appears twice",
                metric.name,
                metric.group
            );
            order.push(metric.group);
        }
    }
    assert_eq!(order, Group::ALL.to_vec());
}

#[test]
fn only_totals_and_counts_add_up() {
    for metric in all() {
        if metric.additive {
            assert!(
                matches!(metric.value_type, ValueType::Money | ValueType::Count),
                "{} is additive but a {:?}",
                metric.name,
                metric.value_type
            );
            // TikTok's one value named like a rate: "Purchase value (website)".
            let ratio_name = metric.name.starts_with("cost_per")
                || metric.name.starts_with("value_per")
                || metric.name.ends_with("_rate")
                || metric.name.contains("roas");
            assert!(
                !ratio_name || metric.name == "total_complete_payment_rate",
                "{} is a ratio and cannot add up",
                metric.name
            );
        }
        assert!(
            metric.group != Group::Attribute || !metric.additive,
            "{}",
            metric.name
        );
    }
    let additive = |name: &str| lookup(name).unwrap().additive;
    for name in [
        "spend",
        "impressions",
        "clicks",
        "conversion",
        "complete_payment",
    ] {
        assert!(additive(name), "{name}");
    }
    assert!(additive("total_complete_payment_rate"));
    for name in [
        "ctr",
        "cpc",
        "reach",
        "frequency",
        "complete_payment_roas",
        "purchase",
    ] {
        assert!(!additive(name), "{name}");
    }
}

#[test]
fn value_types_give_the_json_types_of_records() {
    let json_type = |name: &str| lookup(name).unwrap().value_type.json_type();
    assert_eq!(json_type("complete_payment_roas"), MetricType::Number);
    assert_eq!(json_type("spend"), MetricType::Number);
    assert_eq!(json_type("average_video_play"), MetricType::Number);
    assert_eq!(json_type("campaign_id"), MetricType::Id);
    assert_eq!(json_type("tt_app_id"), MetricType::Id);
    // Ids that are not TikTok's numbers stay text: an app store id, a video id.
    assert_eq!(json_type("mobile_app_id"), MetricType::Text);
    assert_eq!(json_type("video_id"), MetricType::Text);
    assert_eq!(json_type("currency"), MetricType::Text);
}

#[test]
fn every_metric_a_stream_requests_is_documented_with_its_schema_type() {
    for def in STREAMS {
        let Kind::Report(r) = def.kind else { continue };
        let schema: Value = serde_json::from_str(def.schema).unwrap();
        let declared = &schema["properties"]["metrics"]["properties"];
        let report = ReportShape {
            report_type: r.report_type,
            level: r.level,
            granularity: r.granularity,
            breakdown: r.breakdown != Breakdown::None,
        };
        let requested = crate::registry::metrics::metrics_for(
            r.report_type,
            r.level,
            r.granularity,
            r.breakdown,
        );
        for name in requested {
            let metric = check(name, report)
                .unwrap_or_else(|refusal| panic!("{}: {name} is {refusal:?}", def.name));
            let expected = match metric.value_type.json_type() {
                MetricType::Number => json!(["number", "null"]),
                MetricType::Id => json!(["integer", "null"]),
                MetricType::Text => json!(["string", "null"]),
            };
            assert_eq!(declared[name]["type"], expected, "{}: {name}", def.name);
        }
    }
}

#[test]
fn stated_restrictions_refuse_what_tiktok_does_not_serve() {
    use Granularity as G;
    use Level as L;
    use ReportType as R;
    let refused = |name: &str, report: ReportShape| {
        let refusal = check(name, report);
        matches!(refusal, Err(Refusal::Unsupported(stated)) if !stated.is_empty())
    };
    // Cash and voucher spend: advertiser level, by day, BASIC.
    assert!(check("cash_spend", shape(R::Basic, L::Advertiser, G::Day)).is_ok());
    assert!(refused("cash_spend", shape(R::Basic, L::Campaign, G::Day)));
    assert!(refused(
        "voucher_spend",
        shape(R::Basic, L::Advertiser, G::Hour)
    ));
    assert!(refused(
        "voucher_spend",
        shape(R::Basic, L::Advertiser, G::Lifetime)
    ));
    // Attributes exist from their own level down.
    assert!(refused(
        "campaign_name",
        shape(R::Basic, L::Advertiser, G::Day)
    ));
    assert!(check("campaign_name", shape(R::Audience, L::Campaign, G::Day)).is_ok());
    assert!(refused("campaign_id", shape(R::Basic, L::Campaign, G::Day)));
    assert!(refused(
        "adgroup_name",
        shape(R::Basic, L::Campaign, G::Day)
    ));
    assert!(check("adgroup_name", shape(R::Basic, L::Ad, G::Hour)).is_ok());
    assert!(refused("ad_name", shape(R::Basic, L::AdGroup, G::Day)));
    assert!(refused("is_aco", shape(R::Basic, L::Ad, G::Day)));
    // Net cost: synchronous BASIC reports only.
    assert!(refused("billed_cost", shape(R::Audience, L::Ad, G::Day)));
    // Paid focused views: one id dimension, alone or by day.
    let by_country = ReportShape {
        breakdown: true,
        ..shape(R::Basic, L::Ad, G::Day)
    };
    assert!(check("paid_engaged_view", shape(R::Basic, L::Ad, G::Day)).is_ok());
    assert!(check("paid_engaged_view", shape(R::Basic, L::Ad, G::Lifetime)).is_ok());
    assert!(refused("paid_engaged_view", by_country));
    assert!(refused(
        "paid_engaged_view",
        shape(R::Basic, L::Ad, G::Hour)
    ));
    assert!(check("spend", by_country).is_ok());
    // Image metrics need a dimension these reports never have.
    assert!(refused("single_image_ctr", shape(R::Basic, L::Ad, G::Day)));
    // No restriction stated: served everywhere.
    for level in [L::Advertiser, L::Campaign, L::AdGroup, L::Ad] {
        for report_type in [R::Basic, R::Audience] {
            let report = shape(report_type, level, G::Day);
            assert!(check("complete_payment_roas", report).is_ok());
            assert_eq!(check("made_up_metric", report), Err(Refusal::Undocumented));
        }
    }
}

#[test]
fn every_rule_that_refuses_says_what_tiktok_states_and_where() {
    for metric in all() {
        let rule = metric.rule;
        if *rule != ANY {
            assert!(
                rule.stated.contains("portal doc") && rule.stated.contains('§')
                    || rule.stated.contains("note"),
                "{}: {:?}",
                metric.name,
                rule.stated
            );
        }
        assert!(metric.citation().contains("portal doc"), "{}", metric.name);
    }
}

#[test]
fn nearest_names_are_the_fewest_edits_away() {
    assert_eq!(nearest("spendd", 1, |_| true), ["spend"]);
    assert_eq!(
        nearest("complete_paymnet", 1, |_| true),
        ["complete_payment"]
    );
    let hints = nearest("complete_payment_roas_v2", 3, |_| true);
    assert_eq!(hints[0], "complete_payment_roas", "{hints:?}");
    assert_eq!(hints.len(), 3);
    // The filter keeps only names the report can take, and never the name itself.
    let hints = nearest("cash_spend", 3, |m| {
        m.rule
            .allows(shape(ReportType::Basic, Level::Campaign, Granularity::Day))
    });
    assert!(
        !hints.contains(&"cash_spend") && !hints.contains(&"voucher_spend"),
        "{hints:?}"
    );
}
