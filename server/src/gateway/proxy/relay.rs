//! Relaying a server-sent-event stream: each event goes to the client as
//! soon as its terminating blank line arrives, unchanged (except OpenAI's
//! usage chunk when the client did not ask for it) or translated into the
//! client's format, while the meter reads usage from it. The request
//! settles when the stream ends, fails, stalls past the provider's timeout,
//! or the client goes away (the relay is dropped, which also drops the
//! upstream connection).
//!
//! The provider's terminal event (`[DONE]`, `message_stop`) and whatever
//! follows it are held back until the stream ends and the request's usage
//! row is durable: a client that saw a complete answer has been charged,
//! even if Tollgate is killed a moment later.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, stream};
use memchr::memmem;

use crate::gateway::{
    format::usage::Verdict,
    metering::reader::StreamMeter,
    proxy::{settle::Pending, upstream::BodyStream},
    translate::stream::StreamTranslator,
};

/// What a relay says happened, as usage records name it.
const CLIENT_DISCONNECTED: &str = "client_disconnected";
const STREAM_BROKEN: &str = "upstream_stream_error";
const STREAM_STALLED: &str = "upstream_timeout";
const EVENT_TOO_LARGE: &str = "upstream_event_too_large";
/// How long the relay keeps reading after the provider's terminal event
/// (to let its connection end cleanly) before the answer completes anyway.
const AFTER_THE_END: Duration = Duration::from_millis(500);

pub struct Relay {
    upstream: BodyStream,
    /// Holds the bytes of an event not yet complete.
    splitter: Splitter,
    meter: StreamMeter,
    input_estimate: i64,
    idle_timeout: Duration,
    /// The longest an event may grow before its blank line arrives.
    max_event_bytes: usize,
    status: StatusCode,
    /// Taken when the request settles; still here on drop means the client left.
    pending: Option<Pending>,
    /// Rewrites the provider's events in the client's format, when they differ.
    translator: Option<StreamTranslator>,
    /// The provider sent its terminal event.
    ended: bool,
    /// When the relay first saw it.
    ended_at: Option<Instant>,
    /// Output from the terminal event on, sent once the usage is durable.
    tail: Vec<u8>,
}

impl Relay {
    pub fn new(
        upstream: BodyStream,
        meter: StreamMeter,
        input_estimate: i64,
        (idle_timeout, max_event_bytes): (Duration, usize),
        status: StatusCode,
        pending: Pending,
        translator: Option<StreamTranslator>,
    ) -> Self {
        Self {
            upstream,
            splitter: Splitter::default(),
            meter,
            input_estimate,
            idle_timeout,
            max_event_bytes,
            status,
            pending: Some(pending),
            translator,
            ended: false,
            ended_at: None,
            tail: Vec::new(),
        }
    }

    /// The body for the client.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        stream::unfold(self, |mut relay| async move {
            let item = relay.next_piece().await?;
            Some((item, relay))
        })
    }

    /// The next bytes to send: one or more whole events. `None` ends the body.
    async fn next_piece(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            self.pending.as_ref()?;
            // After the terminal event, whatever else the provider sends
            // may delay the end only briefly and may not grow without bound.
            let wait = match self.ended_at {
                Some(at)
                    if at.elapsed() >= AFTER_THE_END || self.tail.len() > self.max_event_bytes =>
                {
                    return self.complete().await;
                }
                Some(at) => AFTER_THE_END - at.elapsed(),
                None => self.idle_timeout,
            };
            let chunk = match tokio::time::timeout(wait, self.upstream.next()).await {
                // After its terminal event a provider has nothing more to
                // say: a stall or a break then is not a failure.
                Err(_) | Ok(Some(Err(_))) if self.ended => return self.complete().await,
                Err(_) => return Some(Err(self.fail(STREAM_STALLED))),
                Ok(None) => return self.complete().await,
                Ok(Some(Err(_))) => return Some(Err(self.fail(STREAM_BROKEN))),
                Ok(Some(Ok(chunk))) => chunk,
            };
            if let Some(pending) = self.pending.as_mut() {
                pending.mark_first_byte();
            }
            let complete = self.splitter.push(&chunk);
            if self.splitter.pending() > self.max_event_bytes {
                return Some(Err(self.fail(EVENT_TOO_LARGE)));
            }
            let Some(complete) = complete else {
                continue;
            };
            let out = self.filter(&complete);
            if self.ended && self.ended_at.is_none() {
                self.ended_at = Some(Instant::now());
            }
            if !out.is_empty() {
                return Some(Ok(out));
            }
        }
    }

    /// The provider is done: settles the request and, once its usage row
    /// is durable, sends what was held back.
    async fn complete(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        // A last event without its blank line still goes out.
        let rest = self.splitter.rest();
        let mut out = if rest.is_empty() {
            Vec::new()
        } else {
            self.filter(&rest).to_vec()
        };
        out.append(&mut self.tail);
        if let Some(translator) = self.translator.as_mut() {
            // Closes a stream the provider ended without its last events.
            translator.finish(&mut out);
        }
        if let Some(pending) = self.pending.take() {
            pending
                .settle(self.status, self.meter.tokens(self.input_estimate), None)
                .durable()
                .await;
        }
        (!out.is_empty()).then(|| Ok(Bytes::from(out)))
    }

    /// The complete events in `bytes`, metered, minus any the client must
    /// not see, and minus the terminal event and what follows it, which go
    /// to `tail`. Zero-copy when nothing is dropped or held.
    fn filter(&mut self, bytes: &Bytes) -> Bytes {
        if let Some(translator) = self.translator.as_mut() {
            // Room for the translation at once: a translated event is about
            // as long as the provider's, and the first brings
            // `message_start` (some 300 bytes) with it.
            let mut out = Vec::with_capacity(bytes.len() + 512);
            for (event_start, event_end, _) in events(bytes) {
                let event = &bytes[event_start..event_end];
                self.meter.observe(event);
                self.ended |= self.meter.ended();
                let target = if self.ended { &mut self.tail } else { &mut out };
                translator.event(event, target);
            }
            return Bytes::from(out);
        }
        let mut kept: Option<BytesMut> = None;
        // Where, in the output, the held-back part begins.
        let mut tail_from: Option<usize> = None;
        for (event_start, event_end, next) in events(bytes) {
            let verdict = self.meter.observe(&bytes[event_start..event_end]);
            self.ended |= self.meter.ended();
            if self.ended && tail_from.is_none() {
                tail_from = Some(kept.as_ref().map_or(event_start, BytesMut::len));
            }
            match (verdict, kept.as_mut()) {
                (Verdict::Relay, Some(kept)) => kept.extend_from_slice(&bytes[event_start..next]),
                (Verdict::Relay, None) => {}
                (Verdict::Drop, Some(_)) => {}
                (Verdict::Drop, None) => {
                    kept = Some(BytesMut::from(&bytes[..event_start]));
                }
            }
        }
        let mut out = match kept {
            Some(kept) => kept.freeze(),
            None => bytes.clone(),
        };
        if let Some(at) = tail_from {
            self.tail.extend_from_slice(&out.split_off(at));
        }
        out
    }

    fn fail(&mut self, kind: &str) -> std::io::Error {
        self.finish(Some(kind));
        // An error ends the body abruptly, so the client sees a cut stream.
        std::io::Error::other(kind.to_owned())
    }

    /// Settles a stream that did not complete; its client saw a cut
    /// answer, so nothing waits for the row to be durable.
    fn finish(&mut self, error_kind: Option<&str>) {
        if let Some(pending) = self.pending.take() {
            let _ = pending.settle(
                self.status,
                self.meter.tokens(self.input_estimate),
                error_kind,
            );
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.finish(Some(CLIENT_DISCONNECTED));
    }
}

/// Cuts a byte stream into runs of complete events, however it was
/// chunked. Only the new bytes of each chunk are searched (and the three
/// before them, in case a blank line straddles two chunks): rescanning a
/// growing event on every chunk would let a provider make us quadratic.
#[derive(Default)]
struct Splitter {
    /// Bytes of an event not yet complete.
    partial: BytesMut,
}

impl Splitter {
    /// Adds a chunk; returns the events it completed, with their blank
    /// lines, if any.
    fn push(&mut self, chunk: &[u8]) -> Option<Bytes> {
        let scan_from = self.partial.len().saturating_sub(3);
        self.partial.extend_from_slice(chunk);
        let end = last_event_end(&self.partial[scan_from..])?;
        Some(self.partial.split_to(scan_from + end).freeze())
    }

    /// How many bytes wait for their blank line.
    fn pending(&self) -> usize {
        self.partial.len()
    }

    /// What is left when the stream ends: a last event without its blank
    /// line, or nothing.
    fn rest(&mut self) -> Bytes {
        self.partial.split().freeze()
    }
}

/// Where the last complete event in `bytes` ends (after its blank line).
fn last_event_end(bytes: &[u8]) -> Option<usize> {
    let lf = memmem::rfind(bytes, b"\n\n").map(|at| at + 2);
    let crlf = memmem::rfind(bytes, b"\r\n\r\n").map(|at| at + 4);
    lf.max(crlf)
}

/// Each event in `bytes` (all complete) as (start, end of content, start of
/// the next event), found as the caller walks them: no allocation per chunk.
fn events(bytes: &[u8]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    // Providers use plain newlines: look for CRLF only where there is a CR.
    let has_cr = memchr::memchr(b'\r', bytes).is_some();
    let mut start = 0;
    std::iter::from_fn(move || {
        let rest = bytes.get(start..).filter(|rest| !rest.is_empty())?;
        let lf = memmem::find(rest, b"\n\n").map(|at| (at, 2));
        let crlf = has_cr
            .then(|| memmem::find(rest, b"\r\n\r\n").map(|at| (at, 4)))
            .flatten();
        let (at, len) = [lf, crlf]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
            .unwrap_or((rest.len(), 0));
        let event = (start, start + at, start + at + len);
        start += at + len;
        Some(event)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{
        gateway::{format::ApiFormat, translate::wire::event_data},
        platform::arbitrary,
    };

    /// What a stream delivers as the relay cuts it, chunk by chunk: each
    /// run of complete events, then the rest.
    fn runs(chunks: &[&[u8]]) -> Vec<Bytes> {
        let mut splitter = Splitter::default();
        let mut runs: Vec<Bytes> = chunks
            .iter()
            .filter_map(|chunk| splitter.push(chunk))
            .collect();
        runs.push(splitter.rest());
        runs
    }

    /// The non-empty `data:` payloads of the events of each run, as the
    /// meter and the translators read them.
    fn payloads(runs: &[Bytes]) -> Vec<Vec<u8>> {
        runs.iter()
            .flat_map(|run| {
                events(run)
                    .map(|(start, end, _)| event_data(&run[start..end]).into_owned())
                    .filter(|data| !data.is_empty())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    proptest! {
        #![proptest_config(arbitrary::config(512))]

        /// The client gets every byte once, in order; each run but the last
        /// ends with a blank line; and the events read from the runs are
        /// the same however the provider's bytes were chunked.
        #[test]
        fn prop_any_chunking_relays_the_same_bytes_and_events(
            bytes in prop_oneof![arbitrary::sse_bytes(), prop::collection::vec(any::<u8>(), 0..256)],
            cuts in arbitrary::cuts(),
        ) {
            let whole = runs(&[&bytes]);
            let chunked = runs(&arbitrary::chunks(&bytes, &cuts));
            prop_assert_eq!(chunked.concat(), bytes.clone());
            for run in &chunked[..chunked.len() - 1] {
                prop_assert!(run.ends_with(b"\n\n") || run.ends_with(b"\r\n\r\n"));
            }
            prop_assert_eq!(payloads(&chunked), payloads(&whole));
        }

        /// The meter reads the same usage however a stream is chunked, and
        /// it is what the provider reported; a stream cut before its usage
        /// counts a token per content event. The usage chunk Tollgate asked
        /// for is dropped once, whatever the chunking.
        #[test]
        fn prop_the_meter_reads_the_same_usage_from_any_chunking(
            (format, stream) in prop_oneof![
                arbitrary::openai_stream().prop_map(|stream| (ApiFormat::OpenAi, stream)),
                arbitrary::anthropic_stream().prop_map(|stream| (ApiFormat::Anthropic, stream)),
            ],
            cuts in arbitrary::cuts(),
            estimate in 0_i64..1_000_000,
        ) {
            let meter = |chunks: &[&[u8]]| {
                let mut meter = StreamMeter::new(format, false);
                let mut dropped = 0;
                for run in runs(chunks) {
                    for (start, end, _) in events(&run) {
                        dropped += usize::from(meter.observe(&run[start..end]) == Verdict::Drop);
                    }
                }
                (meter.tokens(estimate), dropped, meter.ended())
            };
            let whole = meter(&[&stream.bytes]);
            let chunked = meter(&arbitrary::chunks(&stream.bytes, &cuts));
            prop_assert_eq!(chunked, whole);
            let (tokens, dropped, ended) = chunked;
            match stream.reported {
                Some(reported) => {
                    prop_assert_eq!(tokens, reported);
                    prop_assert_eq!(dropped, usize::from(format == ApiFormat::OpenAi));
                    prop_assert!(ended);
                }
                None => {
                    prop_assert_eq!(tokens.output, stream.output_if_cut);
                    prop_assert!(!ended);
                }
            }
        }

        /// Events cover a run exactly: contents and blank lines in order.
        #[test]
        fn prop_events_cover_their_run(bytes in arbitrary::sse_bytes()) {
            let mut at = 0;
            for (start, end, next) in events(&bytes) {
                prop_assert_eq!(start, at);
                prop_assert!(start <= end && end <= next && next <= bytes.len());
                prop_assert!(matches!(&bytes[end..next], b"" | b"\n\n" | b"\r\n\r\n"));
                at = next;
            }
            prop_assert_eq!(at, bytes.len());
        }
    }

    #[test]
    fn events_split_on_blank_lines() {
        let bytes = b"data: a\n\nevent: x\ndata: b\n\ndata: c";
        let spans: Vec<_> = events(bytes).collect();
        assert_eq!(spans.len(), 3);
        assert_eq!(&bytes[spans[1].0..spans[1].1], b"event: x\ndata: b");
        assert_eq!(last_event_end(bytes), Some(27));
        assert_eq!(last_event_end(b"data: partial"), None);
    }
}
