//! TikTok's documented rules of the asynchronous report tasks (`report/task/create/`,
//! `check/`, `download/`): what they change about a report query (no date span limit, id
//! filters only, no UV metric by an audience dimension), their rate limits, and the table of
//! rules ([`ASYNC_RULES`]), each row citing its TikTok page.

use super::{docs, Refusal, NO_PERMISSION, PARAMETER_ERROR, TOO_FREQUENT};

/// One documented rule of TikTok's asynchronous report tasks (`report/task/create/`,
/// `report/task/check/`, `report/task/download/`): where it comes from, what it says, and the
/// code of a request that breaks it (`None` for the rules that lift a limit of the synchronous
/// report).
// A table for the reader and the tests: the server enforces these rules where they apply
// (`check_async_*`, `tasks`), the tests check each row against the server's answers.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct AsyncRule {
    /// A short name, for tests and logs.
    pub(crate) name: &'static str,
    /// The TikTok page that documents it.
    pub(crate) doc: &'static str,
    pub(crate) code: Option<i64>,
    /// The rule, in TikTok's words where it has them: written for the reader of the table,
    /// which no code reads.
    #[allow(dead_code)]
    pub(crate) says: &'static str,
}

/// The filter fields of an asynchronous BASIC or AUDIENCE report the simulator serves. TikTok's
/// create doc also names `country_code`, which the simulator models as a dimension only: a
/// `country_code` filter is refused saying so ([`check_async_filter`]).
pub(crate) const ASYNC_FILTER_FIELDS: &[&str] = &["campaign_ids", "adgroup_ids", "ad_ids"];
/// The `output_format` values of `report/task/create/` (the first is the default).
pub(crate) const ASYNC_OUTPUT_FORMATS: &[&str] = &["CSV_STRING", "CSV_DOWNLOAD", "XLSX_DOWNLOAD"];
/// `report/task/create/` calls an app may make per second.
pub(crate) const ASYNC_CREATES_PER_SECOND: u32 = 1;
/// Asynchronous report tasks an app may create per day.
pub(crate) const ASYNC_TASKS_PER_DAY: u32 = 4_500;
/// The UV (unique visitor) metrics an asynchronous report cannot break down by an audience
/// dimension (Create an asynchronous report task, [`docs::ASYNC_TASK_CREATE`]).
pub(crate) const ASYNC_UV_METRICS: &[&str] = &[
    "average_video_play_per_user",
    "frequency",
    "cost_per_1000_reached",
    "real_time_result",
    "real_time_result_rate",
    "real_time_cost_per_result",
    "result",
    "result_rate",
    "cost_per_result",
    "reach",
    "live_play_count",
];
/// The audience dimensions of [`ASYNC_UV_METRICS`]' rule (Create an asynchronous report task,
/// [`docs::ASYNC_TASK_CREATE`]).
pub(crate) const ASYNC_AUDIENCE_DIMENSIONS: &[&str] = &[
    "gender",
    "age",
    "country_code",
    "ac",
    "language",
    "platform",
    "interest_category",
    "placement",
    "contextual_tag",
];

// Codes and messages: TikTok documents the refusals of the asynchronous report tasks in words
// only. Every code below that is not quoted from a TikTok page is the simulator's choice, said
// so in the rule's `says`.

/// TikTok's rules of the asynchronous report tasks.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const ASYNC_RULES: &[AsyncRule] = &[
    AsyncRule {
        name: "async_allowlist_only",
        doc: docs::ASYNC_REPORT,
        code: Some(NO_PERMISSION),
        says: "Asynchronous reports are an allowlist-only feature: apply for it on TikTok's \
               Allowlist Management page. TikTok does not document the code it answers an app \
               outside the allowlist: 40001 (its code for a missing permission) is the \
               simulator's choice.",
    },
    AsyncRule {
        name: "async_no_time_range_limit",
        doc: docs::ASYNC_TASK_CREATE,
        code: None,
        says: "\"Query time range: There are no limits on starting times and ending times for \
               asynchronous reports.\" (Create an asynchronous report task, portal doc \
               1740302766489602): any date range, with any time dimension (the REPORT_RULES \
               marked sync_only do not apply).",
    },
    AsyncRule {
        name: "async_only_id_filters",
        doc: docs::ASYNC_TASK_CREATE,
        code: Some(PARAMETER_ERROR),
        says: "Asynchronous BASIC and AUDIENCE reports \"only support filtering by campaign_ids, \
               adgroup_ids, ad_ids or country_code\" (Create an asynchronous report task, portal \
               doc 1740302766489602); so no status filter: deleted entities are left out, as the \
               default status filter does. The simulator models country_code as a dimension \
               only: a country_code filter is refused as not modelled. The code of the refusals \
               (40002) is the simulator's choice.",
    },
    AsyncRule {
        name: "async_no_uv_metrics_by_audience",
        doc: docs::ASYNC_TASK_CREATE,
        code: Some(PARAMETER_ERROR),
        says: "\"Querying UV metrics with audience dimensions is not supported in asynchronous \
               reports.\" (Create an asynchronous report task, portal doc 1740302766489602; UV \
               metrics: ASYNC_UV_METRICS, audience dimensions: ASYNC_AUDIENCE_DIMENSIONS). The \
               code of the refusal (40002, naming the metric and the dimension) is the \
               simulator's choice.",
    },
    AsyncRule {
        name: "async_country_code_as_name",
        doc: docs::ASYNC_TASK_CREATE,
        code: None,
        says: "Known issue: \"Currently, asynchronous reports return the dimension country_code \
               (e.g. US) as country_name (e.g. United States).\" (Create an asynchronous report \
               task, portal doc 1740302766489602): the country_code column of the task's file \
               holds country names.",
    },
    AsyncRule {
        name: "async_no_ads_cap",
        doc: docs::REPORTING_FAQ,
        code: None,
        says: "Both the TTAM downloaded report and the API asynchronous report do not implement \
               the 20,000-truncation for ads: a task processes every ad, without \
               X-Tt-Ads-Throttle.",
    },
    AsyncRule {
        name: "async_one_create_per_second",
        doc: docs::ASYNC_TASK_CREATE,
        code: Some(TOO_FREQUENT),
        says: "\"Rate limit: ... the rate limit for each app is 1 QPS\" (Create an asynchronous \
               report task, portal doc 1740302766489602). The code and message of a create \
               beyond it (40100, TikTok's code for its other rate limits) are the simulator's \
               choice.",
    },
    AsyncRule {
        name: "async_tasks_per_day",
        doc: docs::REPORTING_FAQ,
        code: Some(TOO_FREQUENT),
        says: "The maximum number of tasks per app per day is 4500. The code and message of a \
               create beyond it (40100) are the simulator's choice.",
    },
    AsyncRule {
        name: "async_creates_per_account_hour",
        doc: docs::ASYNC_TASK_CREATE,
        code: None,
        says: "\"Furthermore, the user associated with your access token has a separate limit of \
               500 asynchronous report creations per ad account every hour.\" (Create an \
               asynchronous report task, portal doc 1740302766489602). Not modelled: the 1 QPS \
               per app keeps a simulated server far below it in its minutes of life.",
    },
    AsyncRule {
        name: "async_download_after_success",
        doc: docs::ASYNC_TASK_CHECK,
        code: Some(PARAMETER_ERROR),
        says: "The output of a task is there once report/task/check/ says SUCCESS (statuses \
               QUEUING, PROCESSING, SUCCESS, FAILED, CANCELED; Get the status of an async report \
               task, portal doc 1740302781443073). The answer to a download of a task not \
               finished, or FAILED, (40002) is the simulator's choice.",
    },
    AsyncRule {
        name: "async_known_task",
        doc: docs::ASYNC_TASK_CHECK,
        code: Some(PARAMETER_ERROR),
        says: "task_id must be a task created for the advertiser_id of the request. The answer to \
               an unknown task (40002, naming it) is the simulator's choice.",
    },
];

/// The rule of [`ASYNC_RULES`] named `name`.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn async_rule(name: &str) -> Option<&'static AsyncRule> {
    ASYNC_RULES.iter().find(|r| r.name == name)
}

/// The answer to `report/task/create/` from an app outside the allowlist (TikTok does not
/// document its code: 40001 is the simulator's choice, [`ASYNC_RULES`]'s
/// `async_allowlist_only`).
pub(crate) fn async_not_allowlisted() -> Refusal {
    (
        NO_PERMISSION,
        "No permission to operate. Asynchronous reports are an allowlist-only feature: apply \
         for it on the Allowlist Management page of TikTok API for Business, then create the \
         task again."
            .into(),
    )
}

/// The answer to an asynchronous report task filtering on `field`, when it is not one of
/// [`ASYNC_FILTER_FIELDS`] (40002: the simulator's choice; `country_code`, a filter field of
/// TikTok's, is refused as not modelled).
pub(crate) fn check_async_filter(field: &str) -> Result<(), Refusal> {
    if ASYNC_FILTER_FIELDS.contains(&field) {
        return Ok(());
    }
    if field == "country_code" {
        return Err((
            PARAMETER_ERROR,
            "filtering: field_name \"country_code\" is not modelled by the simulated API; \
             break the report down by the country_code dimension instead."
                .into(),
        ));
    }
    Err((
        PARAMETER_ERROR,
        format!(
            "filtering: field_name {field:?} is not supported by asynchronous reports; only \
             campaign_ids, adgroup_ids, ad_ids and country_code are."
        ),
    ))
}

/// The refusal of an asynchronous report task asking a UV metric ([`ASYNC_UV_METRICS`]) with an
/// audience dimension ([`ASYNC_AUDIENCE_DIMENSIONS`]), naming both (40002: the simulator's
/// choice, [`ASYNC_RULES`]'s `async_no_uv_metrics_by_audience`).
pub(crate) fn check_async_uv_metrics(
    metrics: &[String],
    dimensions: &[String],
) -> Result<(), Refusal> {
    let uv = metrics
        .iter()
        .find(|m| ASYNC_UV_METRICS.contains(&m.as_str()));
    let audience = dimensions
        .iter()
        .find(|d| ASYNC_AUDIENCE_DIMENSIONS.contains(&d.as_str()));
    match (uv, audience) {
        (Some(metric), Some(dimension)) => Err((
            PARAMETER_ERROR,
            format!(
                "metrics: the UV metric {metric} cannot be queried with the audience dimension \
                 {dimension} in asynchronous reports."
            ),
        )),
        _ => Ok(()),
    }
}

/// The message of a `report/task/create/` within a second of the previous task.
pub(crate) fn async_per_second_message() -> String {
    format!(
        "Requests made too frequently. The app reaches the QPS limit \
         {ASYNC_CREATES_PER_SECOND} for current path, request is temporarily restricted."
    )
}

/// The message of a `report/task/create/` beyond the tasks of the day.
pub(crate) fn async_per_day_message() -> String {
    format!(
        "Requests made too frequently. The app reaches the daily limit (QPD) of \
         {ASYNC_TASKS_PER_DAY} asynchronous report tasks, request is restricted until \
         00:00:00 UTC+0."
    )
}
