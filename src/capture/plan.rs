//! The request plan of a run: before any binding starts, the activity index is built for every
//! ad account and the requests each binding will make are counted from the same windows the
//! report units will cut, so the run can say up front how many requests it needs and how long
//! that takes at the configured rate. Progress logs then show the requests done of the planned
//! ones and an estimate of the time left. Pages beyond the first are counted from the rows per
//! day each report read for each account in the last run (its state's `rows_per_day`); a first
//! run measures a few of its larger reports instead ([`super::sizing`]). What neither covers is
//! counted as one page a query, the plan line says so (`pages_unknown`), and the estimate of
//! what remains grows with the pages seen.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::NaiveDate;
use futures::StreamExt;

use super::advertisers::Advertiser;
use super::binding::Binding;
use super::context::{unit_concurrency, Context};
use super::unit::{PlanFacts, Unit};
use super::{activity, buying, report, sizing};
use crate::error::Result;
use crate::registry::metrics::Granularity;
use crate::registry::{Kind, StreamSpec};
use sizing::{Sizing, Unsized};

/// How many requests each binding and the whole run are expected to make.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Plan {
    pub(crate) per_binding: Vec<u64>,
    /// Every request of the run, those already made (discovery, account details, the activity
    /// index) included.
    pub(crate) total: u64,
    /// Some report is read with no page count from an earlier run (a first run): its pages
    /// beyond the first are counted as they come.
    pub(crate) pages_unknown: bool,
}

/// Builds the activity index of every account (so the plan knows which days will be read),
/// then counts the requests of each binding and logs the plan.
pub(crate) async fn prepare(
    ctx: &Context,
    bindings: &[Binding],
    advertisers: &[Advertiser],
) -> Result<Plan> {
    let index_used = build_activity_index(ctx, bindings, advertisers).await?;
    learn_accounts(ctx, bindings, advertisers, index_used).await?;
    if index_used {
        // After the ad counts: an account over the cap by them is not checked (nothing of it
        // is skipped).
        activity::spot_check(ctx, bindings, advertisers).await?;
    }
    // A first run measures a few of its larger reports, so its plan counts their pages too.
    let windows = report_windows(ctx, bindings, advertisers).await;
    let work = unsized_work(ctx, bindings, advertisers, &windows).await;
    let sizings = sizing::measure(ctx, bindings, &work).await?;
    let plan = count(ctx, bindings, advertisers, &windows, &sizings).await?;
    log_plan(ctx, bindings, &plan);
    Ok(plan)
}

/// Builds the activity index of every account the report bindings read through it: whether
/// each ever delivered (when a lifetime report is due), and its active days. Returns whether
/// any binding uses the index.
async fn build_activity_index(
    ctx: &Context,
    bindings: &[Binding],
    advertisers: &[Advertiser],
) -> Result<bool> {
    let reports: Vec<(&Binding, bool)> = bindings
        .iter()
        .filter(|b| matches!(b.stream.spec, StreamSpec::Report(_)))
        .map(|b| (b, activity::applies(ctx, &b.stream.name)))
        .collect();
    let index_used = reports.iter().any(|(_, applies)| *applies);
    if index_used {
        let any_lifetime = reports.iter().any(|(b, applies)| {
            *applies && b.stream.report().map(|r| r.granularity) == Some(Granularity::Lifetime)
        });
        // Several accounts a query where TikTok allows it; what that leaves unknown, per account.
        let ids: Vec<u64> = advertisers.iter().map(|a| a.id).collect();
        activity::prime(ctx, &ids, any_lifetime).await?;
        each_account(ctx, advertisers, |a| async move {
            // Whether it ever delivered, then (if it did) its active days.
            activity::days(ctx, a.id).await?;
            if any_lifetime {
                activity::ever(ctx, a.id).await?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(index_used)
}

/// What the units share and the plan needs per account: the TopView campaign listings and the
/// ad counts.
async fn learn_accounts(
    ctx: &Context,
    bindings: &[Binding],
    advertisers: &[Advertiser],
    index_used: bool,
) -> Result<()> {
    // TopView campaigns, listed once per account and shared by the entity bindings (the
    // `campaigns` one emits them), so the plan knows which accounts need TopView listings.
    let entity_listings = bindings
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b.stream.spec, StreamSpec::Row(row) if matches!(row.kind, Kind::Entity(def) if def.per_buying_type)))
        .map(|(i, b)| (i, b.stream.name == crate::registry::CAMPAIGNS.name))
        .collect::<Vec<_>>();
    if let Some(&(first, _)) = entity_listings.first() {
        let owner = entity_listings
            .iter()
            .find(|(_, campaigns)| *campaigns)
            .map_or(first, |(i, _)| *i);
        each_account(ctx, advertisers, |a| {
            buying::topview_campaigns(ctx, owner, a.id)
        })
        .await?;
    }
    // The ad counts (an `ad/get/` look per account, and one more for TopView where the account
    // has TopView campaigns; shared by every report binding) decide
    // TopView queries and splits: made now for the accounts with anything to report, so the
    // plan knows them (the units reuse them).
    if let Some(first) = bindings
        .iter()
        .position(|b| matches!(b.stream.spec, StreamSpec::Report(_)))
    {
        each_account(ctx, advertisers, |a| async move {
            // Only accounts with something to report: one whose index shows no active day
            // needs no ad count, unless it delivered at some time (asked above when a
            // lifetime report is due; unknown otherwise, and then nothing will be queried).
            let active = !index_used
                || match activity::days(ctx, a.id).await {
                    Ok(Some(days)) => !days.active_days.is_empty(),
                    _ => true,
                };
            if active || activity::known_ever(ctx, a.id).await == Some(true) {
                report::inventory(ctx, first, a.id).await?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Logs the plan: per binding, and the run's total with the time it takes at the rate.
fn log_plan(ctx: &Context, bindings: &[Binding], plan: &Plan) {
    let rate = ctx.config.requests_per_second;
    for (binding, planned) in bindings.iter().zip(&plan.per_binding) {
        tracing::info!(
            stream = binding.stream.name.as_str(),
            planned_requests = planned,
            "Planned requests."
        );
    }
    let seconds = plan.total as f64 / rate;
    tracing::info!(
        planned_requests = plan.total,
        activity_index_requests = ctx.activity.requests.load(Ordering::Relaxed),
        requests_per_second = rate,
        expected_seconds = seconds.round() as u64,
        pages_unknown = plan.pages_unknown,
        "Capture plan: about {} requests, {} at {rate} requests per second{}.",
        plan.total,
        human(Duration::from_secs_f64(seconds)),
        if plan.pages_unknown {
            " (more where a report has more pages than one a query: no earlier run has \
             counted them, and the progress lines add them as they come)"
        } else {
            ""
        },
    );
}

/// Runs `step` for every account, a few at a time. Only an error that stops the run stops the
/// plan: the units meet the others again, and report them.
async fn each_account<'a, F, Fut, T>(
    ctx: &Context,
    advertisers: &'a [Advertiser],
    step: F,
) -> Result<()>
where
    F: Fn(&'a Advertiser) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let results = futures::stream::iter(advertisers)
        .map(step)
        .buffer_unordered(unit_concurrency(&ctx.config));
    futures::pin_mut!(results);
    while let Some(result) = results.next().await {
        match result {
            Err(err) if err.stops_the_run() => return Err(err),
            _ => {}
        }
    }
    Ok(())
}

/// Per binding and account (in the order of `advertisers`), the windows its report unit will
/// query, as the unit cuts them ([`super::report::unit_days`]); none for lifetime reports and
/// other rows. Cut once, for the size measures and the count alike.
type Windows = Vec<Vec<Vec<(NaiveDate, NaiveDate)>>>;

async fn report_windows(
    ctx: &Context,
    bindings: &[Binding],
    advertisers: &[Advertiser],
) -> Windows {
    let mut out = Vec::with_capacity(bindings.len());
    for (index, binding) in bindings.iter().enumerate() {
        let mut per_account = Vec::with_capacity(advertisers.len());
        for a in advertisers {
            let windows = match &binding.stream.spec {
                StreamSpec::Report(spec) if spec.granularity != Granularity::Lifetime => {
                    let unit = report::ReportUnit::new(index, &binding.stream.name, spec, a);
                    // An index that cannot be read fails the unit too, which then queries
                    // nothing.
                    let days = report::unit_days(ctx, &unit, a_cursor(binding, a.id))
                        .await
                        .ok()
                        .flatten();
                    days.into_iter()
                        .flat_map(|d| d.pieces)
                        .filter(|(_, _, fetch)| *fetch)
                        .map(|(from, to, _)| (from, to))
                        .collect()
                }
                _ => Vec::new(),
            };
            per_account.push(windows);
        }
        out.push(per_account);
    }
    out
}

/// Per report binding, the accounts no earlier run has counted rows for, with the windows
/// they will query.
async fn unsized_work(
    ctx: &Context,
    bindings: &[Binding],
    advertisers: &[Advertiser],
    windows: &Windows,
) -> Vec<Vec<Unsized>> {
    let mut out = Vec::with_capacity(bindings.len());
    for (binding, per_account) in bindings.iter().zip(windows) {
        let mut accounts = Vec::new();
        for (a, windows) in advertisers.iter().zip(per_account) {
            if windows.is_empty() || a_rows_per_day(binding, a.id).is_some() {
                continue;
            }
            accounts.push(Unsized {
                advertiser_id: a.id,
                ads: sizing::main_scope_ads(ctx, a.id).await,
                windows: windows.clone(),
            });
        }
        out.push(accounts);
    }
    out
}

async fn count(
    ctx: &Context,
    bindings: &[Binding],
    advertisers: &[Advertiser],
    windows: &Windows,
    sizings: &[Sizing],
) -> Result<Plan> {
    let accounts = advertisers.len() as u64;
    let today = ctx.config.clock.today_utc().format("%Y-%m-%d").to_string();
    let mut per_binding = Vec::with_capacity(bindings.len());
    let mut total = ctx.client.stats.requests.load(Ordering::Relaxed);
    let mut pages_unknown = false;
    for (index, binding) in bindings.iter().enumerate() {
        let mut facts = PlanFacts {
            binding,
            accounts,
            today: &today,
            windows: &[],
            sizing: &sizings[index],
            index_applies: activity::applies(ctx, &binding.stream.name),
        };
        if !Unit::per_account(binding) {
            // The advertisers stream's requests were made to find the accounts: in the run's
            // count already.
            let planned = match Unit::of(index, binding, None) {
                Some(unit) => unit.planned_requests(ctx, &facts).await.requests,
                None => 0,
            };
            per_binding.push(planned);
            continue;
        }
        let mut planned: u64 = 0;
        for (a, windows) in advertisers.iter().zip(&windows[index]) {
            let Some(unit) = Unit::of(index, binding, Some(a)) else {
                continue;
            };
            facts.windows = windows;
            let unit_plan = unit.planned_requests(ctx, &facts).await;
            pages_unknown |= unit_plan.pages_unknown;
            planned = planned.saturating_add(unit_plan.requests);
        }
        // The binding's requests made before the plan (its share of the TopView listings, the
        // ad counts and the size measures) are in the run's count already.
        total = total.saturating_add(planned);
        per_binding.push(planned.saturating_add(ctx.requests_of(index)));
    }
    Ok(Plan {
        per_binding,
        total,
        pages_unknown,
    })
}

fn a_rows_per_day(binding: &Binding, advertiser_id: u64) -> Option<f64> {
    binding
        .state
        .rows_per_day(advertiser_id)
        .filter(|_| binding.incremental)
}

fn a_cursor(binding: &Binding, advertiser_id: u64) -> Option<&str> {
    binding
        .state
        .cursor(advertiser_id)
        .filter(|_| binding.incremental)
}

/// What remains of a plan at this point of the run: requests done, the plan (never below what
/// is done) and the estimated time left at the rate observed so far, capped by the budget.
pub(crate) fn progress(planned: u64, done: u64, elapsed: Duration, budget: f64) -> (u64, Duration) {
    let planned = planned.max(done);
    let remaining = planned - done;
    let observed = if elapsed.as_secs_f64() > 0.0 {
        done as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    let rate = if observed > 0.0 {
        observed.min(budget)
    } else {
        budget
    };
    (
        planned,
        Duration::from_secs_f64(remaining as f64 / rate.max(1e-6)),
    )
}

/// `1h 05m`, `3m 20s`, `42s`.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m {sec:02}s"),
        (h, min, _) => format!("{h}h {min:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_never_plans_below_what_is_done_and_paces_at_most_at_the_budget() {
        // 100 of 400 done in 10 s (10/s): 300 left at 10/s.
        assert_eq!(
            progress(400, 100, Duration::from_secs(10), 10.0),
            (400, Duration::from_secs(30))
        );
        // Faster than the budget so far (a burst): the budget sets the pace.
        assert_eq!(
            progress(400, 100, Duration::from_secs(1), 10.0),
            (400, Duration::from_secs(30))
        );
        // Slower: the observed rate.
        assert_eq!(
            progress(400, 100, Duration::from_secs(20), 10.0),
            (400, Duration::from_secs(60))
        );
        // More done than planned (extra pages): nothing left, the plan follows.
        assert_eq!(
            progress(400, 450, Duration::from_secs(45), 10.0),
            (450, Duration::ZERO)
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(42)), "42s");
        assert_eq!(human(Duration::from_secs(200)), "3m 20s");
        assert_eq!(human(Duration::from_secs(3900)), "1h 05m");
    }
}
