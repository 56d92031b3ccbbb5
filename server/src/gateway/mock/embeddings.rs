//! OpenAI's embeddings, mocked: each input's vector comes from its SHA-256,
//! so the same input always gets the same vector, of unit length,
//! `dimensions` long ([`DEFAULT_DIMENSIONS`] when not asked), as floats or
//! as base64 (little-endian `f32`s, as OpenAI sends them). Usage counts
//! words like the chat answers do; a token array counts its tokens.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{error, read_request, refuse_as_asked};
use crate::gateway::format::ApiFormat;

/// A vector's length when the request names none.
pub const DEFAULT_DIMENSIONS: u64 = 64;
/// Longer vectors are refused, as real models refuse more than they have.
pub const MAX_DIMENSIONS: u64 = 4096;

pub async fn answer(body: &[u8]) -> Response {
    let format = ApiFormat::Embeddings;
    let refuse = |message: &str| error(format, StatusCode::BAD_REQUEST, message);
    let (request, model) = match read_request(body) {
        Ok(read) => read,
        Err(message) => return refuse(&message),
    };
    if let Some(refused) = refuse_as_asked(format, &model).await {
        return refused;
    }
    let Some(inputs) = inputs(request.get("input")) else {
        return refuse("input: a string, an array of strings or token arrays is required");
    };
    let dimensions = match request.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(value) => match value.as_u64().filter(|n| (1..=MAX_DIMENSIONS).contains(n)) {
            Some(n) => n,
            None => return refuse("dimensions: must be between 1 and 4096"),
        },
    };
    let base64 = request.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = vector_of(input, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    let tokens: u64 = inputs.iter().map(Input::tokens).sum();
    let mut answer = json!({ "object": "list", "data": data, "model": model });
    if !model.contains("nousage") {
        answer["usage"] = json!({ "prompt_tokens": tokens, "total_tokens": tokens });
    }
    Json(answer).into_response()
}

/// One input to embed.
enum Input {
    Text(String),
    Tokens(Vec<u64>),
}

impl Input {
    fn tokens(&self) -> u64 {
        match self {
            Self::Text(text) => (text.split_whitespace().count() as u64).max(1),
            Self::Tokens(tokens) => tokens.len() as u64,
        }
    }

    fn seed(&self) -> [u8; 32] {
        match self {
            Self::Text(text) => Sha256::digest(text.as_bytes()).into(),
            Self::Tokens(tokens) => {
                let mut hasher = Sha256::new();
                tokens.iter().for_each(|t| hasher.update(t.to_le_bytes()));
                hasher.finalize().into()
            }
        }
    }
}

/// The inputs of `input`, as OpenAI reads it; `None` when it is none of
/// its shapes.
fn inputs(input: Option<&Value>) -> Option<Vec<Input>> {
    let tokens = |items: &[Value]| -> Option<Vec<u64>> {
        (!items.is_empty()).then_some(())?;
        items.iter().map(Value::as_u64).collect()
    };
    let one = |value: &Value| match value {
        Value::String(text) if !text.is_empty() => Some(Input::Text(text.clone())),
        Value::Array(items) => tokens(items).map(Input::Tokens),
        _ => None,
    };
    match input? {
        Value::String(text) if !text.is_empty() => Some(vec![Input::Text(text.clone())]),
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            tokens(items).map(|tokens| vec![Input::Tokens(tokens)])
        }
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        _ => None,
    }
}

/// `dimensions` numbers drawn from the input's hash, scaled to length 1.
fn vector_of(input: &Input, dimensions: u64) -> Vec<f32> {
    let seed = input.seed();
    let mut values: Vec<f64> = (0..dimensions.div_ceil(8))
        .flat_map(|block| {
            let digest = Sha256::new()
                .chain_update(seed)
                .chain_update(block.to_le_bytes())
                .finalize();
            digest
                .chunks_exact(4)
                .map(|word| {
                    let n = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                    f64::from(n) / f64::from(u32::MAX) * 2.0 - 1.0
                })
                .collect::<Vec<_>>()
        })
        .take(usize::try_from(dimensions).unwrap_or(usize::MAX))
        .collect();
    let norm = values
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    values.iter_mut().for_each(|x| *x /= norm);
    #[allow(clippy::cast_possible_truncation)] // f32 is what the wire carries
    values.into_iter().map(|x| x as f32).collect()
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    async fn json_of(response: Response) -> (StatusCode, Value) {
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn the_same_input_gets_the_same_unit_vector_and_words_are_tokens() {
        let body = br#"{"model":"embed","input":["two words","two words","three words here"],"dimensions":12}"#;
        let (status, answer) = json_of(answer(body).await).await;
        assert_eq!(status, StatusCode::OK);
        let vectors: Vec<Vec<f64>> = answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| serde_json::from_value(item["embedding"].clone()).unwrap())
            .collect();
        assert_eq!(vectors.len(), 3);
        assert_eq!(vectors[0], vectors[1]);
        assert_ne!(vectors[0], vectors[2]);
        assert!(vectors.iter().all(|v| v.len() == 12));
        let length: f64 = vectors[2].iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((length - 1.0).abs() < 1e-5, "{length}");
        assert_eq!(answer["data"][2]["index"], 2);
        assert_eq!(
            answer["usage"],
            json!({ "prompt_tokens": 7, "total_tokens": 7 })
        );
    }

    #[tokio::test]
    async fn base64_carries_the_same_floats() {
        let floats = br#"{"model":"embed","input":[1,2,3]}"#;
        let encoded = br#"{"model":"embed","input":[1,2,3],"encoding_format":"base64"}"#;
        let (_, floats) = json_of(answer(floats).await).await;
        let (_, encoded) = json_of(answer(encoded).await).await;
        let bytes = STANDARD
            .decode(encoded["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        let decoded: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let floats: Vec<f32> =
            serde_json::from_value(floats["data"][0]["embedding"].clone()).unwrap();
        assert_eq!(decoded, floats);
        assert_eq!(decoded.len() as u64, DEFAULT_DIMENSIONS);
        assert_eq!(encoded["usage"]["prompt_tokens"], 3);
    }

    #[tokio::test]
    async fn what_is_not_an_input_is_refused() {
        for body in [
            r#"{"model":"embed"}"#,
            r#"{"model":"embed","input":""}"#,
            r#"{"model":"embed","input":[]}"#,
            r#"{"model":"embed","input":["a",[]]}"#,
            r#"{"model":"embed","input":"a","dimensions":5000}"#,
        ] {
            let (status, answer) = json_of(answer(body.as_bytes()).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert!(answer["error"]["message"].is_string(), "{body}");
        }
    }
}
