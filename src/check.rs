//! The connection check of Airbyte `check` and Flow `validate`: one cheap authenticated call,
//! and an answer that says what to fix when it fails.

use serde_json::json;

use crate::capture::advertisers;
use crate::client::{ClientOptions, Paging, TikTokClient};
use crate::config::{Config, Environment};
use crate::error::{Error, ErrorClass, Result};
use crate::registry;

/// Makes one authenticated call: the advertiser list (production), the details of the
/// configured accounts (production with `advertiser_ids`) or one campaign (sandbox).
pub async fn connection(config: &Config) -> Result<String> {
    connection_with(config, ClientOptions::default()).await
}

/// [`connection`] with the client's retry and timeout knobs given.
pub async fn connection_with(config: &Config, mut options: ClientOptions) -> Result<String> {
    // A check answers in seconds or says why not; it does not retry for ten minutes.
    options.give_up_after = options
        .give_up_after
        .min(std::time::Duration::from_secs(60));
    let client = TikTokClient::new(config, options)?;
    let outcome = match (&config.environment, &config.advertiser_ids) {
        (Environment::Sandbox { advertiser_id }, _) => client
            .page(
                registry::CAMPAIGNS.endpoint,
                &[("advertiser_id", advertiser_id.to_string())],
                "list",
                Paging::first(1),
            )
            .await
            .map(|_| format!("Connected to the TikTok sandbox account {advertiser_id}.")),
        (Environment::Production { .. }, Some(ids)) => {
            let batch: Vec<String> = ids
                .iter()
                .take(advertisers::INFO_BATCH)
                .map(u64::to_string)
                .collect();
            client
                .get(
                    registry::ADVERTISERS.endpoint,
                    &[("advertiser_ids", json!(batch).to_string())],
                )
                .await
                .map(|_| {
                    format!(
                        "Connected to TikTok; {} ad account(s) configured.",
                        ids.len()
                    )
                })
        }
        (Environment::Production { .. }, None) => {
            advertisers::ids(&client, config).await.map(|ids| {
                format!(
                    "Connected to TikTok; the token reaches {} ad account(s).",
                    ids.len()
                )
            })
        }
    };
    outcome.map_err(explain)
}

/// Rewords a failed check for the person who must fix it.
fn explain(err: Error) -> Error {
    match err.class() {
        ErrorClass::Auth => Error::config(format!("TikTok rejected the credentials: {err}")),
        ErrorClass::Permission => Error::config(format!(
            "TikTok accepted the token but refused access: {err}"
        )),
        ErrorClass::Config => err,
        _ => Error::Fatal(format!(
            "Could not reach the TikTok API to check the credentials: {}. Check \
             advanced.base_url and the network, then try again.",
            err.to_string().trim_end_matches('.')
        )),
    }
}
