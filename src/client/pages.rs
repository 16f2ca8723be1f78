//! Paging a list endpoint by `page_info`: the first page tells the page count, the rest are
//! fetched a few at a time, and paging stops where the server's answers say it must (the last
//! page, an empty page, a page that repeats the one before).

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Params, TikTokClient};
use crate::error::{Error, Result};

/// Which page of a list to ask for: TikTok's two paging parameters, the page number `page`
/// (from 1) and `page_size`, the records a page holds.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub(crate) page: u32,
    pub(crate) page_size: u32,
}

impl Paging {
    /// The first page, when pages hold `page_size` records.
    pub fn first(page_size: u32) -> Self {
        Paging { page: 1, page_size }
    }
}

/// One decoded page of a list endpoint.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Box<RawValue>>,
    pub page: u32,
    /// `page_info.total_page` when TikTok sent it.
    pub total_pages: Option<u32>,
    pub(crate) total_number: Option<u64>,
    /// The answer carried [`ADS_THROTTLE_HEADER`](super::transport::ADS_THROTTLE_HEADER): the
    /// report processed only the most recently created ads of what it selected, so its rows are
    /// incomplete.
    pub ads_throttled: bool,
}

#[derive(Deserialize, Default)]
struct PageInfo {
    #[serde(default)]
    total_page: Option<u32>,
    #[serde(default)]
    total_number: Option<u64>,
}

impl TikTokClient {
    /// Every page of a list endpoint, as a stream of pages in order. The first page tells the
    /// page count; the rest are fetched `page_concurrency` at a time. Without `page_info`, a
    /// page shorter than `page_size` is the last. Whatever the server claims, paging stops at
    /// `total_page`, at `total_number / page_size + 1` pages, at an empty page, and at a page
    /// that repeats the one before it; the last three are logged, as they mean the server's
    /// answers contradict each other.
    pub fn pages<'a>(
        &'a self,
        path: &'a str,
        params: Params,
        list_key: &'a str,
        page_size: u32,
    ) -> impl futures::Stream<Item = Result<Page>> + Send + 'a {
        let params = Arc::new(params);
        let paging = move |page| Paging { page, page_size };
        let first = {
            let params = params.clone();
            async move { self.page(path, &params, list_key, paging(1)).await }
        };
        futures::stream::once(first)
            .map_ok(move |first| {
                let limit = page_limit(first.total_pages, first.total_number, page_size);
                let more = match limit {
                    Some(limit) => limit > 1,
                    None => first.records.len() as u32 >= page_size,
                };
                let rest: futures::stream::BoxStream<'a, Result<Page>> = if more
                    && !first.records.is_empty()
                {
                    let params = params.clone();
                    let guard = PageGuard {
                        path,
                        previous: fingerprint(&first.records),
                        limit,
                        page_size,
                        done: false,
                    };
                    match limit {
                        Some(limit) => {
                            let mut guard = guard;
                            futures::stream::iter(2..=limit)
                                .map(move |n| {
                                    let params = params.clone();
                                    async move {
                                        self.page(path, &params, list_key, paging(n)).await
                                    }
                                })
                                .buffered(self.options.page_concurrency.max(1))
                                .scan((), move |_, page| futures::future::ready(guard.admit(page)))
                                .boxed()
                        }
                        // Without a count, pages are asked for one at a time, and none after
                        // the one that ends the list.
                        None => futures::stream::unfold(Some((2u32, guard)), move |next| {
                            let params = params.clone();
                            async move {
                                let (n, mut guard) = next?;
                                let page = self.page(path, &params, list_key, paging(n)).await;
                                let item = guard.admit(page)?;
                                let next = n.checked_add(1).filter(|_| !guard.done);
                                Some((item, next.map(|n| (n, guard))))
                            }
                        })
                        .boxed(),
                    }
                } else {
                    futures::stream::empty().boxed()
                };
                futures::stream::once(futures::future::ready(Ok(first))).chain(rest)
            })
            .try_flatten()
    }

    /// One page of a list endpoint.
    pub async fn page(
        &self,
        path: &str,
        params: &[(&'static str, String)],
        list_key: &str,
        paging: Paging,
    ) -> Result<Page> {
        let Paging { page, page_size } = paging;
        let mut all: Params = params.to_vec();
        all.push(("page", page.to_string()));
        all.push(("page_size", page_size.to_string()));
        let (mut page, throttled) = self
            .get_with_signal(path, &all, |data| match data {
                Some(data) => parse_page(path, data, list_key, page),
                None => Ok(Page {
                    records: Vec::new(),
                    page,
                    total_pages: None,
                    total_number: None,
                    ads_throttled: false,
                }),
            })
            .await?;
        page.ads_throttled = throttled;
        Ok(page)
    }
}

/// The most pages a query may have: `total_page`, and never more than
/// `total_number / page_size + 1`. `None` when the server said neither.
pub(crate) fn page_limit(
    total_pages: Option<u32>,
    total_number: Option<u64>,
    page_size: u32,
) -> Option<u32> {
    let by_number = total_number.map(|n| {
        let pages = n / u64::from(page_size.max(1)) + 1;
        u32::try_from(pages).unwrap_or(u32::MAX)
    });
    match (total_pages, by_number) {
        (Some(pages), Some(by_number)) => Some(pages.min(by_number)),
        (pages, by_number) => pages.or(by_number),
    }
}

/// Decides, page by page after the first, whether paging goes on.
struct PageGuard<'a> {
    path: &'a str,
    /// The fingerprint of the previous page's records.
    previous: u64,
    limit: Option<u32>,
    page_size: u32,
    done: bool,
}

impl PageGuard<'_> {
    /// `Some` to pass the item on, `None` to end the stream.
    fn admit(&mut self, page: Result<Page>) -> Option<Result<Page>> {
        if self.done {
            return None;
        }
        let page = match page {
            Ok(page) => page,
            Err(err) => {
                self.done = true;
                return Some(Err(err));
            }
        };
        if page.records.is_empty() {
            if self.limit.is_some_and(|limit| page.page < limit) {
                tracing::warn!(
                    path = self.path,
                    page = page.page,
                    promised = self.limit,
                    "TikTok sent an empty page before the last page it announced; paging stops here."
                );
            }
            return None;
        }
        let fingerprint = fingerprint(&page.records);
        if fingerprint == self.previous {
            tracing::warn!(
                path = self.path,
                page = page.page,
                "TikTok sent the same rows as on the page before; paging stops here rather than \
                 repeating them."
            );
            return None;
        }
        self.previous = fingerprint;
        if self.limit.is_none() && (page.records.len() as u32) < self.page_size {
            self.done = true;
        }
        Some(Ok(page))
    }
}

/// A hash of a page's records, to notice a page that repeats the one before.
fn fingerprint(records: &[Box<RawValue>]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    records.len().hash(&mut hasher);
    for record in records {
        record.get().hash(&mut hasher);
    }
    hasher.finish()
}

/// Splits `data` into its records and `page_info`.
pub fn parse_page(path: &str, data: &RawValue, list_key: &str, page: u32) -> Result<Page> {
    let unreadable = |e: serde_json::Error| {
        Error::Malformed(format!(
            "TikTok's answer to {path} cannot be read: its data object is not a page of \
             `{list_key}` records ({})",
            crate::scrub::echo(&e.to_string())
        ))
    };
    if data.get().trim() == "null" {
        return Ok(Page {
            records: Vec::new(),
            page,
            total_pages: None,
            total_number: None,
            ads_throttled: false,
        });
    }
    let parsed: std::collections::HashMap<String, &RawValue> =
        serde_json::from_str(data.get()).map_err(unreadable)?;
    let records: Vec<Box<RawValue>> = match parsed.get(list_key) {
        Some(list) if list.get().trim() != "null" => {
            serde_json::from_str(list.get()).map_err(unreadable)?
        }
        _ => Vec::new(),
    };
    let info: PageInfo = match parsed.get("page_info") {
        Some(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
        None => PageInfo::default(),
    };
    Ok(Page {
        records,
        page,
        total_pages: info.total_page,
        total_number: info.total_number,
        ads_throttled: false,
    })
}
