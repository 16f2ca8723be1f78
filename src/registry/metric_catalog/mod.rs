//! The metric catalog: every report metric TikTok documents, one row each (in `rows/`, a file per
//! section, in the order of TikTok's Metrics page, portal doc 1751443967255553), with the section
//! of the page it belongs to, its value type, whether it adds up across rows and days, the
//! restrictions TikTok states for it (data levels, report types, hourly and lifetime, dimension
//! groupings) and the TikTok page each row comes from. It is the one source of a metric's type in
//! records and schemas (through [`metric_type`]) and of the metric checks of custom
//! reports ([`check`]); a name is looked up through an index built on first use.

mod row;
mod rows;

use std::collections::HashMap;
use std::sync::OnceLock;

use super::metrics::{Granularity, Level, MetricType, ReportType};
pub(crate) use row::{Dimensions, Group, Metric, Rule, ValueType};

/// Every documented metric, in the order of TikTok's page.
pub(crate) fn all() -> &'static [Metric] {
    rows::METRICS
}

/// The name index. Records look up every metric of every row, so it hashes with FxHash
/// (rustc-hash: a few instructions a word) rather than the standard SipHash, which made typing
/// report rows cost four times the old per-level lists. Its keys are this table's own names, so
/// no outside input can choose colliding keys, which is all SipHash would guard against here.
type Index = HashMap<&'static str, &'static Metric, rustc_hash::FxBuildHasher>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| rows::METRICS.iter().map(|m| (m.name, m)).collect())
}

/// The type of a metric by name, from the catalog. Names TikTok does not document are `None`:
/// custom reports cannot ask for them (validation refuses them), and a column TikTok adds to an
/// answer unasked is emitted as sent, as a string.
pub(crate) fn metric_type(name: &str) -> Option<MetricType> {
    lookup(name).map(|metric| metric.value_type.json_type())
}

/// The catalog's row of a metric, if TikTok documents it.
pub(crate) fn lookup(name: &str) -> Option<&'static Metric> {
    index().get(name).copied()
}

/// Why a metric cannot be asked in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// TikTok does not document the name.
    Undocumented,
    /// TikTok documents the metric as unsupported in this report: what it says, and where.
    Unsupported(&'static str),
}

/// The shape of a report a metric is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReportShape {
    pub(crate) report_type: ReportType,
    pub(crate) level: Level,
    pub(crate) granularity: Granularity,
    /// Whether the report has a breakdown dimension (country_code or an audience dimension).
    pub(crate) breakdown: bool,
}

impl Rule {
    /// Whether TikTok serves the metric in a report of this shape.
    pub(crate) fn allows(&self, report: ReportShape) -> bool {
        self.levels.contains(&report.level)
            && self.report_types.contains(&report.report_type)
            && self.granularities.contains(&report.granularity)
            && match self.dimensions {
                Dimensions::Any => true,
                Dimensions::IdAndDay => !report.breakdown,
                Dimensions::ImageId => false,
            }
    }
}

/// Checks a metric a report asks for against what TikTok documents.
pub(crate) fn check(name: &str, report: ReportShape) -> Result<&'static Metric, Refusal> {
    let metric = lookup(name).ok_or(Refusal::Undocumented)?;
    if metric.rule.allows(report) {
        Ok(metric)
    } else {
        Err(Refusal::Unsupported(metric.rule.stated))
    }
}

/// Up to `n` documented names closest to `name` (fewest edits first, then TikTok's order)
/// among those `keep` accepts, for "did you mean" hints.
pub(crate) fn nearest(name: &str, n: usize, keep: impl Fn(&Metric) -> bool) -> Vec<&'static str> {
    let mut scored: Vec<(usize, usize, &'static str)> = rows::METRICS
        .iter()
        .enumerate()
        .filter(|(_, m)| m.name != name && keep(m))
        .map(|(order, m)| (strsim::levenshtein(name, m.name), order, m.name))
        .collect();
    scored.sort_unstable();
    scored.into_iter().take(n).map(|(_, _, m)| m).collect()
}

#[cfg(test)]
mod tests;
