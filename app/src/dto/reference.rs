//! The API reference page's data: Tollgate's OpenAPI description, reduced
//! to what the page shows.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiReference {
    pub groups: Vec<ApiGroup>,
    pub schemas: Vec<ApiSchema>,
}

/// The operations of one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiGroup {
    pub name: String,
    pub description: String,
    pub operations: Vec<ApiOperation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiOperation {
    /// `GET`, `POST`, …
    pub method: String,
    pub path: String,
    pub summary: String,
    /// Anyone may call it (no session or key).
    pub public: bool,
    pub parameters: Vec<ApiParameter>,
    /// The request body's schema, by name.
    pub request: Option<String>,
    pub responses: Vec<ApiResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiParameter {
    pub name: String,
    /// `path` or `query`.
    pub location: String,
    pub required: bool,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResponse {
    /// `200`, `4XX`, `default`, …
    pub status: String,
    pub description: String,
    /// The body's schema, by name, or its media type.
    pub body: Option<String>,
}

/// A named schema and its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiSchema {
    pub name: String,
    pub description: String,
    pub fields: Vec<ApiField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiField {
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub description: String,
}
