//! Which ad accounts a run captures, and the `advertisers` stream. Production asks
//! `oauth2/advertiser/get/` for every account the token reaches (unless
//! `advanced.advertiser_ids` names them); sandbox uses the configured account. Details come
//! from `advertiser/info/` in batches of at most 100 ids; the creation date they carry is where
//! report windows start.

use chrono::{DateTime, NaiveDate};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::context::{Context, RowsOf};
use super::record::{self, id_of};
use super::report::EARLIEST_DAY;
use super::state::StatePatch;
use crate::client::{from_raw, parse_page, TikTokClient};
use crate::config::{Config, Environment};
use crate::error::{Error, ErrorClass, Result};

/// At most this many ids per `advertiser/info/` call (TikTok answers 40011 beyond).
pub(crate) const INFO_BATCH: usize = 100;

#[derive(Debug, Clone)]
pub struct Advertiser {
    pub id: u64,
    /// The day the account was created (UTC), when `advertiser/info/` told us.
    pub created: Option<NaiveDate>,
    /// The account's time zone, from its `timezone` (`None` when unknown: day boundaries then
    /// assume the westernmost zone).
    pub(crate) time_zone: Option<chrono_tz::Tz>,
    pub info: Option<std::sync::Arc<Box<RawValue>>>,
}

#[derive(Debug, Default)]
pub struct Advertisers {
    pub list: Vec<Advertiser>,
    /// Why some details are missing (reported by the `advertisers` stream).
    pub info_error: Option<String>,
}

#[derive(Deserialize)]
struct Listed {
    advertiser_id: Value,
}

/// The ids the token reaches (production) or the configured sandbox account.
pub async fn ids(client: &TikTokClient, config: &Config) -> Result<Vec<u64>> {
    if let Environment::Sandbox { advertiser_id } = config.environment {
        return Ok(vec![advertiser_id]);
    }
    if let Some(ids) = &config.advertiser_ids {
        return Ok(ids.clone());
    }
    let (app_id, secret) = client
        .app_credentials()
        .ok_or_else(|| Error::Fatal("production credentials without an app".into()))?;
    let path = "oauth2/advertiser/get/";
    let data = client
        .get(
            path,
            &[
                ("app_id", app_id.to_string()),
                ("secret", secret.to_string()),
            ],
        )
        .await?;
    let page = parse_page(path, &data, "list", 1)?;
    let mut out = Vec::new();
    for raw in &page.records {
        let listed: Listed = from_raw(path, raw)?;
        if let Some(id) = id_of(&listed.advertiser_id) {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::config(
            "The access token reaches no TikTok ad account: authorize the app for at least one \
             advertiser in TikTok for Business, then re-authenticate.",
        ));
    }
    Ok(out)
}

/// The advertisers of this run, with their details.
pub async fn resolve(client: &TikTokClient, config: &Config) -> Result<Advertisers> {
    let ids = ids(client, config).await?;
    let mut out = Advertisers::default();
    let mut details: std::collections::HashMap<u64, Box<RawValue>> = Default::default();
    let path = crate::registry::ADVERTISERS.endpoint;
    let mut denied: Vec<u64> = Vec::new();
    let mut batches: std::collections::VecDeque<Vec<u64>> =
        ids.chunks(INFO_BATCH).map(<[u64]>::to_vec).collect();
    while let Some(batch) = batches.pop_front() {
        let list: Vec<String> = batch.iter().map(u64::to_string).collect();
        match client
            .get(path, &[("advertiser_ids", json!(list).to_string())])
            .await
        {
            Ok(data) => keep_details(path, &data, &mut details)?,
            // One account the token cannot read spoils its batch: ask for each alone to find it.
            Err(err) if err.class() == ErrorClass::Permission && batch.len() > 1 => {
                for id in batch.iter().rev() {
                    batches.push_front(vec![*id]);
                }
            }
            Err(err) if err.class() == ErrorClass::Permission => {
                tracing::warn!(advertiser_id = batch[0], error = %err, "Skipping an advertiser this token cannot read.");
                denied.push(batch[0]);
            }
            Err(err) if err.stops_the_run() && !config.is_sandbox() => return Err(err),
            Err(err) => {
                // Sandboxes often refuse advertiser/info/; reports then start at start_date.
                let level = if config.is_sandbox() {
                    "sandbox"
                } else {
                    "production"
                };
                tracing::warn!(error = %err, environment = level, "Could not read advertiser details; report windows start at start_date for these accounts.");
                if err.class() == ErrorClass::Auth && config.is_sandbox() {
                    return Err(err);
                }
                out.info_error.get_or_insert_with(|| err.to_string());
            }
        }
    }
    if !ids.is_empty() && denied.len() == ids.len() {
        // No account readable at all: every binding would capture nothing.
        let scope = crate::client::codes::permission_scope(path).unwrap_or("Ad Account Management");
        return Err(Error::config(format!(
            "TikTok refused every ad account of this capture ({} of them) on {path}: the app \
             most likely lacks the permission scope \"{scope}\". Add it to the app in TikTok \
             for Business (My Apps, Scope of permission) and re-authorize the capture, or check \
             advanced.advertiser_ids.",
            ids.len()
        )));
    }
    for id in ids.into_iter().filter(|id| !denied.contains(id)) {
        let info = details.remove(&id);
        let time_zone = info.as_ref().and_then(|raw| time_zone(id, raw));
        let today = config.clock.today_at(time_zone);
        let created = info
            .as_ref()
            .and_then(|raw| possible_creation(id, raw, today));
        out.list.push(Advertiser {
            id,
            created,
            time_zone,
            info: info.map(std::sync::Arc::new),
        });
    }
    Ok(out)
}

/// Keeps each account's details of an advertiser/info/ answer by its id.
fn keep_details(
    path: &str,
    data: &RawValue,
    details: &mut std::collections::HashMap<u64, Box<RawValue>>,
) -> Result<()> {
    #[derive(Deserialize)]
    struct Info {
        advertiser_id: Value,
    }
    for raw in parse_page(path, data, "list", 1)?.records {
        let id = from_raw::<Info>(path, &raw)
            .ok()
            .and_then(|i| id_of(&i.advertiser_id));
        if let Some(id) = id {
            details.insert(id, raw);
        }
    }
    Ok(())
}

/// The account's `timezone` (an IANA name such as `Europe/Moscow`, or `Etc/GMT+8` and the
/// like). A name the tz database does not know is logged once (advertisers are resolved once
/// per run) and taken as unknown.
fn time_zone(advertiser_id: u64, raw: &RawValue) -> Option<chrono_tz::Tz> {
    #[derive(Deserialize)]
    struct Zone {
        timezone: Option<String>,
    }
    let zone: Zone = serde_json::from_str(raw.get()).ok()?;
    let name = zone.timezone?;
    let known = crate::clock::zone_of(&name);
    if known.is_none() {
        tracing::warn!(
            advertiser_id,
            timezone = crate::scrub::excerpt(&name, 64).as_str(),
            "The ad account's time zone is not one the tz database knows, so its report days \
             are taken as ending at UTC-12 (the westernmost zone): the last day is read once more \
             next run rather than taken as complete too soon."
        );
    }
    known
}

/// An account's `create_time` as sent, and the day (UTC) it falls on when it reads as epoch
/// seconds (a number, sometimes a string). `None` when the details have none.
fn creation_time(raw: &RawValue) -> Option<(Value, Option<NaiveDate>)> {
    #[derive(Deserialize)]
    struct Created {
        #[serde(default)]
        create_time: Value,
    }
    let sent = serde_json::from_str::<Created>(raw.get()).ok()?.create_time;
    let seconds = match &sent {
        Value::Null => return None,
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let day = seconds.and_then(|s| DateTime::from_timestamp(s, 0).map(|t| t.date_naive()));
    Some((sent, day))
}

/// The day report windows of an account may start at: the UTC day before its creation, so that
/// accounts west of UTC do not lose their first local day. A creation TikTok could not have
/// made (before [`EARLIEST_DAY`], when TikTok Ads began, or after `today` in the account's
/// zone: `0`, a negative time, milliseconds read as seconds) tells nothing: it is said once
/// (accounts are resolved once per run), naming the account and the value, and taken as
/// unknown, so reports start at `start_date` or at [`EARLIEST_DAY`], never in 1969 or never.
fn possible_creation(advertiser_id: u64, raw: &RawValue, today: NaiveDate) -> Option<NaiveDate> {
    let (sent, day) = creation_time(raw)?;
    if let Some(day) = day.filter(|d| (EARLIEST_DAY..=today).contains(d)) {
        return day.pred_opt();
    }
    let reads_as = day.map_or_else(|| "no day".to_string(), |d| d.to_string());
    tracing::warn!(
        advertiser_id,
        create_time = crate::scrub::echo(&sent.to_string()).as_str(),
        reads_as = reads_as.as_str(),
        "The ad account's creation time (create_time) is not a day TikTok could have created \
         it on (before {EARLIEST_DAY} or after today), so it is not used: reports of this \
         account start at start_date, or at {EARLIEST_DAY} without one."
    );
    None
}

/// The `advertisers` stream: one record per account with details.
pub(crate) async fn emit(ctx: &Context, binding: usize, advertisers: &Advertisers) -> Result<()> {
    ctx.count_request(binding);
    let mut docs = Vec::new();
    for advertiser in &advertisers.list {
        let of = RowsOf {
            binding,
            advertiser_id: advertiser.id,
        };
        docs.extend(
            ctx.page_records(of, &advertiser.info, |info, types, notes| {
                record::advertiser(info, types, notes).map(Some)
            })?,
        );
    }
    ctx.records(binding, docs).await?;
    ctx.checkpoint(binding, StatePatch::Nothing).await?;
    match &advertisers.info_error {
        Some(why) => Err(Error::Fatal(format!(
            "Some advertiser details could not be read: {why}"
        ))),
        None => Ok(()),
    }
}
