//! A report as a table row defines it ([`ReportDef`]: type, level, granularity, breakdown) and
//! as the capture engine runs it ([`ReportSpec`]: its dimensions and metrics in request order),
//! with the range totals cover, under a config's metric groups and record layout. A leaf below the
//! table: the table, the schemas and the engine import it, and it imports only the report
//! vocabulary of `metrics` and the options of `report_options`.

use serde_json::Value;

use super::metrics::{Breakdown, Granularity, Level, ReportType};
use super::report_options::{self, RecordLayout, ReportOptions};

/// A report resource of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportDef {
    pub(crate) report_type: ReportType,
    pub(crate) level: Level,
    pub(crate) granularity: Granularity,
    pub(crate) breakdown: Breakdown,
}

/// A report as the capture engine runs it: a row of the table or a custom report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSpec {
    pub report_type: ReportType,
    pub level: Level,
    pub granularity: Granularity,
    /// Every dimension in request order: the level id, the time dimension, the breakdowns.
    pub dimensions: Vec<String>,
    pub metrics: Vec<String>,
    /// Filters the user added (custom reports); the deleted-entities filter is added at request
    /// time from `include_deleted`.
    pub filtering: Vec<Value>,
    /// Where records carry the metrics (`advanced.record_layout`).
    pub layout: RecordLayout,
}

impl ReportSpec {
    /// The report of a row with the standard metrics, in TikTok's nested shape.
    pub fn from_def(def: &ReportDef) -> Self {
        Self::with_options(def, &ReportOptions::STANDARD)
    }

    /// The report of a row under a config's metric groups and record layout.
    pub fn with_options(def: &ReportDef, options: &ReportOptions) -> Self {
        let mut dimensions = vec![def.level.id_field().to_string()];
        dimensions.extend(def.granularity.time_dimension().map(str::to_string));
        dimensions.extend(def.breakdown.dimensions().iter().map(|d| d.to_string()));
        ReportSpec {
            report_type: def.report_type,
            level: def.level,
            granularity: def.granularity,
            dimensions,
            metrics: report_options::requested_metrics(
                def.report_type,
                def.level,
                def.granularity,
                def.breakdown,
                options,
            )
            .into_iter()
            .map(str::to_string)
            .collect(),
            filtering: Vec::new(),
            layout: options.record_layout,
        }
    }

    /// Whether the report's totals come from TikTok's lifetime metrics (`query_lifetime`).
    /// TikTok offers them for BASIC reports only, and refuses them with `country_code` (Basic
    /// reports, <https://business-api.tiktok.com/portal/docs?id=1738864915188737>; audience
    /// reports have no lifetime metrics in v1.3,
    /// <https://business-api.tiktok.com/portal/docs?id=1738864928947201>). Other reports without
    /// a time dimension are totals over the [`TOTALS_DAYS`] days ending on `end_date` or today.
    pub fn uses_query_lifetime(&self) -> bool {
        self.granularity == Granularity::Lifetime
            && self.report_type == ReportType::Basic
            && !self.dimensions.iter().any(|d| d == "country_code")
    }
}

/// The longest range TikTok accepts for a report without a time dimension (365 days, both ends
/// included): what totals that cannot be lifetime totals cover, ending on `end_date` or today.
pub(crate) const TOTALS_DAYS: u64 = 365;
