//! What a config chooses about the report streams of the table, and what follows from it: the
//! metric groups added to every report's standard metrics (`advanced.metric_groups`, each a set
//! of sections of TikTok's Metrics page) and the layout of report records
//! (`advanced.record_layout`: TikTok's nested `metrics` object, or each metric at the top level
//! under a name that never collides with a key). The registry applies both to the requests and
//! schemas of the table's reports; the record path reads the layout from the report.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::metric_catalog::{self, Group, ReportShape};
use super::metrics::{self, Breakdown, Granularity, Level, ReportType};
use crate::error::{Error, Result};

/// A group of report metrics added to every report stream where TikTok serves them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MetricGroup {
    /// Website (pixel) events: page views, cart, checkout, payment, leads; costs, rates, values.
    Website,
    /// TikTok Shop and on-TikTok events: Shop orders and revenue, onsite purchases, forms.
    TiktokShop,
    /// App events (installs, purchases, retention, ad revenue) and Native Growth (mini apps).
    App,
    /// SKAdNetwork (iOS 14 and later) app events as Apple reports them.
    Skan,
    /// Offline (store and CRM) events uploaded to TikTok: purchases, leads, visits, values.
    Offline,
    /// Clicks and social engagement: profile visits, likes, comments, shares, follows.
    Engagement,
    /// Video plays: 2- and 6-second views, quartiles, watch time, focused views.
    Video,
    /// LIVE: viewers, watch time and interactions of LIVE streams.
    Live,
    /// Interactive add-ons, playable ads and instant experiences.
    Interactive,
    /// Click- and view-through attribution of conversions and events.
    Attribution,
    /// Conversations started in TikTok direct messages and instant messaging apps.
    Messaging,
    /// Every group above.
    All,
}

impl MetricGroup {
    /// Every group, in the order of the form.
    pub const EVERY: [MetricGroup; 12] = [
        MetricGroup::Website,
        MetricGroup::TiktokShop,
        MetricGroup::App,
        MetricGroup::Skan,
        MetricGroup::Offline,
        MetricGroup::Engagement,
        MetricGroup::Video,
        MetricGroup::Live,
        MetricGroup::Interactive,
        MetricGroup::Attribution,
        MetricGroup::Messaging,
        MetricGroup::All,
    ];

    /// The config value.
    pub fn as_config(self) -> &'static str {
        match self {
            MetricGroup::Website => "website",
            MetricGroup::TiktokShop => "tiktok_shop",
            MetricGroup::App => "app",
            MetricGroup::Skan => "skan",
            MetricGroup::Offline => "offline",
            MetricGroup::Engagement => "engagement",
            MetricGroup::Video => "video",
            MetricGroup::Live => "live",
            MetricGroup::Interactive => "interactive",
            MetricGroup::Attribution => "attribution",
            MetricGroup::Messaging => "messaging",
            MetricGroup::All => "all",
        }
    }

    /// The group a config value names, if any.
    pub fn from_config(value: &str) -> Option<MetricGroup> {
        Self::EVERY.into_iter().find(|g| g.as_config() == value)
    }

    /// The sections of TikTok's Metrics page the group adds. The attribute and core sections
    /// are never added whole: the standard metrics ask what reports need of them.
    pub(crate) fn sections(self) -> &'static [Group] {
        match self {
            MetricGroup::Website => &[Group::Website],
            MetricGroup::TiktokShop => &[Group::Shop, Group::Onsite, Group::Product],
            MetricGroup::App => &[Group::App, Group::NativeGrowth],
            MetricGroup::Skan => &[Group::Skan],
            MetricGroup::Offline => &[Group::Offline],
            MetricGroup::Engagement => &[Group::Clicks, Group::Social],
            MetricGroup::Video => &[Group::Video, Group::Image],
            MetricGroup::Live => &[Group::Live],
            MetricGroup::Interactive => &[
                Group::InteractiveAddOns,
                Group::Playable,
                Group::InstantExperience,
            ],
            MetricGroup::Attribution => &[Group::Attribution],
            MetricGroup::Messaging => &[Group::Messaging],
            MetricGroup::All => &[
                Group::Website,
                Group::Shop,
                Group::Onsite,
                Group::Product,
                Group::App,
                Group::NativeGrowth,
                Group::Skan,
                Group::Offline,
                Group::Clicks,
                Group::Social,
                Group::Video,
                Group::Image,
                Group::Live,
                Group::InteractiveAddOns,
                Group::Playable,
                Group::InstantExperience,
                Group::Attribution,
                Group::Messaging,
            ],
        }
    }
}

/// How report records carry their metrics (`advanced.record_layout`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordLayout {
    /// TikTok's shape: every metric in one metrics object (one JSON column in a warehouse).
    #[default]
    Nested,
    /// Each metric a typed top-level field; one named like a key field becomes metric_<name>.
    // The text above is the form's description too (pinned by the spec snapshots), so it names
    // the prefix without rustdoc's code marks.
    #[allow(rustdoc::invalid_html_tags)]
    Flat,
}

impl RecordLayout {
    /// The config value.
    pub fn as_config(self) -> &'static str {
        match self {
            RecordLayout::Nested => "nested",
            RecordLayout::Flat => "flat",
        }
    }
}

/// The prefix of a flat metric whose name is a top-level field of the record.
pub(crate) const FLAT_COLLISION_PREFIX: &str = "metric_";

/// The top-level field of a metric in a flat record whose other top-level fields are the
/// report's `dimensions`, `advertiser_id` and the `dimensions` object.
pub(crate) fn flat_field<'a>(metric: &'a str, dimensions: &[String]) -> Cow<'a, str> {
    let collides = metric == "advertiser_id"
        || metric == "dimensions"
        || dimensions.iter().any(|d| d == metric);
    if collides {
        Cow::Owned(format!("{FLAT_COLLISION_PREFIX}{metric}"))
    } else {
        Cow::Borrowed(metric)
    }
}

/// What a config chooses about the table's reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// The groups added to the standard metrics, without repeats; empty asks the standard set.
    pub metric_groups: Vec<MetricGroup>,
    pub record_layout: RecordLayout,
}

impl ReportOptions {
    /// The standard metrics in TikTok's nested shape: what a config without either option gets.
    pub(crate) const STANDARD: ReportOptions = ReportOptions {
        metric_groups: Vec::new(),
        record_layout: RecordLayout::Nested,
    };

    /// The options of `advanced.metric_groups` and `advanced.record_layout` (either unset takes
    /// its default), or an error naming the value and the valid ones.
    pub(crate) fn from_config(
        metric_groups: Option<Vec<String>>,
        record_layout: Option<String>,
    ) -> Result<ReportOptions> {
        let mut groups: Vec<MetricGroup> = Vec::new();
        for (n, value) in metric_groups.unwrap_or_default().iter().enumerate() {
            let Some(group) = MetricGroup::from_config(value) else {
                let valid: Vec<&str> = MetricGroup::EVERY.iter().map(|g| g.as_config()).collect();
                return Err(Error::config(format!(
                    "Config field `advanced.metric_groups[{n}]` is {value:?}, which is not a metric \
                     group: use any of {}, or leave the list empty for the standard metrics.",
                    valid.join(", ")
                )));
            };
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        let record_layout = match record_layout.as_deref() {
            None | Some("nested") => RecordLayout::Nested,
            Some("flat") => RecordLayout::Flat,
            Some(other) => {
                return Err(Error::config(format!(
                    "Config field `advanced.record_layout` is {other:?}: use \"nested\" (the \
                     default: every metric in one `metrics` object) or \"flat\" (each metric its \
                     own top-level field)."
                )))
            }
        };
        Ok(ReportOptions {
            metric_groups: groups,
            record_layout,
        })
    }

    /// Whether reports get the table's own requests and schema files.
    pub(crate) fn is_standard(&self) -> bool {
        self.metric_groups.is_empty() && self.record_layout == RecordLayout::Nested
    }

    /// Whether the groups add a section of TikTok's page.
    pub(crate) fn adds(&self, section: Group) -> bool {
        self.metric_groups
            .iter()
            .any(|g| g.sections().contains(&section))
    }
}

/// The metrics a report of the table asks under a config's metric groups: the standard ones
/// ([`metrics::metrics_for`]) but a funnel metric the catalog says TikTok does not serve in a
/// report of this shape, then, in the order of TikTok's Metrics page, every metric of the groups'
/// sections that TikTok serves in it (the catalog's restrictions) and that the table does not
/// leave out of it, once each.
pub(crate) fn requested_metrics(
    report_type: ReportType,
    level: Level,
    granularity: Granularity,
    breakdown: Breakdown,
    options: &ReportOptions,
) -> Vec<&'static str> {
    let shape = ReportShape {
        report_type,
        level,
        granularity,
        breakdown: breakdown != Breakdown::None,
    };
    let mut out = metrics::metrics_for(report_type, level, granularity, breakdown);
    out.retain(|m| !metrics::FUNNEL.contains(m) || metric_catalog::check(m, shape).is_ok());
    if options.metric_groups.is_empty() {
        return out;
    }
    let asked: std::collections::HashSet<&str> = out.iter().copied().collect();
    // TikTok's table leaves purchases out of the ad-level BASIC report by country.
    let left_out = |m: &str| {
        (report_type, level, breakdown) == (ReportType::Basic, Level::Ad, Breakdown::Country)
            && metrics::NOT_BY_COUNTRY.contains(&m)
    };
    out.extend(
        metric_catalog::all()
            .iter()
            .filter(|m| options.adds(m.group) && m.rule.allows(shape))
            .map(|m| m.name)
            .filter(|m| !asked.contains(m) && !left_out(m)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::metric_catalog;

    #[test]
    fn every_group_has_its_config_name_and_serde_agrees() {
        for group in MetricGroup::EVERY {
            assert_eq!(MetricGroup::from_config(group.as_config()), Some(group));
            assert_eq!(
                serde_json::to_value(group).unwrap(),
                serde_json::json!(group.as_config())
            );
        }
        assert_eq!(MetricGroup::from_config("websites"), None);
        assert_eq!(MetricGroup::from_config("Website"), None);
    }

    #[test]
    fn all_is_every_other_group_and_no_group_adds_attributes_or_core() {
        let mut union: Vec<Group> = MetricGroup::EVERY
            .into_iter()
            .filter(|g| *g != MetricGroup::All)
            .flat_map(|g| g.sections().iter().copied())
            .collect();
        union.sort_by_key(|g| format!("{g:?}"));
        union.dedup();
        let mut all = MetricGroup::All.sections().to_vec();
        all.sort_by_key(|g| format!("{g:?}"));
        assert_eq!(union, all);
        // Every section but the attributes and the core is some group's.
        for section in metric_catalog::Group::ALL {
            let expected = !matches!(section, Group::Attribute | Group::Core);
            assert_eq!(all.contains(&section), expected, "{section:?}");
        }
    }

    #[test]
    fn the_form_explains_each_group_in_one_line() {
        let schema = serde_json::to_value(schemars::schema_for!(MetricGroup)).unwrap();
        let variants = schema["oneOf"].as_array().expect("one entry per group");
        assert_eq!(variants.len(), MetricGroup::EVERY.len());
        for variant in variants {
            let description = variant["description"].as_str().unwrap_or_default();
            assert!(!description.is_empty(), "{variant}");
            assert!(!description.contains('\n'), "{variant}");
        }
    }

    #[test]
    fn config_values_become_options_and_unknown_ones_are_refused_naming_the_valid_ones() {
        let standard = ReportOptions::from_config(None, None).unwrap();
        assert_eq!(standard, ReportOptions::STANDARD);
        assert!(standard.is_standard());
        let chosen = ReportOptions::from_config(
            Some(vec!["website".into(), "skan".into(), "website".into()]),
            Some("flat".into()),
        )
        .unwrap();
        assert_eq!(
            chosen.metric_groups,
            vec![MetricGroup::Website, MetricGroup::Skan]
        );
        assert_eq!(chosen.record_layout, RecordLayout::Flat);
        assert!(!chosen.is_standard());
        let err = ReportOptions::from_config(Some(vec!["app".into(), "shop".into()]), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("advanced.metric_groups[1]"), "{err}");
        assert!(err.contains("\"shop\""), "{err}");
        for group in MetricGroup::EVERY {
            assert!(err.contains(group.as_config()), "{err}");
        }
        let err = ReportOptions::from_config(None, Some("columns".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("advanced.record_layout"), "{err}");
        assert!(err.contains("\"columns\""), "{err}");
        assert!(err.contains("\"flat\""), "{err}");
    }

    #[test]
    fn flat_metrics_named_like_a_top_level_field_are_prefixed() {
        let dims = vec!["campaign_id".to_string(), "stat_time_day".to_string()];
        assert_eq!(flat_field("spend", &dims), "spend");
        assert_eq!(flat_field("campaign_id", &dims), "metric_campaign_id");
        assert_eq!(flat_field("advertiser_id", &dims), "metric_advertiser_id");
        assert_eq!(flat_field("dimensions", &dims), "metric_dimensions");
        // A prefixed name can never be a documented metric's own.
        for metric in metric_catalog::all() {
            assert!(
                !metric.name.starts_with(FLAT_COLLISION_PREFIX),
                "{}",
                metric.name
            );
        }
    }
}
