//! What Anthropic ⇄ OpenAI translation costs per request, beside what the
//! proxy does anyway when it passes an answer through untranslated: the
//! request rewritten for the upstream, a JSON answer, and a stream pushed
//! event by event through the meter and the translator, as the relay does.
//! The answers are the mock upstream's to the proxy benchmark's request.
//! Prints ns per operation; asserts nothing.
//!
//! The `responses` section does the same for a Responses client (Codex) of
//! a chat provider, against a Responses provider passed through.
//!
//!   cargo bench -p server --bench translate [-- <iterations>] [request|json|stream|responses]

use std::{hint::black_box, time::Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use server::gateway::{
    format::ApiFormat,
    metering::reader::{self, StreamMeter},
    proxy::request::{ClientRequest, Endpoint},
    translate::{self, stream::StreamTranslator},
};

/// The proxy benchmark's request (`scripts/bench-proxy.sh`).
const MESSAGES: &str =
    r#""messages":[{"role":"user","content":"Write one short sentence about toll roads."}]"#;

/// The mock upstream's answer to `body` in `format`.
async fn mock_answer(format: ApiFormat, body: &str) -> anyhow::Result<Bytes> {
    let response = server::gateway::mock::answer(format, "", body.as_bytes()).await;
    Ok(response.into_body().collect().await?.to_bytes())
}

/// What the proxy does with a JSON answer in the other format (as
/// `proxy::forward` does it).
fn translate_answer(body: &[u8], client: ApiFormat, model: &str) -> Option<Vec<u8>> {
    let upstream: Value = serde_json::from_slice(body).ok()?;
    let from = match client {
        ApiFormat::Anthropic => ApiFormat::OpenAi,
        ApiFormat::OpenAi => ApiFormat::Anthropic,
        // Measured elsewhere in this file, or not a chat answer.
        ApiFormat::Responses | ApiFormat::Embeddings | ApiFormat::Gemini => return None,
    };
    let translated =
        translate::answer_between(&upstream, (from, client), (model, 1_700_000_000), &[])?;
    serde_json::to_vec(&translated).ok()
}

/// The events of an SSE body, without their blank lines.
fn events(body: &[u8]) -> Vec<Vec<u8>> {
    body.split(|&b| b == b'\n')
        .collect::<Vec<_>>()
        .split(|line| line.is_empty())
        .filter(|lines| !lines.is_empty())
        .map(|lines| lines.join(&b'\n'))
        .collect()
}

/// Runs `op` `iterations` times and prints the mean, per `per` units too.
fn time(label: &str, iterations: u32, per: Option<(&str, usize)>, mut op: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        op();
    }
    let started = Instant::now();
    for _ in 0..iterations {
        op();
    }
    let ns = started.elapsed().as_nanos() as f64 / f64::from(iterations);
    match per {
        Some((unit, n)) => println!(
            "{label:<52} {ns:>9.0} ns   {:>6.0} ns/{unit}",
            ns / n as f64
        ),
        None => println!("{label:<52} {ns:>9.0} ns"),
    }
    ns
}

fn stream_events(
    label: &str,
    iterations: u32,
    format: ApiFormat,
    events: &[Vec<u8>],
    translator: Option<&dyn Fn() -> Option<StreamTranslator>>,
) -> f64 {
    let mut out = Vec::with_capacity(4096);
    time(label, iterations, Some(("event", events.len())), || {
        let mut meter = StreamMeter::new(format, false);
        let mut translator = translator.and_then(|new| new());
        out.clear();
        for event in events {
            black_box(meter.observe(event));
            if let Some(translator) = translator.as_mut() {
                translator.event(event, &mut out);
            }
        }
        if let Some(translator) = translator.as_mut() {
            translator.finish(&mut out);
        }
        black_box((&out, meter.tokens(10)));
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let iterations: u32 = args
        .iter()
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(100_000);
    // Cargo passes `--bench`; any other word picks sections.
    let sections: Vec<&str> = args
        .iter()
        .filter(|arg| !arg.starts_with('-') && arg.parse::<u32>().is_err())
        .map(String::as_str)
        .collect();
    let run = |section: &str| sections.is_empty() || sections.contains(&section);

    let anthropic_request = format!(r#"{{"model":"bench-gpt","max_tokens":64,{MESSAGES}}}"#);
    let openai_request = format!(r#"{{"model":"bench","max_tokens":64,{MESSAGES}}}"#);
    let openai_stream_request = format!(
        r#"{{"model":"bench","max_tokens":64,"stream":true,"stream_options":{{"include_usage":true}},{MESSAGES}}}"#
    );
    let anthropic_stream_request =
        format!(r#"{{"model":"bench","max_tokens":64,"stream":true,{MESSAGES}}}"#);
    let openai_json = mock_answer(ApiFormat::OpenAi, &openai_request).await?;
    let anthropic_json = mock_answer(ApiFormat::Anthropic, &openai_request).await?;
    let openai_sse = events(&mock_answer(ApiFormat::OpenAi, &openai_stream_request).await?);
    let anthropic_sse =
        events(&mock_answer(ApiFormat::Anthropic, &anthropic_stream_request).await?);

    println!("{iterations} iterations each; \"as is\" is the untranslated work");
    if run("request") {
        println!("\n-- request (Anthropic client)");
        let upstream = |client, upstream| {
            let body = anthropic_request.as_bytes();
            move || {
                let request = ClientRequest::parse(black_box(body), Endpoint::Messages);
                let body =
                    request.and_then(|r| r.for_upstream("bench", client, upstream, 4096, 8_192));
                black_box(body.ok());
            }
        };
        let as_is = time(
            "parse + body for an Anthropic upstream (as is)",
            iterations,
            None,
            upstream(ApiFormat::Anthropic, ApiFormat::Anthropic),
        );
        let translated = time(
            "parse + body for an OpenAI upstream (translated)",
            iterations,
            None,
            upstream(ApiFormat::Anthropic, ApiFormat::OpenAi),
        );
        println!(
            "{:<52} {:>9.0} ns",
            "  translation adds",
            translated - as_is
        );
    }
    if run("json") {
        println!("\n-- JSON answer");
        let as_is = time("OpenAI answer metered (as is)", iterations, None, || {
            black_box(reader::from_json(
                ApiFormat::OpenAi,
                black_box(&openai_json),
            ));
        });
        let translated = time(
            "OpenAI answer metered + as Anthropic (translated)",
            iterations,
            None,
            || {
                black_box(reader::from_json(
                    ApiFormat::OpenAi,
                    black_box(&openai_json),
                ));
                black_box(translate_answer(
                    &openai_json,
                    ApiFormat::Anthropic,
                    "bench-gpt",
                ));
            },
        );
        println!(
            "{:<52} {:>9.0} ns",
            "  translation adds",
            translated - as_is
        );
        let as_is = time("Anthropic answer metered (as is)", iterations, None, || {
            black_box(reader::from_json(
                ApiFormat::Anthropic,
                black_box(&anthropic_json),
            ));
        });
        let translated = time(
            "Anthropic answer metered + as OpenAI (translated)",
            iterations,
            None,
            || {
                black_box(reader::from_json(
                    ApiFormat::Anthropic,
                    black_box(&anthropic_json),
                ));
                black_box(translate_answer(
                    &anthropic_json,
                    ApiFormat::OpenAi,
                    "bench-claude",
                ));
            },
        );
        println!(
            "{:<52} {:>9.0} ns",
            "  translation adds",
            translated - as_is
        );
    }
    if run("stream") {
        println!("\n-- stream");
        let as_is = stream_events(
            &format!("{} OpenAI events metered (as is)", openai_sse.len()),
            iterations,
            ApiFormat::OpenAi,
            &openai_sse,
            None,
        );
        let translated = stream_events(
            &format!("{} OpenAI events metered + as Anthropic", openai_sse.len()),
            iterations,
            ApiFormat::OpenAi,
            &openai_sse,
            Some(&|| {
                StreamTranslator::between(
                    (ApiFormat::OpenAi, ApiFormat::Anthropic),
                    "bench-gpt",
                    1_700_000_000,
                    false,
                    Vec::new(),
                )
            }),
        );
        println!(
            "{:<52} {:>9.0} ns   {:>6.0} ns/event",
            "  translation adds",
            translated - as_is,
            (translated - as_is) / openai_sse.len() as f64
        );
        let as_is = stream_events(
            &format!("{} Anthropic events metered (as is)", anthropic_sse.len()),
            iterations,
            ApiFormat::Anthropic,
            &anthropic_sse,
            None,
        );
        let translated = stream_events(
            &format!(
                "{} Anthropic events metered + as OpenAI",
                anthropic_sse.len()
            ),
            iterations,
            ApiFormat::Anthropic,
            &anthropic_sse,
            Some(&|| {
                StreamTranslator::between(
                    (ApiFormat::Anthropic, ApiFormat::OpenAi),
                    "bench-claude",
                    1_700_000_000,
                    true,
                    Vec::new(),
                )
            }),
        );
        println!(
            "{:<52} {:>9.0} ns   {:>6.0} ns/event",
            "  translation adds",
            translated - as_is,
            (translated - as_is) / anthropic_sse.len() as f64
        );
    }
    if run("responses") {
        bench_responses(iterations, &openai_json, &openai_sse).await?;
    }
    Ok(())
}

/// A Responses client: its request for a chat provider against the same
/// request passed through, and the chat provider's answer and stream as a
/// response against a Responses provider's, metered as is.
async fn bench_responses(
    iterations: u32,
    chat_json: &[u8],
    chat_sse: &[Vec<u8>],
) -> anyhow::Result<()> {
    let request = r#"{"model":"bench","max_output_tokens":64,"instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"Write one short sentence about toll roads."}]}]}"#;
    let stream_request = request.replacen('{', r#"{"stream":true,"#, 1);
    let responses_json = mock_answer(ApiFormat::Responses, request).await?;
    let responses_sse = events(&mock_answer(ApiFormat::Responses, &stream_request).await?);

    println!("\n-- Responses client: request");
    let upstream = |upstream| {
        move || {
            let parsed = ClientRequest::parse(black_box(request.as_bytes()), Endpoint::Responses);
            let body = parsed
                .and_then(|r| r.for_upstream("bench", ApiFormat::Responses, upstream, 4096, 8_192));
            black_box(body.ok());
        }
    };
    let as_is = time(
        "parse + body for a Responses upstream (as is)",
        iterations,
        None,
        upstream(ApiFormat::Responses),
    );
    let translated = time(
        "parse + body for a chat upstream (translated)",
        iterations,
        None,
        upstream(ApiFormat::OpenAi),
    );
    println!(
        "{:<52} {:>9.0} ns",
        "  translation adds",
        translated - as_is
    );

    println!("\n-- Responses client: JSON answer");
    let as_is = time("Responses answer metered (as is)", iterations, None, || {
        black_box(reader::from_json(
            ApiFormat::Responses,
            black_box(&responses_json),
        ));
    });
    let translated = time(
        "chat answer metered + as a response",
        iterations,
        None,
        || {
            black_box(reader::from_json(ApiFormat::OpenAi, black_box(chat_json)));
            let answer: Option<Value> = serde_json::from_slice(chat_json).ok();
            let response = answer.and_then(|answer| {
                translate::responses::answer_from_chat(&answer, "bench", 1, &[])
            });
            black_box(response.and_then(|response| serde_json::to_vec(&response).ok()));
        },
    );
    println!(
        "{:<52} {:>9.0} ns",
        "  translation adds",
        translated - as_is
    );

    println!("\n-- Responses client: stream");
    let as_is = stream_events(
        &format!("{} Responses events metered (as is)", responses_sse.len()),
        iterations,
        ApiFormat::Responses,
        &responses_sse,
        None,
    );
    let translated = stream_events(
        &format!("{} chat events metered + as Responses", chat_sse.len()),
        iterations,
        ApiFormat::OpenAi,
        chat_sse,
        Some(&|| {
            StreamTranslator::between(
                (ApiFormat::OpenAi, ApiFormat::Responses),
                "bench",
                1,
                false,
                Vec::new(),
            )
        }),
    );
    println!(
        "{:<52} {:>9.0} ns",
        "  translation adds",
        translated - as_is
    );
    Ok(())
}
