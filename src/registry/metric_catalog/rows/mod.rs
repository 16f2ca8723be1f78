//! The rows of the metric catalog: every report metric TikTok documents, in the order and
//! sections of TikTok's Metrics page (portal doc 1751443967255553). A row is
//! `m!(name, section, value type, additive, rule, source)`: the section names the page's section
//! (see `Group::section`), the rule the restrictions TikTok states (the constants in
//! `metric_catalog/mod.rs`, each citing TikTok's words), the source the page that documents the name.
//! Value type and additivity read TikTok's description of each metric: totals and event counts
//! add up; costs per event, rates, ROAS, averages, unique (deduplicated) counts and reach do not.
//!
//! One file per section of the page (Conversions metrics one per subsection), each a `ROWS`
//! slice in the page's order; [`METRICS`] joins them, in the page's order, into the one table
//! the catalog reads.

mod app;
mod app_skan;
mod attribute;
mod attribution;
mod core_metrics;
mod interaction;
mod messaging;
mod native_growth;
mod offline;
mod shop;
mod tiktok;
mod website;

use super::row::Metric;

/// The sections' rows in the order of TikTok's page.
const SECTIONS: [&[Metric]; 12] = [
    attribute::ROWS,
    core_metrics::ROWS,
    interaction::ROWS,
    app::ROWS,
    app_skan::ROWS,
    website::ROWS,
    tiktok::ROWS,
    native_growth::ROWS,
    offline::ROWS,
    messaging::ROWS,
    shop::ROWS,
    attribution::ROWS,
];

/// How many rows the sections hold together.
const COUNT: usize = {
    let mut count = 0;
    let mut section = 0;
    while section < SECTIONS.len() {
        count += SECTIONS[section].len();
        section += 1;
    }
    count
};

/// Every row, the sections joined in order (at compile time: the catalog is one constant
/// table, as when it was one file).
pub(super) const METRICS: &[Metric] = &{
    let mut rows = [SECTIONS[0][0]; COUNT];
    let mut at = 0;
    let mut section = 0;
    while section < SECTIONS.len() {
        let mut row = 0;
        while row < SECTIONS[section].len() {
            rows[at] = SECTIONS[section][row];
            at += 1;
            row += 1;
        }
        section += 1;
    }
    rows
};
