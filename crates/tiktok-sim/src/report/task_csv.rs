//! The file an asynchronous report task's download streams: the rows of the task's plan as
//! CSV, with TikTok's column titles and its known `country_code` quirk.

use super::{ApiError, ReportQuery, COUNTRIES, COUNTRY_NAMES};
use crate::model::Model;
use crate::server::value_text;

impl Model {
    /// The output of an asynchronous report task with `output_format` CSV_STRING, as
    /// `report/task/download/` streams it (Download the output of an async report task,
    /// [`crate::rules::docs::ASYNC_TASK_DOWNLOAD`]): a header row, then one line per row of
    /// [`Model::async_report_plan`] (the rows of `report/integrated/get/` for `q`, same values,
    /// same order, but no ads cap: "the API asynchronous report does not implement the
    /// 20,000-truncation for ads", Reporting FAQ, [`crate::rules::docs::REPORTING_FAQ`]). The columns are the requested dimensions, then
    /// the requested metrics, each in request order; their titles are translated
    /// ([`report_title`]) when `translate_titles` (`enable_report_title_translation`, true by
    /// default), the field names otherwise. Every cell is the text of the same cell in the JSON
    /// row ([`value_text`]: a string unquoted, a number as its JSON text, null as an empty cell),
    /// but a `country_code` cell, which holds the country's name ([`country_name`]).
    pub(crate) fn async_report_csv(
        &self,
        q: &ReportQuery,
        translate_titles: bool,
    ) -> Result<Vec<u8>, ApiError> {
        /// Rows rendered (as JSON) at a time, to bound the memory of a large report.
        const CHUNK: usize = 2_000;
        let plan = self.async_report_plan(q)?;
        let mut out = csv::Writer::from_writer(Vec::with_capacity(plan.len() * 64 + 256));
        let csv_error = |e: csv::Error| (50000, format!("System error: {e}"));
        let header: Vec<String> = q
            .dimensions
            .iter()
            .chain(&q.metrics)
            .map(|f| {
                if translate_titles {
                    report_title(f)
                } else {
                    f.clone()
                }
            })
            .collect();
        out.write_record(&header).map_err(csv_error)?;
        let mut record: Vec<String> = Vec::with_capacity(header.len());
        for from in (0..plan.len()).step_by(CHUNK) {
            for row in self.render_rows(&plan, from, from + CHUNK) {
                record.clear();
                for d in &q.dimensions {
                    let cell = value_text(&row["dimensions"][d.as_str()]);
                    record.push(if d == "country_code" {
                        country_name(&cell)
                    } else {
                        cell
                    });
                }
                for m in &q.metrics {
                    record.push(value_text(&row["metrics"][m.as_str()]));
                }
                out.write_record(&record).map_err(csv_error)?;
            }
        }
        out.into_inner()
            .map_err(|e| (50000, format!("System error: {e}")))
    }
}

/// What an asynchronous report's `country_code` column holds for the code `code`: its country
/// name (TikTok's known issue: "asynchronous reports return the dimension country_code (e.g.
/// US) as country_name (e.g. United States)", Create an asynchronous report task,
/// [`crate::rules::docs::ASYNC_TASK_CREATE`]). An empty cell (no country) stays empty; every
/// code of [`COUNTRIES`] has a name in [`COUNTRY_NAMES`].
pub(super) fn country_name(code: &str) -> String {
    match COUNTRIES.iter().position(|c| *c == code) {
        Some(i) => COUNTRY_NAMES[i].to_string(),
        None => {
            debug_assert!(code.is_empty(), "no country name for {code:?}");
            String::new()
        }
    }
}

/// The column title of a report field in a CSV file with `enable_report_title_translation`.
/// TikTok's titles where its docs show them: "Campaign ID", "Campaign Name", "Ad Group ID",
/// "Ad Group Name", "Age", "Gender", "Cost", "Impression", "Click" (the example of Download the
/// output of an async report task, [`crate::rules::docs::ASYNC_TASK_DOWNLOAD`]: "Campaign
/// ID,Campaign Name,Ad Group ID,Ad Group Name,Age,Gender,Cost,Impression,Click"), and "AD ID"
/// (the example of Create an asynchronous report task, [`crate::rules::docs::ASYNC_TASK_CREATE`],
/// where `enable_report_title_translation` false gives the title `ad_id` rather than `AD ID`). Every
/// other title is the simulator's guess: "Advertiser ID", "Date", "Hour", and the field name
/// with its underscores as spaces and each word capitalised.
pub(crate) fn report_title(field: &str) -> String {
    let known = match field {
        // TikTok's (the download and create docs' examples).
        "campaign_id" => "Campaign ID",
        "campaign_name" => "Campaign Name",
        "adgroup_id" => "Ad Group ID",
        "adgroup_name" => "Ad Group Name",
        "ad_id" => "AD ID",
        "age" => "Age",
        "gender" => "Gender",
        "spend" => "Cost",
        "impressions" => "Impression",
        "clicks" => "Click",
        // The simulator's guesses.
        "advertiser_id" => "Advertiser ID",
        "stat_time_day" => "Date",
        "stat_time_hour" => "Hour",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    field
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
