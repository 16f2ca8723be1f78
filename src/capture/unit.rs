//! One unit of work per stream kind: what one binding does for one ad account (for the
//! advertisers stream, for all of them at once). Each kind's unit type lives with its stream
//! ([`EntityUnit`] in `entity`, the pixel units in `pixels`, [`ReportUnit`] in `report`) and
//! has two methods side by side: `run`, which captures, and `planned_requests`, which the plan
//! counts before anything runs. [`Unit`] only picks the kind and dispatches, so a new kind is
//! one variant here, one file, and those two methods.

use super::advertisers::{self, Advertiser, Advertisers};
use super::binding::Binding;
use super::context::Context;
use super::entity::EntityUnit;
use super::pixels::{EventStatsUnit, InstantPageUnit};
use super::reconcile;
use super::report::{self, ReportUnit};
use super::sizing::Sizing;
use crate::error::Result;
use crate::registry::{Kind, StreamSpec};
use chrono::NaiveDate;

/// What the plan knows when it counts one unit's requests.
pub(crate) struct PlanFacts<'a> {
    pub(crate) binding: &'a Binding,
    /// How many ad accounts the run captures.
    pub(crate) accounts: u64,
    /// Today (UTC) as a report cursor writes it.
    pub(crate) today: &'a str,
    /// The windows a dated report unit will query (as the unit cuts them).
    pub(crate) windows: &'a [(NaiveDate, NaiveDate)],
    /// The run's size measures of the binding (a first run's).
    pub(crate) sizing: &'a Sizing,
    /// Whether the activity index decides which days the binding reads.
    pub(crate) index_applies: bool,
}

impl PlanFacts<'_> {
    /// The rows per day the last run read for an account (incremental bindings).
    pub(crate) fn rows_per_day(&self, advertiser_id: u64) -> Option<f64> {
        self.binding
            .state
            .rows_per_day(advertiser_id)
            .filter(|_| self.binding.incremental)
    }
}

/// One unit's expected requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Planned {
    pub(crate) requests: u64,
    /// A report with no page count from an earlier run: its pages beyond the first are not
    /// counted.
    pub(crate) pages_unknown: bool,
}

/// The work of one binding for one ad account.
pub(crate) enum Unit<'a> {
    /// The advertisers stream: one unit for every account.
    Advertisers(AdvertisersUnit),
    Entity(EntityUnit<'a>),
    PixelInstantPage(InstantPageUnit<'a>),
    PixelEventStats(EventStatsUnit<'a>),
    Report(ReportUnit<'a>),
}

impl<'a> Unit<'a> {
    /// Whether a binding's units are one per ad account (every kind but the advertisers
    /// stream, which has one unit for all of them, and the reconciliation, whose records the
    /// report units emit as they end).
    pub(crate) fn per_account(binding: &Binding) -> bool {
        !matches!(binding.stream.spec, StreamSpec::Row(row)
            if matches!(row.kind, Kind::Advertisers | Kind::Reconciliation))
    }

    /// The unit of binding `index` for `advertiser` (`None` for the advertisers stream's one
    /// unit); `None` when the pair has no work.
    pub(crate) fn of(
        index: usize,
        binding: &'a Binding,
        advertiser: Option<&'a Advertiser>,
    ) -> Option<Unit<'a>> {
        let unit = match (&binding.stream.spec, advertiser) {
            (StreamSpec::Row(row), advertiser) => match (row.kind, advertiser) {
                (Kind::Advertisers, _) => Unit::Advertisers(AdvertisersUnit { binding: index }),
                (Kind::Entity(def), Some(advertiser)) => Unit::Entity(EntityUnit {
                    binding: index,
                    row,
                    def,
                    advertiser,
                }),
                (Kind::PixelInstantPageEvents, Some(advertiser)) => {
                    Unit::PixelInstantPage(InstantPageUnit {
                        binding: index,
                        row,
                        advertiser,
                    })
                }
                (Kind::PixelEventStats { pixels }, Some(advertiser)) => {
                    Unit::PixelEventStats(EventStatsUnit {
                        binding: index,
                        row,
                        pixels,
                        advertiser,
                    })
                }
                _ => return None,
            },
            (StreamSpec::Report(spec), Some(advertiser)) => Unit::Report(ReportUnit::new(
                index,
                &binding.stream.name,
                spec,
                advertiser,
            )),
            (StreamSpec::Report(_), None) => return None,
        };
        Some(unit)
    }

    /// Captures the unit: its records, then its checkpoint.
    pub(crate) async fn run(
        &self,
        ctx: &Context,
        binding: &Binding,
        advertisers: &Advertisers,
    ) -> Result<()> {
        let incremental = binding.incremental;
        let cursor = |advertiser: &Advertiser| {
            binding
                .state
                .cursor(advertiser.id)
                .filter(|_| incremental)
                .map(str::to_string)
        };
        match self {
            Unit::Advertisers(unit) => unit.run(ctx, advertisers).await,
            Unit::Entity(unit) => unit.run(ctx, incremental, cursor(unit.advertiser)).await,
            Unit::PixelInstantPage(unit) => {
                let last_read = cursor(unit.advertiser);
                unit.run(ctx, incremental, last_read.as_deref()).await
            }
            Unit::PixelEventStats(unit) => unit.run(ctx).await,
            Unit::Report(unit) => {
                let result = report::unit(ctx, unit, incremental, cursor(unit.advertiser)).await;
                // What it emitted, compared with the ledger (the days it read in full).
                let reconciled = reconcile::unit_ended(ctx, unit).await;
                result.and(reconciled)
            }
        }
    }

    /// The requests the unit is expected to make, from what the plan knows.
    pub(crate) async fn planned_requests(&self, ctx: &Context, facts: &PlanFacts<'_>) -> Planned {
        let requests = match self {
            Unit::Advertisers(unit) => unit.planned_requests(facts),
            Unit::Entity(unit) => unit.planned_requests(ctx).await,
            Unit::PixelInstantPage(unit) => unit.planned_requests(facts.binding, facts.today),
            Unit::PixelEventStats(unit) => unit.planned_requests(),
            Unit::Report(unit) => {
                let hint = facts.rows_per_day(unit.advertiser.id);
                let (requests, pages_unknown) = report::planned_requests(
                    ctx,
                    unit,
                    (facts.windows, facts.sizing),
                    facts.index_applies,
                    hint,
                )
                .await;
                return Planned {
                    requests,
                    pages_unknown,
                };
            }
        };
        Planned {
            requests,
            pages_unknown: false,
        }
    }
}

/// The advertisers stream's one unit: the details of every account the run found.
pub(crate) struct AdvertisersUnit {
    pub(crate) binding: usize,
}

impl AdvertisersUnit {
    async fn run(&self, ctx: &Context, advertisers: &Advertisers) -> Result<()> {
        advertisers::emit(ctx, self.binding, advertisers).await
    }

    /// Its one request per 100 accounts was made to find the accounts.
    fn planned_requests(&self, facts: &PlanFacts<'_>) -> u64 {
        facts.accounts.div_ceil(100).max(1)
    }
}
