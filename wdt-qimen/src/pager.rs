//! Pages and owned page streams.
//!
//! [`PageStream`] is lazy (nothing is fetched until it is polled), owned (`'static + Send`, so it
//! can be spawned or stored), ends on the first empty page or after the last page that
//! `total_count` announces, and ends with an error as its last item, in particular
//! [`Error::RepeatedPage`] when a page repeats the previous one (a server that ignores `page_no`
//! would otherwise loop forever). [`PageStream::items`] flattens it to a stream of records, a
//! record that could not be decoded surfacing as an [`Error::Rejected`] item (never dropped).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, Stream, StreamExt};

use crate::error::Error;
use crate::sync::DeadLetter;

/// One page of a paged call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Page<T> {
    /// The page number, 1 = first page (whatever the route's wire base).
    pub page_no: u32,
    /// The page size requested.
    pub page_size: u32,
    /// The server's `total_count`, when it sent one.
    pub total_count: Option<u64>,
    /// The records of the page.
    pub items: Vec<T>,
    /// Records that could not be decoded, raw, with the reason (nothing is dropped).
    pub rejected: Vec<DeadLetter>,
    /// A hash of the page's raw records, to detect a repeated page.
    pub(crate) fingerprint: u64,
    /// How many of `rejected` could not even be parsed (invalid JSON syntax or UTF-8).
    pub(crate) damaged: usize,
}

impl<T> Page<T> {
    /// An empty page.
    pub fn empty(page_no: u32, page_size: u32) -> Self {
        Self {
            page_no,
            page_size,
            total_count: None,
            items: Vec::new(),
            rejected: Vec::new(),
            fingerprint: 0,
            damaged: 0,
        }
    }

    /// How many records of [`Page::rejected`] could not even be parsed: their text is not valid
    /// JSON or not UTF-8 (they are kept as received, bytes that are not UTF-8 written `\xNN`).
    /// [`Client`](crate::Client) reads such a page again before it hands it out.
    pub fn damaged(&self) -> usize {
        self.damaged
    }

    /// Records on the page, rejected ones included.
    pub fn len(&self) -> usize {
        self.items.len() + self.rejected.len()
    }

    /// Whether the page holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of the last page according to `total_count` (`None` without a count).
    pub fn last_page_no(&self) -> Option<u32> {
        let total = self.total_count?;
        let size = u64::from(self.page_size.max(1));
        Some(total.div_ceil(size).max(1).min(u64::from(u32::MAX)) as u32)
    }

    /// Whether two pages hold the same raw records (both non-empty).
    pub fn repeats(&self, other: &Page<T>) -> bool {
        self.fingerprint != 0 && self.fingerprint == other.fingerprint && self.len() == other.len()
    }
}

/// Fetches one page by number; what a [`PageStream`] is built from.
pub type FetchPage<T> = Box<dyn FnMut(u32) -> BoxFuture<'static, Result<Page<T>, Error>> + Send>;

struct PagerState<T> {
    fetch: FetchPage<T>,
    next: Option<u32>,
    /// Number, fingerprint and length of the previous page.
    previous: Option<(u32, u64, usize)>,
    method: String,
}

/// A lazy, owned stream of pages, first to last.
#[must_use = "streams do nothing unless polled"]
pub struct PageStream<T> {
    inner: BoxStream<'static, Result<Page<T>, Error>>,
    method: String,
}

impl<T: Send + 'static> PageStream<T> {
    /// A stream that fetches pages `1, 2, …` with `fetch` until a page is empty, the last page
    /// announced by `total_count` is read, or a page repeats the previous one.
    pub fn new(method: impl Into<String>, fetch: FetchPage<T>) -> Self {
        let method = method.into();
        let state = PagerState {
            fetch,
            next: Some(1),
            previous: None,
            method: method.clone(),
        };
        let inner = stream::unfold(state, |mut st| async move {
            let page_no = st.next?;
            match (st.fetch)(page_no).await {
                Err(e) => {
                    st.next = None;
                    Some((Err(e), st))
                }
                Ok(page) => {
                    if page.is_empty() {
                        return None;
                    }
                    if let Some((prev_no, prev_fp, prev_len)) = st.previous {
                        if page.fingerprint != 0 && prev_fp == page.fingerprint && prev_len == page.len() {
                            st.next = None;
                            let err = Error::RepeatedPage {
                                method: st.method.clone(),
                                page_no,
                                previous: prev_no,
                            };
                            return Some((Err(err), st));
                        }
                    }
                    let done =
                        page.last_page_no().is_some_and(|last| page_no >= last) || page.len() < page.page_size as usize;
                    st.next = if done { None } else { Some(page_no + 1) };
                    st.previous = Some((page_no, page.fingerprint, page.len()));
                    Some((Ok(page), st))
                }
            }
        })
        .boxed();
        Self { inner, method }
    }

    /// The records of every page, in order. A record that could not be decoded is not
    /// dropped: it is an [`Error::Rejected`] item (its raw JSON and the reason inside), after the
    /// page's decoded records, and the stream goes on; `try_collect` therefore stops at it, and
    /// a caller that wants to go past it matches on the error. Any other error is the last item.
    pub fn items(self) -> ItemStream<T> {
        let method = self.method.clone();
        let inner = self
            .inner
            .flat_map(move |page| match page {
                Ok(p) => {
                    let page_no = p.page_no;
                    let rejected = p.rejected.into_iter().map(|dead| {
                        Err(Error::Rejected {
                            method: method.clone(),
                            page_no,
                            record: crate::error::RejectedRecord(Box::new(dead)),
                        })
                    });
                    stream::iter(p.items.into_iter().map(Ok).chain(rejected).collect::<Vec<_>>())
                }
                Err(e) => stream::iter(vec![Err(e)]),
            })
            .boxed();
        ItemStream { inner }
    }

    /// The next page, or `None` at the end.
    pub async fn try_next(&mut self) -> Result<Option<Page<T>>, Error> {
        self.inner.next().await.transpose()
    }
}

impl<T> Stream for PageStream<T> {
    type Item = Result<Page<T>, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// A lazy, owned stream of records, flattened from a [`PageStream`].
#[must_use = "streams do nothing unless polled"]
pub struct ItemStream<T> {
    inner: BoxStream<'static, Result<T, Error>>,
}

impl<T> ItemStream<T> {
    /// The next record, or `None` at the end.
    pub async fn try_next(&mut self) -> Result<Option<T>, Error> {
        self.inner.next().await.transpose()
    }
}

impl<T> Stream for ItemStream<T> {
    type Item = Result<T, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn page(no: u32, size: u32, total: u64, items: Vec<u32>) -> Page<u32> {
        let fingerprint = items
            .iter()
            .fold(17u64, |h, i| h.wrapping_mul(31).wrapping_add(u64::from(*i) + 1));
        Page {
            page_no: no,
            page_size: size,
            total_count: Some(total),
            fingerprint,
            items,
            rejected: vec![],
            damaged: 0,
        }
    }

    fn stream_of(pages: Vec<Page<u32>>) -> PageStream<u32> {
        let fetch: FetchPage<u32> = Box::new(move |no| {
            let p = pages
                .get(no as usize - 1)
                .cloned()
                .unwrap_or_else(|| Page::empty(no, 2));
            Box::pin(async move { Ok(p) })
        });
        PageStream::new("m", fetch)
    }

    #[tokio::test]
    async fn stops_after_the_announced_last_page() {
        let s = stream_of(vec![
            page(1, 2, 3, vec![1, 2]),
            page(2, 2, 3, vec![3]),
            page(3, 2, 3, vec![99]),
        ]);
        let items: Vec<u32> = s.items().try_collect().await.unwrap();
        assert_eq!(items, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn ends_on_an_empty_page() {
        let s = stream_of(vec![page(1, 2, 100, vec![1, 2]), Page::empty(2, 2)]);
        let pages: Vec<Page<u32>> = s.try_collect().await.unwrap();
        assert_eq!(pages.len(), 1);
    }

    #[tokio::test]
    async fn a_repeated_page_ends_with_an_error() {
        let s = stream_of(vec![page(1, 2, 10, vec![1, 2]), page(2, 2, 10, vec![1, 2])]);
        let all: Vec<Result<Page<u32>, Error>> = s.collect().await;
        assert_eq!(all.len(), 2);
        assert!(matches!(
            all[1],
            Err(Error::RepeatedPage {
                page_no: 2,
                previous: 1,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn items_surface_undecodable_records_and_go_on() {
        let mut p1 = page(1, 2, 3, vec![1]);
        p1.rejected.push(DeadLetter {
            key: Some("7".into()),
            raw_json: r#"{"refund_id":7,"x":}"#.into(),
            reason: "data.order[1]: not valid JSON".into(),
        });
        let s = stream_of(vec![p1, page(2, 2, 3, vec![3])]);
        let all: Vec<Result<u32, Error>> = s.items().collect().await;
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[0].as_ref().unwrap(), &1);
        match &all[1] {
            Err(Error::Rejected { page_no: 1, record, .. }) => {
                assert_eq!(record.0.key.as_deref(), Some("7"));
                assert!(!format!("{:?}", all[1]).contains("refund_id"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(all[2].as_ref().unwrap(), &3);
        let e = stream_of(vec![{
            let mut p = page(1, 2, 1, vec![]);
            p.rejected.push(DeadLetter {
                key: None,
                raw_json: "{}".into(),
                reason: "r".into(),
            });
            p
        }])
        .items()
        .try_collect::<Vec<u32>>()
        .await
        .unwrap_err();
        assert!(e.to_string().contains("could not be decoded"), "{e}");
    }

    #[test]
    fn streams_are_static_and_send() {
        fn assert_static_send<S: Send + 'static>(_: &S) {}
        assert_static_send(&stream_of(vec![]));
        assert_static_send(&stream_of(vec![]).items());
    }
}
