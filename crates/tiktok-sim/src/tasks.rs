//! TikTok's asynchronous report tasks (Run an asynchronous report,
//! [`rules::docs::ASYNC_REPORT`]): `report/task/create/` validates a report query sent as a
//! JSON body and stores it as a task, `report/task/check/` answers its status,
//! `report/task/download/` streams its output as a CSV file. The rules come from
//! [`rules::ASYNC_RULES`]; the report itself is planned and rendered by `report`
//! (`Model::async_report_csv`) without the ads cap.
//!
//! What the simulator does not model, and refuses with 40002 saying so: the `output_format`s
//! `CSV_DOWNLOAD` and `XLSX_DOWNLOAD` (their download answers a JSON envelope with a
//! `download_url`), and multi-account tasks (`advertiser_ids`). It never answers the status
//! `CANCELED`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::report::ReportQuery;
use super::server::{
    advertiser_param, bad, bool_param, parse_report_query, required, Answered, ApiError, AppState,
    Params,
};
use crate::rules;

/// The statuses of a task (Get the status of an async report task,
/// [`rules::docs::ASYNC_TASK_CHECK`]; `CANCELED` is never answered here).
const QUEUING: &str = "QUEUING";
const PROCESSING: &str = "PROCESSING";
const SUCCESS: &str = "SUCCESS";
const FAILED: &str = "FAILED";

/// The `message` of a `FAILED` task.
const FAILED_MESSAGE: &str = "The report task failed; create it again.";

/// One asynchronous report task.
#[derive(Debug, Clone)]
struct Task {
    advertiser_id: u64,
    /// The validated report query.
    query: ReportQuery,
    /// `enable_report_title_translation` (TikTok's default: true).
    translate_titles: bool,
    /// `report/task/check/` calls so far.
    checks: u32,
}

/// The tasks of a server, and what the create limits count. Every task is kept: the store is
/// bounded by the daily limit ([`rules::ASYNC_TASKS_PER_DAY`] creates, and the simulated day
/// never ends).
#[derive(Default)]
pub(crate) struct TaskStore {
    tasks: HashMap<String, Task>,
    /// Tasks created, for their ids and against the daily limit (the simulated day never ends:
    /// a server lives for minutes).
    today: u32,
    /// When the last task was created.
    last_create: Option<Instant>,
}

impl TaskStore {
    /// The task `task_id` of `advertiser_id`, or 40002 naming it (unknown, or another
    /// advertiser's; the code is the simulator's choice, [`rules::ASYNC_RULES`]'s
    /// `async_known_task`).
    fn get_mut(&mut self, advertiser_id: u64, task_id: &str) -> Result<&mut Task, ApiError> {
        match self.tasks.get_mut(task_id) {
            Some(task) if task.advertiser_id == advertiser_id => Ok(task),
            _ => Err(bad(format!(
                "task_id: {task_id} is not an asynchronous report task of advertiser \
                 {advertiser_id}."
            ))),
        }
    }
}

/// The status a task answers after `checks` calls of `report/task/check/`: `QUEUING` first,
/// `PROCESSING` next, `SUCCESS` (or `FAILED`) from the `needed`th on (0 counts as 1).
fn status(checks: u32, needed: u32, fails: bool) -> &'static str {
    if checks >= needed.max(1) {
        if fails {
            FAILED
        } else {
            SUCCESS
        }
    } else if checks <= 1 {
        QUEUING
    } else {
        PROCESSING
    }
}

/// `report/task/create/` (Create an asynchronous report task,
/// [`rules::docs::ASYNC_TASK_CREATE`]), in this order: the allowlist before anything but the
/// token (and the scope, quota and fault checks every request gets); the body; the query,
/// refused like a synchronous one except for the asynchronous rules (no date span limit, id
/// filters only, no UV metric with an audience dimension); then the rate of creates (1 a
/// second, 4,500 a day per app). TikTok documents neither the order nor the codes: 40001 for
/// the allowlist and 40100 for the rates are the simulator's choices ([`rules::ASYNC_RULES`]).
/// Only a task created counts against the rate: a refused create costs nothing. Answers
/// `{"task_id": "..."}`.
pub(crate) fn create(
    state: &AppState,
    params: &Params,
    body_error: Option<ApiError>,
) -> Result<Value, ApiError> {
    if !state.cfg.async_reports.allowlisted {
        return Err(rules::async_not_allowlisted());
    }
    if let Some(refused) = body_error {
        return Err(refused);
    }
    if params.contains_key("advertiser_ids") {
        return Err(bad(
            "advertiser_ids: the simulated API does not model multi-account asynchronous report \
             tasks; create one task per advertiser_id.",
        ));
    }
    match params.get("output_format").map(|f| f.trim()) {
        None | Some("CSV_STRING") => {}
        // TikTok answers these downloads with a JSON envelope holding a download_url; the
        // simulator serves files only as CSV_STRING.
        Some(f @ ("CSV_DOWNLOAD" | "XLSX_DOWNLOAD")) => {
            return Err(bad(format!(
                "output_format: {f} is not modelled by the simulated API; use CSV_STRING."
            )))
        }
        Some(other) => {
            return Err(bad(format!(
                "output_format: invalid value {other}; one of {}.",
                rules::ASYNC_OUTPUT_FORMATS.join(", ")
            )))
        }
    };
    let translate_titles = bool_param(params, "enable_report_title_translation", true)?;
    // `file_name` names the file of the *_DOWNLOAD formats: unused with CSV_STRING. `page` and
    // `page_size` are not parameters of a task: the file holds every row.
    let query = parse_report_query(params)?;
    state.model.validate_async(&query)?;

    let mut store = state.tasks.lock().unwrap_or_else(|e| e.into_inner());
    if store.today >= rules::ASYNC_TASKS_PER_DAY {
        return Err((rules::TOO_FREQUENT, rules::async_per_day_message()));
    }
    let now = Instant::now();
    let interval = Duration::from_secs(1) / rules::ASYNC_CREATES_PER_SECOND;
    if store
        .last_create
        .is_some_and(|last| now.duration_since(last) < interval)
    {
        return Err((rules::TOO_FREQUENT, rules::async_per_second_message()));
    }
    store.today += 1;
    store.last_create = Some(now);
    // Unique per server (the counter), the same for the same seed and order of creates.
    let n = u64::from(store.today);
    let task_id = format!(
        "7{:012}{:06}",
        super::model::mix(n ^ state.cfg.seed.rotate_left(23)) % 1_000_000_000_000,
        n
    );
    store.tasks.insert(
        task_id.clone(),
        Task {
            advertiser_id: query.advertiser_id,
            query,
            translate_titles,
            checks: 0,
        },
    );
    Ok(json!({ "task_id": task_id }))
}

/// `report/task/check/` (Get the status of an async report task,
/// [`rules::docs::ASYNC_TASK_CHECK`]): counts the check and answers `{"status": ...}`, with a
/// `message` when `FAILED`.
pub(crate) fn check(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    let advertiser_id = advertiser_param(params)?;
    let task_id = required(params, "task_id")?;
    let mut store = state.tasks.lock().unwrap_or_else(|e| e.into_inner());
    let task = store.get_mut(advertiser_id, &task_id)?;
    task.checks = task.checks.saturating_add(1);
    let now = status(
        task.checks,
        state.cfg.async_reports.task_checks,
        state.cfg.async_reports.task_fails,
    );
    Ok(if now == FAILED {
        json!({ "status": now, "message": FAILED_MESSAGE })
    } else {
        json!({ "status": now })
    })
}

/// `report/task/download/` (Download the output of an async report task,
/// [`rules::docs::ASYNC_TASK_DOWNLOAD`]): once a check said `SUCCESS`, the whole report as a
/// CSV file stream (`text/csv`, no envelope), every ad processed; before that, or for a
/// `FAILED` task, 40002 saying so (the statuses are those of Get the status of an async report
/// task, [`rules::docs::ASYNC_TASK_CHECK`]; the code and message are the simulator's choice).
pub(crate) fn download(state: &AppState, params: &Params) -> Result<Answered, ApiError> {
    let advertiser_id = advertiser_param(params)?;
    let task_id = required(params, "task_id")?;
    let (query, translate_titles) = {
        let mut store = state.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let task = store.get_mut(advertiser_id, &task_id)?;
        match status(
            task.checks,
            state.cfg.async_reports.task_checks,
            state.cfg.async_reports.task_fails,
        ) {
            SUCCESS => {}
            FAILED => {
                return Err(bad(format!(
                    "task_id: the report task {task_id} failed (status FAILED); create it \
                     again."
                )))
            }
            _ => {
                return Err(bad(format!(
                    "task_id: the report task {task_id} is not finished; check it with \
                     report/task/check/ until its status is SUCCESS, then download it."
                )))
            }
        }
        (task.query.clone(), task.translate_titles)
    };
    let data = state.model.async_report_csv(&query, translate_titles)?;
    Ok(Answered {
        data,
        ads_throttled: false,
        file: Some("text/csv"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AsyncReports, SimConfig};

    /// A server of an allowlisted app, and the params of a campaign-level lifetime task of its
    /// first advertiser.
    fn allowlisted_lifetime_task() -> (AppState, Params) {
        seeded_lifetime_task(SimConfig::default().seed)
    }

    /// [`allowlisted_lifetime_task`] with the seed `seed`.
    fn seeded_lifetime_task(seed: u64) -> (AppState, Params) {
        let state = AppState::new(SimConfig {
            seed,
            async_reports: AsyncReports {
                allowlisted: true,
                ..Default::default()
            },
            ..SimConfig::default()
        });
        let adv = state.model.advertiser_ids()[0];
        let params: Params = [
            ("advertiser_id", adv.to_string()),
            ("report_type", "BASIC".into()),
            ("data_level", "AUCTION_CAMPAIGN".into()),
            ("dimensions", r#"["campaign_id"]"#.into()),
            ("query_lifetime", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        (state, params)
    }

    /// TikTok's 4,500 tasks per app and day: beyond, create answers 40100 saying so.
    #[test]
    fn the_tasks_of_a_day_are_limited() {
        let (state, params) = allowlisted_lifetime_task();
        assert!(create(&state, &params, None).is_ok());
        state.tasks.lock().unwrap().today = rules::ASYNC_TASKS_PER_DAY;
        state.tasks.lock().unwrap().last_create = None;
        let (code, message) = create(&state, &params, None).unwrap_err();
        assert_eq!(code, 40100, "{message}");
        assert!(message.contains("4500"), "{message}");
        let rule = rules::async_rule("async_tasks_per_day").unwrap();
        assert_eq!(
            rule.code,
            Some(40100),
            "the rule table says what create answers"
        );
    }

    /// Task ids are unique per server and the same for the same seed and order of creates.
    #[test]
    fn task_ids_are_unique_and_deterministic_by_seed() {
        let ids = |seed: u64| -> Vec<String> {
            let (state, params) = seeded_lifetime_task(seed);
            (0..3)
                .map(|_| {
                    state.tasks.lock().unwrap().last_create = None;
                    let answer = create(&state, &params, None).unwrap();
                    answer["task_id"].as_str().unwrap().to_string()
                })
                .collect()
        };
        let first = ids(7);
        assert_eq!(first, ids(7));
        assert_ne!(first, ids(8));
        let unique: std::collections::HashSet<&String> = first.iter().collect();
        assert_eq!(unique.len(), first.len(), "{first:?}");
        assert!(first.iter().all(|id| id.len() == 19), "{first:?}");
    }

    #[test]
    fn statuses_follow_the_checks() {
        let seq =
            |needed, fails| -> Vec<&str> { (1..=4).map(|c| status(c, needed, fails)).collect() };
        assert_eq!(seq(3, false), [QUEUING, PROCESSING, SUCCESS, SUCCESS]);
        assert_eq!(seq(2, false), [QUEUING, SUCCESS, SUCCESS, SUCCESS]);
        assert_eq!(seq(1, false), [SUCCESS; 4]);
        assert_eq!(seq(0, false), [SUCCESS; 4]);
        assert_eq!(seq(4, true), [QUEUING, PROCESSING, PROCESSING, FAILED]);
        assert_eq!(status(0, 2, false), QUEUING, "not checked yet");
    }
}
