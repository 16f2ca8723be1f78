//! The endpoints over the model's data but reports: discovery (`oauth2/advertiser/get/`),
//! `advertiser/info/`, the entity lists (`campaign/get/`, `adgroup/get/`, `ad/get/`) with their
//! filters and buying types, the asset lists, and the pixel endpoints.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::params::{json_param, page_info, page_range, paging, string_list};
use super::{
    advertiser_param, bad, json_id, parse_date, required, ApiError, AppState, Params,
    MAX_ADVERTISER_IDS,
};
use crate::assets::{sandbox_refusal, AssetKind};
use crate::faults::code_message;
use crate::model::{restrict, Advertiser, BuyingType, EntityKind, Model};

pub(super) fn known_advertiser(state: &AppState, id: u64) -> Result<&Advertiser, ApiError> {
    state
        .model
        .advertiser(id)
        .ok_or_else(|| (40001, code_message(40001, Some(&id.to_string()))))
}

pub(super) fn advertiser_get(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    if state.cfg.api.sandbox {
        return Err(sandbox_refusal());
    }
    let (Some(app_id), Some(secret)) = (params.get("app_id"), params.get("secret")) else {
        return Err(bad("app_id, secret: Missing data for required field."));
    };
    if *app_id != state.cfg.credentials.app_id || *secret != state.cfg.credentials.secret {
        return Err((
            40101,
            "Invalid app_id or secret. Please check the app_id and secret.".into(),
        ));
    }
    let list: Vec<Value> = state
        .model
        .advertisers
        .iter()
        .map(|a| json!({"advertiser_id": a.id.to_string(), "advertiser_name": a.name}))
        .collect();
    Ok(json!({ "list": list }))
}

pub(super) fn advertiser_info(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    let ids = match json_param(params, "advertiser_ids")? {
        Some(Value::Array(ids)) => ids,
        Some(_) => return Err(bad("advertiser_ids: Field must be set to array.")),
        None => return Err(bad("advertiser_ids: Missing data for required field.")),
    };
    if ids.is_empty() {
        return Err(bad("advertiser_ids: Length must be between 1 and 100."));
    }
    if ids.len() > MAX_ADVERTISER_IDS {
        return Err((
            40011,
            format!(
                "advertiser_ids: Too many ids ({}), at most 100 per request.",
                ids.len()
            ),
        ));
    }
    let fields = string_list(params, "fields")?;
    let mut list = Vec::with_capacity(ids.len());
    for raw in &ids {
        let id = json_id(raw)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("advertiser_ids: Not a valid list of ids."))?;
        let info = state
            .model
            .advertiser_info(id)
            .ok_or_else(|| (40001, code_message(40001, Some(&id.to_string()))))?;
        list.push(match &fields {
            Some(f) => restrict(info, f),
            None => info,
        });
    }
    Ok(json!({ "list": list }))
}

/// A page of `campaign/get/`, `adgroup/get/` or `ad/get/`: the entities the filters select
/// ([`EntityFilter`]), in id order, each restricted to `fields` when asked.
pub(super) fn entity_get(
    state: &AppState,
    kind: EntityKind,
    params: &Params,
) -> Result<Value, ApiError> {
    let model = &state.model;
    let adv = known_advertiser(state, advertiser_param(params)?)?;
    let path = match kind {
        EntityKind::Campaign => "campaign/get/",
        EntityKind::AdGroup => "adgroup/get/",
        EntityKind::Ad => "ad/get/",
    };
    let (page, size) = paging(params, path)?;
    let filtering = match json_param(params, "filtering")? {
        None => serde_json::Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(bad("filtering: Not a valid mapping type.")),
    };
    let fields = string_list(params, "fields")?;
    let filter = EntityFilter::parse(model.buying_types, kind, &filtering, size)?;
    if let Some(fields) = &fields {
        check_fields(model, adv, kind, fields)?;
    }
    let selected: Vec<usize> = (0..model.entity_count(adv, kind))
        .filter(|&i| filter.keeps(model, adv, kind, i))
        .collect();
    let (from, to) = page_range(page, size, selected.len());
    let list: Vec<Value> = selected[from..to]
        .iter()
        .map(|&i| {
            let v = model.render_entity(adv, kind, i);
            match &fields {
                Some(f) => restrict(v, f),
                None => v,
            }
        })
        .collect();
    Ok(json!({ "list": list, "page_info": page_info(page, size, selected.len()) }))
}

/// `fields` names only fields the entities have (as the first entity shows them).
fn check_fields(
    model: &Model,
    adv: &Advertiser,
    kind: EntityKind,
    fields: &[String],
) -> Result<(), ApiError> {
    let probe = (0..model.entity_count(adv, kind))
        .next()
        .map(|i| model.render_entity(adv, kind, i));
    if let Some(Value::Object(map)) = probe {
        if let Some(f) = fields.iter().find(|f| !map.contains_key(f.as_str())) {
            return Err(bad(format!("fields: invalid field name {f}")));
        }
    }
    Ok(())
}

/// The `filtering` of an entity list: a secondary status (none: every entity but the
/// deleted ones), buying types, and id sets of the entity's level and the levels above.
struct EntityFilter {
    status: Option<String>,
    all_status: String,
    not_deleted: String,
    buying: Vec<BuyingType>,
    campaign_ids: Option<Vec<u64>>,
    adgroup_ids: Option<Vec<u64>>,
    ad_ids: Option<Vec<u64>>,
}

impl EntityFilter {
    fn parse(
        buying_types: crate::BuyingTypes,
        kind: EntityKind,
        filtering: &serde_json::Map<String, Value>,
        page_size: u64,
    ) -> Result<EntityFilter, ApiError> {
        let status = match filtering.get("secondary_status") {
            None => None,
            Some(Value::String(s)) if s.starts_with(kind.status_prefix()) => Some(s.clone()),
            Some(other) => {
                return Err(bad(format!(
                    "filtering.secondary_status: invalid value {other}"
                )))
            }
        };
        let buying = match buying_types {
            crate::BuyingTypes::Documented => listed_buying_types(filtering, page_size)?,
            crate::BuyingTypes::Refused if filtering.contains_key("buying_types") => {
                return Err(bad("filtering: unknown field buying_types"));
            }
            crate::BuyingTypes::Ignored | crate::BuyingTypes::Refused => BuyingType::ALL.to_vec(),
        };
        let id_set = |name: &str| -> Result<Option<Vec<u64>>, ApiError> {
            match filtering.get(name) {
                None => Ok(None),
                Some(Value::Array(v)) => v
                    .iter()
                    .map(|x| json_id(x).and_then(|s| s.parse().ok()))
                    .collect::<Option<Vec<u64>>>()
                    .map(Some)
                    .ok_or_else(|| bad(format!("filtering.{name}: Not a valid list of ids."))),
                Some(_) => Err(bad(format!(
                    "filtering.{name}: Field must be set to array."
                ))),
            }
        };
        Ok(EntityFilter {
            status,
            all_status: format!("{}_ALL", kind.status_prefix()),
            not_deleted: format!("{}_NOT_DELETE", kind.status_prefix()),
            buying,
            campaign_ids: id_set("campaign_ids")?,
            adgroup_ids: id_set("adgroup_ids")?,
            ad_ids: id_set("ad_ids")?,
        })
    }

    /// Does the list hold entity `i` of this kind?
    fn keeps(&self, model: &Model, adv: &Advertiser, kind: EntityKind, i: usize) -> bool {
        let has = |set: &Option<Vec<u64>>, id: u64| set.as_ref().is_none_or(|s| s.contains(&id));
        let life = model.entity_life(adv, kind, i);
        let keep_status = match self.status.as_deref() {
            None => !life.deleted,
            Some(s) if s == self.all_status => true,
            Some(s) if s == self.not_deleted => !life.deleted,
            Some(s) => model.secondary_status(adv, kind, i) == s,
        };
        if !keep_status {
            return false;
        }
        let (c, g, a) = match kind {
            EntityKind::Campaign => (i, None, None),
            EntityKind::AdGroup => (adv.adgroups[i].campaign as usize, Some(i), None),
            EntityKind::Ad => (
                adv.ads[i].campaign as usize,
                Some(adv.ads[i].adgroup as usize),
                Some(i),
            ),
        };
        let campaign = &adv.campaigns[c];
        self.buying.contains(&campaign.buying)
            && has(&self.campaign_ids, campaign.id)
            && g.is_none_or(|g| has(&self.adgroup_ids, adv.adgroups[g].id))
            && a.is_none_or(|a| has(&self.ad_ids, adv.ads[a].id))
    }
}

// Buying types of `campaign/get/`, `adgroup/get/` and `ad/get/` (Get campaigns, portal doc
// 1739315828649986; Get ad groups, 1739314558673922; Get ads, 1735735588640770):
// `filtering.buying_types` defaults to ["AUCTION", "RESERVATION_RF"]; "RESERVATION_TOP_VIEW"
// must be asked alone, and then `page_size` is at most 100. The docs state the page limit for ad
// groups; the simulator applies the same rules to all three lists.

/// Buying types listed when `filtering.buying_types` is absent.
const DEFAULT_BUYING_TYPES: [BuyingType; 2] = [BuyingType::Auction, BuyingType::ReachFrequency];
/// The largest `page_size` of a TopView listing.
const TOP_VIEW_MAX_PAGE_SIZE: u64 = 100;

/// The buying types an entity list covers, or TikTok's refusal of `filtering.buying_types`.
fn listed_buying_types(
    filtering: &serde_json::Map<String, Value>,
    page_size: u64,
) -> Result<Vec<BuyingType>, ApiError> {
    let Some(value) = filtering.get("buying_types") else {
        return Ok(DEFAULT_BUYING_TYPES.to_vec());
    };
    let Value::Array(items) = value else {
        return Err(bad("filtering.buying_types: Field must be set to array."));
    };
    let mut list = Vec::with_capacity(items.len().min(BuyingType::ALL.len()));
    for item in items {
        let text = item
            .as_str()
            .ok_or_else(|| bad("filtering.buying_types: Field must be set to array of strings."))?;
        let buying = BuyingType::from_api(text)
            .ok_or_else(|| bad(format!("filtering.buying_types: invalid value {text}")))?;
        if !list.contains(&buying) {
            list.push(buying);
        }
    }
    if list.is_empty() {
        return Err(bad("filtering.buying_types: Length must be at least 1."));
    }
    if list.contains(&BuyingType::TopView) {
        if list.len() > 1 {
            return Err(bad(
                "filtering.buying_types: RESERVATION_TOP_VIEW cannot be combined with other buying types.",
            ));
        }
        if page_size > TOP_VIEW_MAX_PAGE_SIZE {
            return Err(bad(format!(
                "page_size: When filtering.buying_types is [\"RESERVATION_TOP_VIEW\"], page_size must be between 1 and {TOP_VIEW_MAX_PAGE_SIZE}."
            )));
        }
    }
    Ok(list)
}

/// A page of `dmp/custom_audience/list/`, `file/*/...`, `creative/portfolio/list/`,
/// `tt_video/list/` or `pixel/list/`: the refusals of [`Model::assets`], then the page rendered
/// by the same `render_asset`, under the endpoint's list key, with `page_info`.
pub(super) fn asset_list(
    state: &AppState,
    kind: AssetKind,
    params: &Params,
) -> Result<Value, ApiError> {
    let model = &state.model;
    if kind.production_only() && model.sandbox {
        return Err(sandbox_refusal());
    }
    let adv = model.asset_access(
        advertiser_param(params)?,
        kind.production_only(),
        kind == AssetKind::Pixel,
    )?;
    let (page, size) = paging(params, kind.path())?;
    let total = model.asset_count(kind);
    let (from, to) = page_range(page, size, total);
    let list: Vec<Value> = (from..to)
        .map(|i| model.render_asset(adv, kind, i))
        .collect();
    let mut data = serde_json::Map::new();
    data.insert(kind.list_key().to_string(), Value::Array(list));
    data.insert("page_info".to_string(), page_info(page, size, total));
    Ok(Value::Object(data))
}

pub(super) fn instant_page_events(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    if state.model.sandbox {
        return Err(sandbox_refusal());
    }
    let advertiser_id = advertiser_param(params)?;
    let objective = required(params, "objective_type")?;
    let goal = required(params, "optimization_goal")?;
    let list = state
        .model
        .instant_page_events(advertiser_id, &objective, &goal)?;
    Ok(json!({ "list": list }))
}

/// `pixel_ids` must be a JSON array of strings (Airbyte 4.7.0's Python-quoted list is not JSON
/// and gets TikTok's "Field must be set to array"); `date_range` a JSON object with
/// `start_date` and `end_date` as `YYYY-MM-DD` strings. The window rules live in
/// [`Model::pixel_event_stats`].
pub(super) fn pixel_event_stats(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    if state.model.sandbox {
        return Err(sandbox_refusal());
    }
    let advertiser_id = advertiser_param(params)?;
    // Permission first, like the other pixel endpoints.
    state.model.asset_access(advertiser_id, true, true)?;
    let pixel_ids: Vec<String> = match params.get("pixel_ids") {
        None => return Err(bad("pixel_ids: Missing data for required field.")),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| bad("pixel_ids: Field must be set to array of strings."))?,
            _ => return Err(bad("pixel_ids: Field must be set to array")),
        },
    };
    let range = match params.get("date_range") {
        None => return Err(bad("date_range: Missing data for required field.")),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            _ => return Err(bad("date_range: Field must be set to object")),
        },
    };
    let date = |name: &str| -> Result<NaiveDate, ApiError> {
        match range.get(name) {
            None => Err(bad(format!(
                "date_range.{name}: Missing data for required field."
            ))),
            Some(Value::String(s)) => parse_date(s)
                .ok_or_else(|| bad(format!("date_range.{name}: Not a valid date (YYYY-MM-DD)."))),
            Some(_) => Err(bad(format!("date_range.{name}: Not a valid string."))),
        }
    };
    let (start, end) = (date("start_date")?, date("end_date")?);
    let list = state
        .model
        .pixel_event_stats(advertiser_id, &pixel_ids, start, end)?;
    Ok(json!({ "list": list }))
}
