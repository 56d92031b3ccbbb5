//! The API reference: Tollgate's own OpenAPI description
//! (`/api/openapi.json`), read on the server into the page's types.

use leptos::prelude::*;

use crate::{dto::reference::ApiReference, error::AppError};

#[server(prefix = "/rpc", endpoint = "api_reference")]
pub async fn load_api_reference() -> Result<ApiReference, AppError> {
    crate::ssr::require_user()?;
    let document = serde_json::to_value(server::router::openapi_document()).map_err(|err| {
        tracing::error!(error = %err, "the OpenAPI description does not serialize");
        AppError::Internal
    })?;
    Ok(read::reference(&document))
}

#[cfg(feature = "ssr")]
mod read {
    use serde_json::Value;

    use crate::dto::reference::{
        ApiField, ApiGroup, ApiOperation, ApiParameter, ApiReference, ApiResponse, ApiSchema,
    };

    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

    pub fn reference(document: &Value) -> ApiReference {
        let mut groups: Vec<ApiGroup> = document["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|tag| ApiGroup {
                name: text(&tag["name"]),
                description: text(&tag["description"]),
                operations: Vec::new(),
            })
            .collect();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let tag = text(&operation["tags"][0]);
                if let Some(group) = groups.iter_mut().find(|group| group.name == tag) {
                    group
                        .operations
                        .push(self::operation(method, path, operation));
                }
            }
        }
        groups.retain(|group| !group.operations.is_empty());
        let schemas = document["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, schema)| ApiSchema {
                name: name.clone(),
                description: text(&schema["description"]),
                fields: fields(schema),
            })
            .collect();
        ApiReference { groups, schemas }
    }

    fn operation(method: &str, path: &str, operation: &Value) -> ApiOperation {
        let public = operation["security"].as_array().is_some_and(|ways| {
            ways.iter()
                .any(|way| way.as_object().is_some_and(|w| w.is_empty()))
        });
        ApiOperation {
            method: method.to_uppercase(),
            path: path.to_owned(),
            summary: text(&operation["summary"]),
            public,
            parameters: operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|parameter| ApiParameter {
                    name: text(&parameter["name"]),
                    location: text(&parameter["in"]),
                    required: parameter["required"].as_bool().unwrap_or(false),
                    kind: kind(&parameter["schema"]),
                })
                .collect(),
            request: operation["requestBody"]["content"]
                .as_object()
                .and_then(|content| content.values().next())
                .map(|media| kind(&media["schema"])),
            responses: operation["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, response)| ApiResponse {
                    status: status.clone(),
                    description: text(&response["description"]),
                    body: response["content"].as_object().and_then(|content| {
                        let (media, body) = content.iter().next()?;
                        Some(match &body["schema"] {
                            Value::Null => media.clone(),
                            schema if content.len() == 1 => kind(schema),
                            schema => format!("{} or {}", kind(schema), content.keys().nth(1)?),
                        })
                    }),
                })
                .collect(),
        }
    }

    fn fields(schema: &Value) -> Vec<ApiField> {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut fields: Vec<ApiField> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, property)| ApiField {
                name: name.clone(),
                kind: kind(property),
                required: required.contains(&name.as_str()),
                description: text(&property["description"]),
            })
            .collect();
        // Flattened parts (`allOf`) and alternatives (`oneOf`) by name.
        for (word, key) in [("includes", "allOf"), ("one of", "oneOf")] {
            if let Some(parts) = schema[key].as_array() {
                fields.extend(parts.iter().map(|part| ApiField {
                    name: format!("({word})"),
                    kind: kind(part),
                    required: key == "allOf",
                    description: String::new(),
                }));
            }
        }
        fields
    }

    /// A schema in a few words: its name, or its type.
    fn kind(schema: &Value) -> String {
        if let Some(reference) = schema["$ref"].as_str() {
            return reference.rsplit('/').next().unwrap_or(reference).to_owned();
        }
        if let Some(values) = schema["enum"].as_array() {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            return values.join(" | ");
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(parts) = schema[key].as_array() {
                let parts: Vec<String> = parts.iter().map(kind).collect();
                return parts.join(" | ");
            }
        }
        let kind = match &schema["type"] {
            Value::Array(types) => types.iter().map(text).collect::<Vec<_>>().join(" | "),
            Value::String(kind) if kind == "array" => format!("{}[]", self::kind(&schema["items"])),
            Value::String(kind) => kind.clone(),
            _ => "any".to_owned(),
        };
        match schema["format"].as_str() {
            Some(format) => format!("{kind} ({format})"),
            None => kind,
        }
    }

    fn text(value: &Value) -> String {
        value.as_str().unwrap_or_default().to_owned()
    }
}
