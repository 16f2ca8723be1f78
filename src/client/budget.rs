//! What every request of a run shares about giving up ([`RunBudget`]): one give-up budget for
//! the whole run, so a server that refuses everything ends the run once, after the budget, not
//! once per query (each query used to get its own ten minutes: the activity index's two, then
//! each report's); and the endpoints whose daily quota TikTok said is spent, which no request
//! asks again this run (TikTok's QPD is per app and path, so the others go on).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Shared by every request of one client.
#[derive(Debug, Default)]
pub(crate) struct RunBudget {
    /// Since when no request has succeeded, while some failed (`None`: the last answer was a
    /// success, or nothing failed yet).
    failing_since: Mutex<Option<Instant>>,
    /// Paths whose daily quota is spent, with TikTok's message.
    spent: Mutex<HashMap<String, String>>,
}

impl RunBudget {
    /// A request succeeded: the run is making progress.
    pub(crate) fn on_success(&self) {
        *self.failing_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A request failed (retryable): how long the run has gone without any success, counted
    /// from the first failure since the last success.
    pub(crate) fn on_failure(&self) -> Duration {
        let mut since = self.failing_since.lock().unwrap_or_else(|e| e.into_inner());
        since.get_or_insert_with(Instant::now).elapsed()
    }

    /// TikTok said the daily quota of `path` is spent.
    pub(crate) fn spend_quota(&self, path: &str, message: &str) {
        self.spent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(path.to_string())
            .or_insert_with(|| message.to_string());
    }

    /// TikTok's message when the daily quota of `path` is spent this run.
    pub(crate) fn quota_spent(&self, path: &str) -> Option<String> {
        self.spent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_count_across_requests_until_a_success() {
        let budget = RunBudget::default();
        assert!(budget.on_failure() < Duration::from_millis(40));
        tokio::time::sleep(Duration::from_millis(60)).await;
        // Another request failing later counts from the first failure.
        assert!(budget.on_failure() >= Duration::from_millis(60));
        budget.on_success();
        assert!(budget.on_failure() < Duration::from_millis(40));
    }

    #[test]
    fn a_spent_quota_is_of_its_path_only() {
        let budget = RunBudget::default();
        budget.spend_quota("report/task/create/", "QPD");
        assert_eq!(
            budget.quota_spent("report/task/create/").as_deref(),
            Some("QPD")
        );
        assert_eq!(budget.quota_spent("report/integrated/get/"), None);
    }
}
