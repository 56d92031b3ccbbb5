//! The LLM API's shapes as the OpenAPI description shows them. The list of
//! models is answered with these types. The forwarding endpoints read
//! bodies field by field (see [`super::request`]) and pass the rest
//! through, so for them these types only document: the fields Tollgate
//! itself reads or guarantees, every other field of the format allowed.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// OpenAI's chat completion request. Other fields of OpenAI's format pass
/// through (translated when the model's provider speaks another format).
#[derive(Serialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// A model's public name (`GET /v1/models`).
    pub model: String,
    pub messages: Vec<Value>,
    pub stream: Option<bool>,
    /// The output cap the request is held and charged against; at most the
    /// model's own.
    pub max_completion_tokens: Option<i64>,
    pub max_tokens: Option<i64>,
}

/// Anthropic's messages request.
#[derive(Serialize, ToSchema)]
pub struct MessagesRequest {
    pub model: String,
    pub messages: Vec<Value>,
    /// Required by Anthropic's format.
    pub max_tokens: i64,
    pub system: Option<Value>,
    pub stream: Option<bool>,
}

/// OpenAI's Responses request, stateless: `previous_response_id`,
/// `conversation` and `background` are refused, `store` is ignored.
#[derive(Serialize, ToSchema)]
pub struct ResponsesRequest {
    pub model: String,
    /// A string, or a list of input items.
    pub input: Value,
    pub instructions: Option<String>,
    pub stream: Option<bool>,
    pub max_output_tokens: Option<i64>,
}

/// Gemini's `generateContent` request (the model and the stream are in
/// the path: `models/{model}:generateContent`, `:streamGenerateContent`,
/// or `:countTokens` for an estimate of its input).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    pub contents: Vec<Value>,
    pub system_instruction: Option<Value>,
    pub tools: Option<Vec<Value>>,
    /// `maxOutputTokens` is the cap the request is held and charged
    /// against; at most the model's own.
    pub generation_config: Option<Value>,
}

/// Gemini's answer (`generateContent`), or each event of a stream.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    pub candidates: Vec<Value>,
    pub usage_metadata: Option<Value>,
    pub model_version: Option<String>,
}

/// Google's error body.
#[derive(Serialize, ToSchema)]
pub struct GoogleError {
    pub error: GoogleErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct GoogleErrorDetail {
    /// The HTTP status.
    pub code: u16,
    pub message: String,
    /// Google's canonical status (`INVALID_ARGUMENT`, `NOT_FOUND`, …).
    pub status: String,
    /// The field at fault, when one is (`google.rpc.BadRequest`).
    pub details: Option<Vec<Value>>,
}

/// OpenAI's embeddings request: held and charged for its input tokens at
/// the model's input price.
#[derive(Serialize, ToSchema)]
pub struct EmbeddingsRequest {
    pub model: String,
    /// A string, an array of strings, a token array, or an array of token
    /// arrays (at most 2,048 inputs).
    pub input: Value,
    /// The vectors' length, for models that can shorten them.
    pub dimensions: Option<i64>,
    /// `float` (the default) or `base64`.
    pub encoding_format: Option<String>,
}

/// OpenAI's list of embeddings, one per input, with exact `usage`.
#[derive(Serialize, ToSchema)]
pub struct EmbeddingList {
    /// `list`.
    pub object: String,
    pub data: Vec<Value>,
    pub model: String,
    pub usage: Option<Value>,
}

/// Anthropic's token-counting request.
#[derive(Serialize, ToSchema)]
pub struct CountTokensRequest {
    pub model: String,
    pub messages: Vec<Value>,
    pub system: Option<Value>,
    pub tools: Option<Vec<Value>>,
}

/// OpenAI's chat completion (`stream: false`), with exact `usage`.
#[derive(Serialize, ToSchema)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub model: String,
    pub choices: Vec<Value>,
    pub usage: Option<Value>,
}

/// Anthropic's message (`stream: false`).
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub id: String,
    /// `message`.
    #[serde(rename = "type")]
    pub kind: String,
    pub role: String,
    pub content: Vec<Value>,
    pub model: String,
    pub usage: Value,
}

/// OpenAI's response object (`stream: false`).
#[derive(Serialize, ToSchema)]
pub struct Response {
    pub id: String,
    /// `response`.
    pub object: String,
    pub status: String,
    pub output: Vec<Value>,
    pub usage: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenCount {
    pub input_tokens: i64,
}

/// The models this key may call: OpenAI's list, Anthropic's when the
/// request carries `anthropic-version`, Gemini's when it carries
/// `x-goog-api-key` (or comes under `/v1beta`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LlmModelList {
    OpenAi(OpenAiModelList),
    Anthropic(AnthropicModelList),
    Gemini(GeminiModelList),
}

/// One model, in the shape of the list's entries.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LlmModel {
    OpenAi(OpenAiModel),
    Anthropic(AnthropicModel),
    Gemini(GeminiModel),
}

#[derive(Serialize, ToSchema)]
pub struct GeminiModelList {
    pub models: Vec<GeminiModel>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeminiModel {
    /// `models/{model}`.
    pub name: String,
    pub display_name: String,
    pub supported_generation_methods: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OpenAiModelList {
    /// `list`.
    pub object: String,
    pub data: Vec<OpenAiModel>,
}

#[derive(Serialize, ToSchema)]
pub struct OpenAiModel {
    pub id: String,
    /// `model`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    pub owned_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct AnthropicModelList {
    pub data: Vec<AnthropicModel>,
    pub has_more: bool,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AnthropicModel {
    /// `model`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub display_name: String,
    pub created_at: String,
}

/// OpenAI's error body (chat completions and responses).
#[derive(Serialize, ToSchema)]
pub struct OpenAiError {
    pub error: OpenAiErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct OpenAiErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Always present, `null` when no one field is at fault.
    #[schema(required = true)]
    pub param: Option<String>,
    #[schema(required = true)]
    pub code: Option<String>,
}

/// Anthropic's error body.
#[derive(Serialize, ToSchema)]
pub struct AnthropicError {
    /// `error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub error: AnthropicErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct AnthropicErrorDetail {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// Either provider's error body: Anthropic's when the request carries
/// `anthropic-version`, else the endpoint's own.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProviderError {
    OpenAi(OpenAiError),
    Anthropic(AnthropicError),
}
