//! [`RequestTurn`]: requests that go one at a time, spaced (TikTok's asynchronous report
//! endpoints allow about one request a second per app). The turn is taken for each attempt of
//! a request, not for the request with its retries: it is given back as soon as an answer (or
//! a failure) comes, before the retry pause, so one failing download never keeps the other
//! tasks of the run waiting for its retries; and an attempt still unanswered after
//! `held_at_most` (a server that delays, a large file) gives it back too. The turn can also be
//! closed for the rest of the run, with the reason, so no queued request is sent once the
//! caller knows it is useless.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};

pub(crate) struct RequestTurn {
    /// The least time from one answer to the next request.
    spacing: Duration,
    /// The longest one attempt keeps the turn.
    held_at_most: Duration,
    /// When the last attempt was answered (or gave the turn back).
    last: tokio::sync::Mutex<Option<Instant>>,
    /// Why no more requests are sent in turn, once that is known.
    closed: Mutex<Option<String>>,
}

impl RequestTurn {
    pub(crate) fn new(spacing: Duration, held_at_most: Duration) -> Self {
        RequestTurn {
            spacing,
            held_at_most,
            last: tokio::sync::Mutex::new(None),
            closed: Mutex::new(None),
        }
    }

    /// Why the turn is closed, if it is.
    pub(crate) fn closed(&self) -> Option<String> {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Closes the turn for the rest of the run; returns whether it was open (the first reason
    /// is kept).
    pub(crate) fn close(&self, why: &str) -> bool {
        let mut closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        let was_open = closed.is_none();
        if was_open {
            *closed = Some(why.to_string());
        }
        was_open
    }

    /// Waits for the turn (queued in order), then `spacing` after the last answer, and runs
    /// one attempt in it: the turn is given back when the attempt ends or after
    /// `held_at_most`, whichever comes first. Fails, sending nothing, when the turn is closed
    /// by the time it comes.
    pub(crate) async fn attempt<T>(&self, attempt: impl Future<Output = T>) -> Result<T> {
        let mut last = self.last.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + self.spacing).await;
        }
        if let Some(why) = self.closed() {
            return Err(Error::Fatal(why));
        }
        futures::pin_mut!(attempt);
        let answer = tokio::time::timeout(self.held_at_most, &mut attempt).await;
        *last = Some(Instant::now());
        drop(last);
        Ok(match answer {
            Ok(answer) => answer,
            Err(_) => attempt.await,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attempts are spaced from the last answer, one at a time; a long attempt gives the turn
    /// back after `held_at_most`; a closed turn sends nothing. (Paused tokio time: no test
    /// waits on the wall clock.)
    #[tokio::test(start_paused = true)]
    async fn attempts_are_spaced_one_at_a_time_and_a_long_one_lets_others_by() {
        let turn = RequestTurn::new(Duration::from_secs(1), Duration::from_secs(5));
        let start = Instant::now();
        let at = |_: ()| start.elapsed().as_secs_f64().round() as u64;
        assert_eq!(turn.attempt(async {}).await.map(at).unwrap(), 0);
        assert_eq!(turn.attempt(async {}).await.map(at).unwrap(), 1);
        // An attempt that ends at 61 s (its sleep starts when made, at 1 s) takes the turn at
        // 2 s and holds it 5 s: the next one goes at 7 + 1 s.
        let slow = turn.attempt(tokio::time::sleep(Duration::from_secs(60)));
        let quick = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            turn.attempt(async {}).await.map(at).unwrap()
        };
        let (slow, quick) = tokio::join!(slow, quick);
        slow.unwrap();
        assert_eq!(
            (start.elapsed().as_secs_f64().round() as u64, quick),
            (61, 8)
        );
        assert!(turn.close("tasks refused"));
        assert!(!turn.close("another reason"));
        let mut sent = false;
        let refused = turn.attempt(async { sent = true }).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            Error::Fatal("tasks refused".into()).to_string()
        );
        assert!(!sent);
        assert_eq!(turn.closed().as_deref(), Some("tasks refused"));
    }
}
