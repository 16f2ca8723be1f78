//! The catalog against TikTok's statements, and apart from the connector's tables.

use super::*;

#[test]
fn every_name_is_listed_once_and_typed() {
    let mut seen = std::collections::HashSet::new();
    for name in documented() {
        assert!(seen.insert(name), "{name} listed twice");
        assert!(metric_type(name).is_some(), "{name} has no type");
    }
    assert!(seen.len() > 1_000, "{}", seen.len());
    assert_eq!(metric_type("mobile_app_id"), Some(MetricType::Text));
    assert_eq!(metric_type("campaign_id"), Some(MetricType::Id));
    assert_eq!(metric_type("spend"), Some(MetricType::Number));
    assert_eq!(
        metric_type("complete_payment_roas"),
        Some(MetricType::Number)
    );
    assert_eq!(metric_type("made_up_metric"), None);
    assert_eq!(section_of("onsite_shopping_roas"), Some(Section::Shop));
    assert_eq!(section_of("web_event_add_to_cart"), Some(Section::Website));
    assert_eq!(section_of("skan_total_purchase"), Some(Section::Skan));
}

#[test]
fn every_rule_row_names_documented_metrics_and_cites_the_page() {
    for (metrics, cite) in rules::rows() {
        assert!(!metrics.is_empty());
        for m in metrics {
            assert!(section_of(m).is_some(), "{m} in a rule but not on the page");
        }
        assert!(cite.contains("portal doc 1751443967255553, §"), "{cite}");
        let section = cite.split('§').nth(1).unwrap().trim_end_matches(')');
        assert!(
            metrics
                .iter()
                .all(|m| section_of(m).unwrap().title() == section),
            "{metrics:?} cite §{section}"
        );
    }
    for (name, page) in page::OTHER_PAGES {
        assert!(citation(name).unwrap().starts_with(page), "{name}");
        assert!(page.contains("portal doc"), "{page}");
    }
    assert_eq!(
        citation("complete_payment_roas").as_deref(),
        Some(
            "TikTok's Metrics page (portal doc 1751443967255553); \
             §Conversions metrics > Website metrics"
        )
    );
}

fn shape(report_type: ReportType, level: Level, granularity: Granularity) -> ReportShape {
    ReportShape {
        report_type,
        level,
        granularity,
        breakdown: false,
    }
}

#[test]
fn restrictions_refuse_what_tiktok_says_is_unsupported() {
    use Granularity as G;
    use Level as L;
    use ReportType as R;
    let refused =
        |m: &str, s: ReportShape| matches!(check_metric(m, s), Err(Refusal::Unsupported(_)));
    // Attribute metrics below their level.
    assert!(refused(
        "campaign_name",
        shape(R::Basic, L::Advertiser, G::Day)
    ));
    assert!(check_metric("campaign_name", shape(R::Basic, L::Campaign, G::Day)).is_ok());
    assert!(refused(
        "adgroup_name",
        shape(R::Basic, L::Campaign, G::Day)
    ));
    assert!(refused("ad_name", shape(R::Basic, L::AdGroup, G::Day)));
    assert!(check_metric("ad_name", shape(R::Audience, L::Ad, G::Day)).is_ok());
    assert!(refused("is_aco", shape(R::Basic, L::Ad, G::Day)));
    // Cash and voucher spend: advertiser level, by day, BASIC.
    assert!(check_metric("cash_spend", shape(R::Basic, L::Advertiser, G::Day)).is_ok());
    for s in [
        shape(R::Basic, L::Advertiser, G::Hour),
        shape(R::Basic, L::Advertiser, G::Lifetime),
        shape(R::Basic, L::Campaign, G::Day),
        shape(R::Audience, L::Advertiser, G::Day),
    ] {
        assert!(refused("voucher_spend", s), "{s:?}");
    }
    // billed_cost: BASIC only.
    assert!(refused("billed_cost", shape(R::Audience, L::Ad, G::Day)));
    assert!(check_metric("billed_cost", shape(R::Basic, L::Ad, G::Hour)).is_ok());
    // Paid focused views: one id dimension, alone or by day.
    let mut by_country = shape(R::Basic, L::Ad, G::Day);
    by_country.breakdown = true;
    assert!(refused("paid_engaged_view", by_country));
    assert!(refused(
        "paid_engaged_view",
        shape(R::Basic, L::Ad, G::Hour)
    ));
    assert!(check_metric("paid_engaged_view", shape(R::Basic, L::Ad, G::Day)).is_ok());
    assert!(refused("new_consideration_size", by_country));
    assert!(refused(
        "cost_per_consideration",
        shape(R::Basic, L::Campaign, G::Hour)
    ));
    assert!(check_metric(
        "new_consideration_rate",
        shape(R::Basic, L::Campaign, G::Lifetime)
    )
    .is_ok());
    // Single-image metrics need image_id, which these reports do not have.
    assert!(refused("single_image_ctr", shape(R::Basic, L::Ad, G::Day)));
    // The funnel everywhere TikTok states no restriction.
    for level in [L::Advertiser, L::Campaign, L::AdGroup, L::Ad] {
        for m in [
            "complete_payment_roas",
            "onsite_shopping",
            "initiate_checkout",
        ] {
            assert!(
                check_metric(m, shape(R::Basic, level, G::Day)).is_ok(),
                "{m}"
            );
        }
    }
    assert_eq!(
        check_metric("complete_payment_roass", shape(R::Basic, L::Ad, G::Day)),
        Err(Refusal::Undocumented)
    );
}

#[test]
fn sample_requests_are_wide_and_served() {
    for level in [
        Level::Advertiser,
        Level::Campaign,
        Level::AdGroup,
        Level::Ad,
    ] {
        let metrics = sample_metrics(ReportType::Basic, level, Granularity::Day, Breakdown::None);
        assert!(metrics.len() > 90, "{level:?}: {}", metrics.len());
        assert!(metrics.len() <= crate::MetricRules::DEFAULT_MAX_METRICS);
        assert!(metrics.contains(&"spend") && metrics.contains(&"video_play_actions"));
    }
}

/// The string lists (`&[...]` of three or more string literals) of a Rust source, each as its
/// names in order.
fn string_lists(source: &str) -> Vec<Vec<String>> {
    let mut lists = Vec::new();
    for chunk in source.split("&[").skip(1) {
        let Some(body) = chunk.split(']').next() else {
            continue;
        };
        let items: Vec<&str> = body
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty() && !i.starts_with("//"))
            .collect();
        let names: Vec<String> = items
            .iter()
            .filter_map(|i| i.strip_prefix('"').and_then(|i| i.strip_suffix('"')))
            .map(String::from)
            .collect();
        if names.len() >= 3 && names.len() == items.len() {
            lists.push(names);
        }
    }
    lists
}

/// Every `.rs` file under `dir`, with its text.
fn rust_sources(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
    out
}

fn crate_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The connector's metric tables (`src/registry/` of the workspace root, two levels up).
fn connector_registry() -> Vec<(std::path::PathBuf, String)> {
    let dir = crate_dir().join("../../src/registry");
    let sources = rust_sources(&dir);
    assert!(
        sources
            .iter()
            .any(|(_, text)| text.contains("m!(\"spend\"")),
        "the connector's metric catalog moved: point this test at it ({})",
        dir.display()
    );
    sources
}

#[test]
fn the_simulator_shares_no_table_with_the_connector() {
    // No dependency on the connector: its tables cannot be imported.
    let manifest = std::fs::read_to_string(crate_dir().join("Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap_or_default();
    assert!(
        !deps.contains("source-tiktok-marketing") && !deps.contains("path = \"../.."),
        "the simulator depends on the connector"
    );
    let ours = rust_sources(&crate_dir().join("src"));
    let theirs = connector_registry();
    // No file copied.
    for (path, text) in &ours {
        for (their_path, their_text) in &theirs {
            assert_ne!(
                text,
                their_text,
                "{} is {}",
                path.display(),
                their_path.display()
            );
        }
    }
    // No list of metric names copied: the connector's per-level lists and the simulator's
    // sections and rules.
    let metric_list = |l: &Vec<String>| l.iter().filter(|n| section_of(n).is_some()).count() >= 3;
    let their_lists: Vec<Vec<String>> = theirs
        .iter()
        .flat_map(|(_, t)| string_lists(t))
        .filter(metric_list)
        .collect();
    assert!(
        their_lists.len() >= 5,
        "the connector's lists were not read"
    );
    for (path, text) in &ours {
        for list in string_lists(text).into_iter().filter(metric_list) {
            assert!(
                !their_lists.contains(&list),
                "{} holds a list of the connector's: {list:?}",
                path.display()
            );
        }
    }
}

#[test]
fn the_simulator_knows_every_metric_the_connector_may_ask() {
    // The connector's catalog rows are `m!("name", ...)`, wherever they are under
    // `src/registry/`: every one of them must be a name TikTok's page lists, or the connector
    // asks for something TikTok would refuse.
    let theirs = connector_registry();
    let names: Vec<&str> = theirs
        .iter()
        .flat_map(|(_, text)| text.split("m!(\"").skip(1))
        .filter_map(|r| r.split('"').next())
        .filter(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(names.len() > 1_000, "{}", names.len());
    let unknown: Vec<&&str> = names.iter().filter(|n| section_of(n).is_none()).collect();
    assert!(
        unknown.is_empty(),
        "TikTok's page does not list {unknown:?}"
    );
}

#[test]
fn each_level_reads_its_own_row_of_tiktoks_names() {
    for level in [
        Level::Advertiser,
        Level::Campaign,
        Level::AdGroup,
        Level::Ad,
    ] {
        assert_eq!(
            level.names().level,
            level,
            "LEVELS is out of the enum's order"
        );
        assert_eq!(Level::from_data_level(level.data_level()), Some(level));
    }
    assert_eq!(Level::AdGroup.id_field(), "adgroup_id");
    assert_eq!(Level::Advertiser.status_filter_field(), None);
    assert_eq!(Level::from_data_level("AUCTION_ADVERTISERS"), None);
}
