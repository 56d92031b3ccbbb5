//! Provider adapters: what Tollgate needs to know to call one kind of
//! provider, in one file per kind behind one trait (the wire format it
//! speaks, where its endpoints are, how a key is presented, what else it
//! expects and supports). The proxy asks the adapter of a route's provider
//! and never matches on the kind; adding a kind is a new file here and a
//! line in [`for_kind`].

mod anthropic;
mod gemini;
mod mock;
mod openai_chat;
mod openai_responses;

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::{gateway::format::ApiFormat, platform::entity::provider::ProviderKind};

pub trait Adapter: Send + Sync + 'static {
    /// The format a request is sent in when its client speaks `client`:
    /// the same one means the bodies pass through byte for byte.
    fn format(&self, client: ApiFormat) -> ApiFormat;

    /// The path under the provider's base URL for a request in `format` to
    /// `model` (which Gemini's API names in the path, with the stream).
    fn path(&self, format: ApiFormat, model: &str, stream: bool) -> Cow<'static, str>;

    /// The header a stored upstream key goes in, and its value.
    fn credential(&self, key: &str) -> (HeaderName, String);

    /// Headers the provider expects besides the credential, taken from the
    /// client's request where the client chose them.
    fn headers(&self, _client: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
        Vec::new()
    }

    /// Whether the provider serves embeddings (it sends them as such).
    fn embeds(&self) -> bool {
        self.format(ApiFormat::Embeddings) == ApiFormat::Embeddings
    }

    /// The provider's own token-counting endpoint for requests in
    /// `format` to `model`, if it has one.
    fn count_tokens_path(&self, _format: ApiFormat, _model: &str) -> Option<Cow<'static, str>> {
        None
    }

    /// Answered in this process rather than over HTTP (the built-in mock).
    fn in_process(&self) -> bool {
        false
    }
}

/// The adapter of a provider kind.
pub fn for_kind(kind: ProviderKind) -> &'static dyn Adapter {
    match kind {
        ProviderKind::Openai => &openai_chat::OpenAiChat,
        ProviderKind::OpenaiResponses => &openai_responses::OpenAiResponses,
        ProviderKind::Anthropic => &anthropic::Anthropic,
        ProviderKind::Gemini => &gemini::Gemini,
        ProviderKind::Mock => &mock::Mock,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_speaks_its_format_and_presents_its_key_its_way() {
        let cases = [
            (
                ProviderKind::Openai,
                ApiFormat::OpenAi,
                "authorization",
                "Bearer sk-1",
                "/chat/completions",
            ),
            (
                ProviderKind::Anthropic,
                ApiFormat::Anthropic,
                "x-api-key",
                "sk-1",
                "/v1/messages",
            ),
        ];
        for (kind, native, header, value, path) in cases {
            let adapter = for_kind(kind);
            for client in [ApiFormat::OpenAi, ApiFormat::Anthropic] {
                assert_eq!(adapter.format(client), native, "{kind:?}");
            }
            assert_eq!(
                adapter.credential("sk-1"),
                (HeaderName::from_static(header), value.to_owned())
            );
            assert_eq!(adapter.path(native, "m", false), path);
            assert!(!adapter.in_process());
        }
        let mock = for_kind(ProviderKind::Mock);
        assert!(mock.in_process());
        for client in [ApiFormat::OpenAi, ApiFormat::Anthropic] {
            assert_eq!(mock.format(client), client, "the mock speaks both");
        }
    }

    #[test]
    fn anthropic_gets_the_clients_version_and_betas_or_a_default_version() {
        let adapter = for_kind(ProviderKind::Anthropic);
        let mut client = HeaderMap::new();
        assert_eq!(
            adapter.headers(&client),
            [(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static("2023-06-01")
            )]
        );
        client.insert("anthropic-version", HeaderValue::from_static("2024-01-01"));
        client.append("anthropic-beta", HeaderValue::from_static("a"));
        client.append("anthropic-beta", HeaderValue::from_static("b"));
        let sent: Vec<(String, String)> = adapter
            .headers(&client)
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            sent,
            [
                ("anthropic-version".to_owned(), "2024-01-01".to_owned()),
                ("anthropic-beta".to_owned(), "a".to_owned()),
                ("anthropic-beta".to_owned(), "b".to_owned()),
            ]
        );
        assert_eq!(for_kind(ProviderKind::Openai).headers(&client), []);
    }
}
