//! Asynchronous report tasks (`report/task/create/`, `report/task/check/`,
//! `report/task/download/`): the way past TikTok's cap of 20,000 most recently created ads
//! where no id filter can narrow a report (the advertiser level, or a custom report with id
//! filters of its own). TikTok's Reporting FAQ (portal doc 1738864850353154) says asynchronous
//! reports do not apply that truncation, as Ads Manager's downloads do not.
//!
//! A task mirrors the synchronous query it replaces: the same report type, level, dimensions,
//! metrics, dates (or lifetime) and id filters (the only filters asynchronous reports take: Run
//! an asynchronous report, doc 1738864800380930). It asks for the CSV text with untranslated
//! titles, so each column is named by its field and each cell holds the text TikTok's JSON
//! would; its rows then go through the same record builder as a synchronous page's, and
//! nothing is emitted before the whole file has been read. A task TikTok refuses as too large
//! (40067; TikTok documents no metric limit for tasks, but the code is the API's) is asked as
//! tasks of part of the metrics, whose rows are joined by [`super::wide`]'s split and join.
//!
//! Asynchronous reports are an allowlist-only feature. Where TikTok refuses a task, fails it,
//! does not finish it in [`TASK_DEADLINE`](crate::capture::shared::TASK_DEADLINE) (the capture
//! option `task_deadline`), or answers
//! something unreadable, the caller falls back to the capped synchronous answer and says why
//! in its warning; a refusal of the feature itself is remembered for the rest of the run. Task
//! requests (create, check, download) go one at a time,
//! [`REQUEST_SPACING`](crate::capture::shared::REQUEST_SPACING) apart: TikTok
//! allows asynchronous reporting one request per second per app. Each attempt takes the turn
//! ([`RequestTurn`](crate::client::turn::RequestTurn)) and gives it back before any retry
//! pause, so a download that keeps failing holds no other account's task.
//!
//! A report with a `country_code` dimension is never asked as a task: TikTok's Create an
//! asynchronous report task doc (1740302766489602) lists as a known issue that asynchronous
//! reports return `country_code` as the country's name (`United States` for `US`), which would
//! make other keys than the synchronous rows'. TikTok also says asynchronous data is refreshed
//! every few hours and the current day's may be inaccurate; the report cursor never passes the
//! last complete day and the lookback reads recent days again, as for synchronous reports.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::fetch::{ReportUnit, ROWS_PER_BATCH};
use super::filter::Filter;
use super::wide::Part;
use crate::capture::context::Context;
use crate::error::{Error, ErrorClass, Result};
use crate::registry::ReportSpec;

pub(crate) const CREATE_PATH: &str = "report/task/create/";
pub(crate) const CHECK_PATH: &str = "report/task/check/";
pub(crate) const DOWNLOAD_PATH: &str = "report/task/download/";

/// The waits between status checks: short first (a small report is ready in seconds), then
/// at most [`LONGEST_CHECK_WAIT`].
const FIRST_CHECK_WAIT: Duration = Duration::from_millis(500);
const LONGEST_CHECK_WAIT: Duration = Duration::from_secs(15);

/// The dimension asynchronous reports answer with another value (see the module text).
const COUNTRY_CODE: &str = "country_code";

/// The filters an asynchronous basic or audience report takes (doc 1738864800380930).
const TASK_FILTER_FIELDS: [&str; 3] = ["campaign_ids", "adgroup_ids", "ad_ids"];

/// What a report over the cap got from asynchronous tasks: what they read, or why no task
/// could replace the capped synchronous answer, which the report falls back to.
#[derive(Debug)]
pub(crate) enum ByTask<T> {
    Done(T),
    FallBack(String),
}

/// Whether a query with these filters can be run as a task: only id filters.
pub(crate) fn takes_filters(filters: &[Value]) -> bool {
    filters
        .iter()
        .all(|f| Filter::field_of(f).is_some_and(|name| TASK_FILTER_FIELDS.contains(&name)))
}

/// The body of `report/task/create/` for one query: its report, window (`None`: lifetime) and
/// filters.
pub(crate) fn task_body(
    spec: &ReportSpec,
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
    filters: &[Value],
) -> Value {
    let mut body = json!({
        "advertiser_id": advertiser_id.to_string(),
        "service_type": "AUCTION",
        "report_type": spec.report_type.as_api(),
        "data_level": spec.level.data_level(),
        "dimensions": spec.dimensions,
        "metrics": spec.metrics,
        "output_format": "CSV_STRING",
        "enable_report_title_translation": false,
    });
    match window {
        Some((start, end)) => {
            body["start_date"] = json!(start.format("%Y-%m-%d").to_string());
            body["end_date"] = json!(end.format("%Y-%m-%d").to_string());
        }
        None => body["query_lifetime"] = json!(true),
    }
    if !filters.is_empty() {
        body["filtering"] = json!(filters);
    }
    body
}

/// Runs one query as a task: its CSV, read and checked, or why no task could replace the
/// synchronous answer. It returns the rows; the report driver emits them. Errors that stop the
/// run (credentials) are returned as such; a spent daily quota of the task endpoints ends tasks
/// for the run, like a refusal of the feature.
pub(crate) async fn read(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    window: Option<(NaiveDate, NaiveDate)>,
    filters: &[Value],
) -> Result<ByTask<CsvTable>> {
    if let Some(why) = ctx.tasks.unavailable() {
        return Ok(ByTask::FallBack(why));
    }
    if !takes_filters(filters) {
        return Ok(ByTask::FallBack(
            "asynchronous reports take no filter but ids, and this report has others".into(),
        ));
    }
    if unit.spec.dimensions.iter().any(|d| d == COUNTRY_CODE) {
        return Ok(ByTask::FallBack(
            "asynchronous reports return country_code as the country's name (a known issue \
             TikTok documents), so their rows would not have this report's keys"
                .into(),
        ));
    }
    // A task refused for metrics TikTok does not serve (40002) is asked again without them
    // (`super::refused`); a refusal about anything else falls back as any other.
    let attempted = loop {
        let asked = super::refused::asked_spec(ctx, unit.binding, unit.spec);
        match attempt_wide(ctx, unit, &asked, window, filters).await {
            Err((err, _)) if super::refused::is_refusal(&err) => {
                let at = (window, filters);
                match super::refused::resolve(ctx, unit.whose(), at, err, &asked.metrics).await {
                    Ok(()) => continue,
                    Err(err) if super::refused::is_refusal(&err) => break Err((err, Reach::Query)),
                    Err(err) => return Err(err),
                }
            }
            attempted => break attempted,
        }
    };
    match attempted {
        Ok(table) => Ok(ByTask::Done(table)),
        Err((err, _)) if err.stops_the_run() => Err(err),
        // The daily quota of a task endpoint (TikTok's QPD is per path): tasks end for the
        // run, and the reports fall back to the synchronous path, whose quota is its own.
        Err((err, _)) if err.class() == ErrorClass::QuotaExhausted => {
            let why = format!("TikTok's daily quota of asynchronous reports is used up ({err})");
            ctx.tasks.set_unavailable(&why);
            Ok(ByTask::FallBack(why))
        }
        Err((err, reach)) => {
            let why = err.to_string();
            if reach == Reach::Run {
                ctx.tasks.set_unavailable(&why);
            }
            Ok(ByTask::FallBack(why))
        }
    }
}

/// Whether a task's failure says something of this query only (TikTok refused or failed it:
/// another query may do), or of every task of the run (the feature is refused, or the server
/// does not speak the task protocol, or does not finish tasks: asking again would cost minutes
/// and requests for nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Query,
    Run,
}

/// Runs one query as a task, or as several tasks of part of its metrics each where TikTok
/// refuses the task as too large (40067) or the binding's tasks already took parts: the parts'
/// rows are joined by their dimensions ([`super::wide`]'s split and join, as synchronous
/// queries), and the plan grows by the requests of the tasks beyond one.
async fn attempt_wide(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    spec: &ReportSpec,
    window: Option<(NaiveDate, NaiveDate)>,
    filters: &[Value],
) -> std::result::Result<CsvTable, (Error, Reach)> {
    let learned = &ctx.counters[unit.binding].task_metric_parts;
    let mut requests = 0;
    if learned.load(Ordering::Relaxed) < 2 {
        match attempt(ctx, unit, spec, window, filters, &mut requests).await {
            Err((err, _)) if err.class() == ErrorClass::QueryTooLarge => {
                tracing::info!(
                    advertiser_id = unit.advertiser.id,
                    metrics = spec.metrics.len(),
                    "TikTok found the asynchronous report task too large (40067); asking its \
                     metrics in tasks of part of them."
                );
            }
            whole => return whole,
        }
    }
    let split = super::wide::read_in_parts(
        spec,
        learned.load(Ordering::Relaxed),
        unit.advertiser.id,
        async |part: ReportSpec| match attempt(ctx, unit, &part, window, filters, &mut requests)
            .await
        {
            Ok(table) => Ok(Part::Rows(table.batches().flatten().collect())),
            Err((err, _)) if err.class() == ErrorClass::QueryTooLarge => {
                Ok(Part::TooLarge((err, Reach::Query)))
            }
            Err(err) => Err(err),
        },
    )
    .await;
    // The plan counted one query, which the capped answer already took: every request of these
    // tasks beyond those of one task (a create, a check, a download) is added to it.
    let extra = requests.saturating_sub(3);
    super::wide::grow_plan(ctx, unit.binding, unit.advertiser.id, extra);
    match split.joined {
        Ok(Some(rows)) => {
            learned.fetch_max(split.read_parts, Ordering::Relaxed);
            Ok(CsvTable::from_rows(spec, &rows))
        }
        // Tasks are never capped.
        Ok(None) => Err((
            Error::Fatal("an asynchronous task's answer was taken as capped".into()),
            Reach::Query,
        )),
        Err(err) => Err(err),
    }
}

/// Creates, awaits and downloads one task of `spec` (the unit's report, or part of its
/// metrics): its CSV, read and checked. `requests` counts the requests it makes.
async fn attempt(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    spec: &ReportSpec,
    window: Option<(NaiveDate, NaiveDate)>,
    filters: &[Value],
    requests: &mut u64,
) -> std::result::Result<CsvTable, (Error, Reach)> {
    let run_wide = |err: Error| (err, Reach::Run);
    let advertiser_id = unit.advertiser.id;
    let body = task_body(spec, advertiser_id, window, filters);
    *requests += 1;
    let task_id = create(ctx, unit.binding, &body).await.map_err(|err| {
        // TikTok's refusal of this query (a combination asynchronous reports do not take);
        // anything else is about every task.
        let reach = match &err {
            Error::Api(api) if api.class != ErrorClass::Permission => Reach::Query,
            _ => Reach::Run,
        };
        (err, reach)
    })?;
    tracing::info!(
        advertiser_id,
        stream = unit.stream,
        task_id = task_id.as_str(),
        "Reading a report over TikTok's ads cap through an asynchronous report task (no cap)."
    );
    let params = vec![
        ("advertiser_id", advertiser_id.to_string()),
        ("task_id", task_id.clone()),
    ];
    *requests += await_task(ctx, unit, &task_id, &params).await?;
    // Closed turn (tasks found unavailable meanwhile): nothing is sent, and the report falls
    // back with that reason.
    *requests += 1;
    let text = ctx
        .client
        .in_turn(&ctx.tasks.turn)
        .get_text(DOWNLOAD_PATH, &params)
        .await
        .map_err(run_wide)?;
    ctx.count_request(unit.binding);
    CsvTable::read(&text, spec).map_err(|why| {
        run_wide(Error::Fatal(format!(
            "the CSV of TikTok's task {task_id} cannot be read: {why}"
        )))
    })
}

/// Checks a task's status until TikTok says it succeeded, with growing waits, until the task
/// deadline (a capture option) passes. Returns how many checks it took.
async fn await_task(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    task_id: &str,
    params: &crate::client::Params,
) -> std::result::Result<u64, (Error, Reach)> {
    let mut checks = 0;
    let run_wide = |err: Error| (err, Reach::Run);
    let started = Instant::now();
    let deadline = ctx.options.task_deadline;
    let mut wait = FIRST_CHECK_WAIT;
    loop {
        // Another task found tasks unavailable for the run (a failing download, a refusal):
        // this one stops waiting and its report falls back at once.
        if let Some(why) = ctx.tasks.unavailable() {
            return Err((Error::Fatal(why), Reach::Query));
        }
        if started.elapsed() + wait > deadline {
            return Err(run_wide(Error::Fatal(format!(
                "TikTok had not finished task {task_id} after {} seconds",
                deadline.as_secs()
            ))));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LONGEST_CHECK_WAIT);
        let answer = ctx
            .client
            .in_turn(&ctx.tasks.turn)
            .get(CHECK_PATH, params)
            .await
            .map_err(run_wide)?;
        ctx.count_request(unit.binding);
        checks += 1;
        let status: TaskStatus = crate::client::from_raw(CHECK_PATH, &answer).map_err(run_wide)?;
        let reason = || {
            crate::scrub::echo(
                &ctx.client
                    .scrub(status.message.as_deref().unwrap_or("(no reason given)")),
            )
        };
        match status.status.as_str() {
            "SUCCESS" => break,
            "QUEUING" | "PROCESSING" => continue,
            ended @ ("FAILED" | "CANCELED") => {
                return Err((
                    Error::Fatal(format!(
                        "TikTok's task {task_id} ended {ended:?}: {}",
                        reason()
                    )),
                    Reach::Query,
                ))
            }
            other => {
                return Err(run_wide(Error::Fatal(format!(
                    "TikTok's task {task_id} ended {other:?}, not a status TikTok documents: {}",
                    reason()
                ))))
            }
        }
    }
    Ok(checks)
}

#[derive(Deserialize)]
struct TaskStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: Option<String>,
}

/// Creates the task, unless tasks were found unavailable while it waited for its turn.
async fn create(ctx: &Context, binding: usize, body: &Value) -> Result<String> {
    // Requests go one at a time, so the answer to one (a refusal of the feature) is known
    // before the next is sent; once tasks are found unavailable, the turn is closed and
    // nothing more is sent.
    if let Some(why) = ctx.tasks.unavailable() {
        return Err(Error::Fatal(why));
    }
    let answer = ctx
        .client
        .in_turn(&ctx.tasks.turn)
        .post_json(CREATE_PATH, body)
        .await;
    // Not counted when the turn was closed while this request waited (nothing was sent).
    let never_sent = match (&answer, ctx.tasks.unavailable()) {
        (Err(Error::Fatal(message)), Some(why)) => *message == why,
        _ => false,
    };
    if !never_sent {
        ctx.count_request(binding);
    }
    let data = match answer {
        Ok(data) => data,
        Err(err) => {
            if err.class() == ErrorClass::Permission {
                let why = format!(
                    "TikTok refused asynchronous reports for this app ({err}); they are an \
                     allowlist-only feature, to apply for on TikTok's Allowlist Management page"
                );
                return Err(Error::Fatal(why));
            }
            return Err(err);
        }
    };
    #[derive(Deserialize)]
    struct Created {
        task_id: Value,
    }
    let created: Created = crate::client::from_raw(CREATE_PATH, &data)?;
    match created.task_id {
        Value::String(id) if !id.is_empty() && id.len() <= 128 => Ok(id),
        Value::Number(n) if n.to_string().len() <= 128 => Ok(n.to_string()),
        other => Err(Error::Fatal(format!(
            "TikTok's answer to {CREATE_PATH} has no usable task_id (it is {})",
            crate::error::json_kind(&other)
        ))),
    }
}

/// A task's CSV, read whole and checked: its columns (whether each is a requested dimension,
/// and its name) and its rows of cells.
pub(crate) struct CsvTable {
    columns: Vec<(bool, String)>,
    records: Vec<csv::StringRecord>,
}

/// The most columns a task's file may have beyond those the report asks for.
const EXTRA_COLUMNS: usize = 64;

impl CsvTable {
    /// Reads a task's CSV: every requested dimension and metric must have its column (named by
    /// its field, as `enable_report_title_translation` false asks), every row as many cells as
    /// the header. A leading byte-order mark (files meant for spreadsheets often start with one)
    /// is skipped by the `csv` reader itself.
    pub(crate) fn read(text: &str, spec: &ReportSpec) -> std::result::Result<CsvTable, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| {
                format!(
                    "its header row is unreadable ({})",
                    crate::scrub::echo(&e.to_string())
                )
            })?
            .clone();
        // TikTok's file has the asked columns; a few more are tolerated (and kept as
        // metrics), not thousands: every row would become a map of every column.
        let most = spec.dimensions.len() + spec.metrics.len() + EXTRA_COLUMNS;
        if headers.len() > most {
            return Err(format!(
                "it has {} columns where the report asks for {} (at most {EXTRA_COLUMNS} more \
                 are read)",
                headers.len(),
                spec.dimensions.len() + spec.metrics.len()
            ));
        }
        let columns: Vec<(bool, String)> = headers
            .iter()
            .map(|name| {
                let name = name.trim().to_string();
                (spec.dimensions.contains(&name), name)
            })
            .collect();
        // Two columns of one name: which holds the value cannot be told, so nothing is guessed.
        let mut seen = std::collections::HashSet::with_capacity(columns.len());
        if let Some((_, twice)) = columns.iter().find(|(_, name)| !seen.insert(name.as_str())) {
            return Err(format!(
                "it has the column {} twice, so which cell holds its value cannot be told",
                crate::scrub::echo(&format!("{twice:?}"))
            ));
        }
        for wanted in spec.dimensions.iter().chain(&spec.metrics) {
            if !columns.iter().any(|(_, name)| name == wanted) {
                return Err(format!(
                    "it has no column {wanted:?} (its columns: {})",
                    crate::scrub::echo(&headers.iter().take(8).collect::<Vec<_>>().join(", "))
                ));
            }
        }
        let records = reader
            .records()
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                format!(
                    "a row is unreadable ({})",
                    crate::scrub::echo(&e.to_string())
                )
            })?;
        Ok(CsvTable { columns, records })
    }

    /// The rows in batches of [`ROWS_PER_BATCH`], as TikTok's JSON rows
    /// (`{"dimensions": {..}, "metrics": {..}}`, every cell a string): columns named by a
    /// requested dimension go under `dimensions`, every other column under `metrics`.
    pub(crate) fn batches(&self) -> impl Iterator<Item = Vec<Box<RawValue>>> + '_ {
        self.records.chunks(ROWS_PER_BATCH).map(|chunk| {
            chunk
                .iter()
                .filter_map(|record| {
                    let mut dimensions = Map::new();
                    let mut metrics = Map::new();
                    for ((is_dimension, name), cell) in self.columns.iter().zip(record.iter()) {
                        let part = if *is_dimension {
                            &mut dimensions
                        } else {
                            &mut metrics
                        };
                        part.insert(name.clone(), Value::String(cell.to_string()));
                    }
                    let row = json!({"dimensions": dimensions, "metrics": metrics});
                    // Text that serde_json wrote is JSON.
                    RawValue::from_string(row.to_string()).ok()
                })
                .collect()
        })
    }
}

impl CsvTable {
    /// The table of rows in TikTok's JSON shape (the joined rows of tasks of part of the
    /// metrics each): a column per dimension and metric of `spec`, a row's cell the text of its
    /// value (empty where a part had no row of its dimensions, as a CSV's empty cell). Rows
    /// come from tables read and checked, so each is an object of text cells.
    fn from_rows(spec: &ReportSpec, rows: &[Box<RawValue>]) -> CsvTable {
        #[derive(Deserialize)]
        struct Row {
            #[serde(default)]
            dimensions: Map<String, Value>,
            #[serde(default)]
            metrics: Map<String, Value>,
        }
        let columns: Vec<(bool, String)> = (spec.dimensions.iter().map(|d| (true, d.clone())))
            .chain(spec.metrics.iter().map(|m| (false, m.clone())))
            .collect();
        let records = rows
            .iter()
            .filter_map(|raw| serde_json::from_str::<Row>(raw.get()).ok())
            .map(|row| {
                let cell = |(is_dimension, name): &(bool, String)| {
                    let part = if *is_dimension {
                        &row.dimensions
                    } else {
                        &row.metrics
                    };
                    match part.get(name) {
                        Some(Value::String(text)) => text.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    }
                };
                columns.iter().map(cell).collect::<csv::StringRecord>()
            })
            .collect();
        CsvTable { columns, records }
    }

    /// How many rows the table holds.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// The rows of each day, by the date their `time_dimension` cell begins with; rows whose
    /// day cannot be read are under `None` (they are emitted, and the record builder says what
    /// is wrong with them).
    pub(crate) fn by_day(self, time_dimension: &str) -> BTreeMap<Option<NaiveDate>, CsvTable> {
        let column = self.columns.iter().position(|(_, n)| n == time_dimension);
        let mut days: BTreeMap<Option<NaiveDate>, CsvTable> = BTreeMap::new();
        for record in self.records {
            let day = column
                .and_then(|c| record.get(c))
                .and_then(|cell| cell.get(..10))
                .and_then(|date| NaiveDate::parse_from_str(date, "%Y-%m-%d").ok());
            days.entry(day)
                .or_insert_with(|| CsvTable {
                    columns: self.columns.clone(),
                    records: Vec::new(),
                })
                .records
                .push(record);
        }
        days
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{find, Kind};

    /// Every row of a task's CSV as TikTok's JSON rows.
    fn csv_rows(text: &str, spec: &ReportSpec) -> std::result::Result<Vec<Box<RawValue>>, String> {
        Ok(CsvTable::read(text, spec)?.batches().flatten().collect())
    }

    fn advertisers_daily() -> ReportSpec {
        let Some(Kind::Report(def)) = find("advertisers_reports_daily").map(|d| d.kind) else {
            panic!("a core report stream")
        };
        ReportSpec::from_def(&def)
    }

    #[test]
    fn csv_cells_become_the_rows_the_json_answer_would_hold() {
        let spec = advertisers_daily();
        let mut header: Vec<String> = spec.dimensions.clone();
        header.extend(spec.metrics.iter().cloned());
        let mut text = header.join(",");
        text.push('\n');
        let cells: Vec<String> = header
            .iter()
            .map(|name| match name.as_str() {
                "advertiser_id" => "7001".to_string(),
                "stat_time_day" => "2026-11-01 00:00:00".to_string(),
                "spend" => "12.30".to_string(),
                _ => String::new(),
            })
            .collect();
        text.push_str(&cells.join(","));
        text.push('\n');
        let rows = csv_rows(&text, &spec).expect("a readable CSV");
        assert_eq!(rows.len(), 1);
        let row: Value = serde_json::from_str(rows[0].get()).unwrap();
        assert_eq!(row["dimensions"]["advertiser_id"], "7001");
        assert_eq!(row["dimensions"]["stat_time_day"], "2026-11-01 00:00:00");
        assert_eq!(row["metrics"]["spend"], "12.30");
        assert_eq!(
            row["metrics"].as_object().unwrap().len(),
            spec.metrics.len()
        );
        let mut notes = crate::capture::record::Notes::new();
        let record = crate::capture::record::report_row(&rows[0], &spec, 7001, &mut notes)
            .expect("a record");
        let record: Value = serde_json::from_str(&record.doc).unwrap();
        assert_eq!(record["metrics"]["spend"].to_string(), "12.30");
        assert_eq!(record["advertiser_id"], 7001);
    }

    #[test]
    fn translated_titles_or_a_missing_column_are_refused_by_name() {
        let spec = advertisers_daily();
        let err = csv_rows("Advertiser ID,Date,Cost\n7001,2026-11-01,1.00\n", &spec).unwrap_err();
        assert!(err.contains("\"advertiser_id\""), "{err}");
        let mut header: Vec<String> = spec.dimensions.clone();
        header.extend(spec.metrics.iter().skip(1).cloned());
        let err = csv_rows(&format!("{}\n", header.join(",")), &spec).unwrap_err();
        assert!(err.contains(&format!("{:?}", spec.metrics[0])), "{err}");
        // Rows of unequal length are not guessed at.
        let mut all: Vec<String> = spec.dimensions.clone();
        all.extend(spec.metrics.iter().cloned());
        let err = csv_rows(&format!("{}\n1,2\n", all.join(",")), &spec).unwrap_err();
        assert!(err.contains("row"), "{err}");
    }

    #[test]
    fn quoted_cells_keep_their_commas_and_only_id_filters_are_taken() {
        let spec = advertisers_daily();
        let mut all: Vec<String> = spec.dimensions.clone();
        all.extend(spec.metrics.iter().cloned());
        let mut cells = vec![
            "\"7001\"".to_string(),
            "\"2026-11-01 00:00:00\"".to_string(),
        ];
        cells.extend(spec.metrics.iter().map(|_| "\"1,234\"".to_string()));
        let text = format!("{}\r\n{}\r\n", all.join(","), cells.join(","));
        let rows = csv_rows(&text, &spec).unwrap();
        let row: Value = serde_json::from_str(rows[0].get()).unwrap();
        assert_eq!(row["metrics"][&spec.metrics[0]], "1,234");

        let id_filter =
            json!({"field_name": "campaign_ids", "filter_type": "IN", "filter_value": "[\"1\"]"});
        let status = json!({"field_name": "ad_status", "filter_type": "IN", "filter_value": "[\"STATUS_ALL\"]"});
        assert!(takes_filters(&[]));
        assert!(takes_filters(std::slice::from_ref(&id_filter)));
        assert!(!takes_filters(&[id_filter, status]));
    }

    #[test]
    fn a_duplicated_column_refuses_the_file_naming_it() {
        let spec = advertisers_daily();
        let mut all: Vec<String> = spec.dimensions.clone();
        all.extend(spec.metrics.iter().cloned());
        all.push("spend".into());
        let cells: Vec<&str> = all
            .iter()
            .enumerate()
            .map(|(i, c)| match c.as_str() {
                "advertiser_id" => "7001",
                "stat_time_day" => "2026-11-01 00:00:00",
                "spend" if i + 1 == all.len() => "9.99",
                "spend" => "2.50",
                _ => "",
            })
            .collect();
        let text = format!("{}\n{}\n", all.join(","), cells.join(","));
        let err = csv_rows(&text, &spec).expect_err("refused");
        assert!(err.contains("\"spend\" twice"), "{err}");
        // A name that differs only by spaces around it is the same column.
        let text = format!("{}, spend\n", all[..all.len() - 1].join(","));
        let err = csv_rows(&text, &spec).expect_err("refused");
        assert!(err.contains("twice"), "{err}");
    }

    /// A file of 100,000 columns (each row would become a map of them all: hundreds of MB) is
    /// refused by its header, saying how many; a few columns more than asked are read.
    #[test]
    fn a_file_of_far_more_columns_than_asked_is_refused_by_its_header() {
        let spec = advertisers_daily();
        let mut all: Vec<String> = spec.dimensions.clone();
        all.extend(spec.metrics.iter().cloned());
        let asked = all.len();
        let row = |columns: &[String]| -> String {
            columns
                .iter()
                .map(|c| match c.as_str() {
                    "advertiser_id" => "7001",
                    "stat_time_day" => "2026-11-01 00:00:00",
                    _ => "",
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut few_more = all.clone();
        few_more.extend((0..EXTRA_COLUMNS).map(|i| format!("extra_{i}")));
        let text = format!("{}\n{}\n", few_more.join(","), row(&few_more));
        assert_eq!(csv_rows(&text, &spec).map(|rows| rows.len()), Ok(1));
        let mut wide = all;
        wide.extend((0..100_000).map(|i| format!("c{i}")));
        let text = format!("{}\n{}\n", wide.join(","), row(&wide));
        let err = csv_rows(&text, &spec).expect_err("refused");
        assert!(
            err.contains(&format!(
                "{} columns where the report asks for {asked}",
                wide.len()
            )),
            "{err}"
        );
        assert!(err.len() < 200, "{err}");
    }

    /// A header of 1.5 MB (one enormous column name) is named in the refusal cut to a few
    /// hundred characters with its length, never whole.
    #[test]
    fn a_huge_header_is_echoed_cut_with_its_length() {
        let huge = "h".repeat(1_500_000);
        let err = csv_rows(&format!("{huge}\n"), &advertisers_daily()).expect_err("refused");
        assert!(err.len() < 1_000, "{} bytes", err.len());
        assert!(err.contains("(1500000 characters in all)"), "{err}");
    }

    #[test]
    fn a_leading_byte_order_mark_is_not_part_of_the_first_column() {
        let spec = advertisers_daily();
        let mut all: Vec<String> = spec.dimensions.clone();
        all.extend(spec.metrics.iter().cloned());
        let cells: Vec<&str> = all
            .iter()
            .map(|c| if c == "advertiser_id" { "7001" } else { "" })
            .collect();
        let text = format!("{}{}\n{}\n", '\u{feff}', all.join(","), cells.join(","));
        let rows = csv_rows(&text, &spec).expect("the header is read past the mark");
        let row: Value = serde_json::from_str(rows[0].get()).unwrap();
        assert_eq!(row["dimensions"]["advertiser_id"], "7001");
    }

    #[test]
    fn the_task_mirrors_the_synchronous_query() {
        let spec = advertisers_daily();
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let body = task_body(&spec, 7001, Some((day, day)), &[]);
        assert_eq!(body["advertiser_id"], "7001");
        assert_eq!(body["data_level"], "AUCTION_ADVERTISER");
        assert_eq!(body["start_date"], "2026-11-01");
        assert_eq!(body["end_date"], "2026-11-01");
        assert_eq!(body["enable_report_title_translation"], false);
        assert_eq!(body["output_format"], "CSV_STRING");
        assert!(body.get("query_lifetime").is_none() && body.get("filtering").is_none());
        let lifetime = task_body(&spec, 7001, None, &[]);
        assert_eq!(lifetime["query_lifetime"], true);
        assert!(lifetime.get("start_date").is_none());
    }
}
