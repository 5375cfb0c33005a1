//! Builds the OpenAPI 3.1 document from the table of operations: paths with their parameters, groups as tags, and
//! the ways to authenticate as security schemes.

use serde_json::{json, Map, Value};

use super::operations::{Caller, Group, Operation, OPERATIONS};

/// The `{name}` parameters of a path, in order.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|part| part.strip_prefix('{').and_then(|rest| rest.strip_suffix('}'))).collect()
}

/// A stable operation id: `get_v1_trainings_id_checkpoints_step`.
pub fn operation_id(operation: &Operation) -> String {
    let mut id = operation.method.to_ascii_lowercase();
    for part in operation.path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|part| !part.is_empty()) {
        id.push('_');
        id.push_str(part);
    }
    id
}

fn security(caller: Caller) -> Value {
    match caller {
        Caller::Public => json!([]),
        Caller::Session => json!([{ "session": [] }]),
        Caller::ApiKey => json!([{ "apiKey": [] }]),
        Caller::Account => json!([{ "session": [] }, { "apiKey": [] }]),
        Caller::Node => json!([{ "nodeToken": [] }]),
        Caller::Signed => json!([{ "paymentSignature": [] }]),
    }
}

fn operation_object(operation: &Operation) -> Value {
    let parameters: Vec<Value> = path_parameters(operation.path)
        .into_iter()
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    json!({
        "operationId": operation_id(operation),
        "summary": operation.summary,
        "tags": [operation.group.name()],
        "security": security(operation.caller),
        "parameters": parameters,
        "responses": {
            "default": { "description": "JSON (or the file asked for); errors are JSON {\"error\": \"…\"} with a 4xx or 5xx status" }
        }
    })
}

/// The whole document.
pub fn openapi(version: &str) -> Value {
    let mut paths = Map::new();
    for operation in OPERATIONS {
        let item = paths.entry(operation.path.to_string()).or_insert_with(|| json!({}));
        item[operation.method.to_ascii_lowercase()] = operation_object(operation);
    }
    let tags: Vec<Value> =
        Group::ALL.iter().map(|group| json!({ "name": group.name(), "description": group.description() })).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Pictor",
            "version": version,
            "description": "The coordinator's HTTP API: the OpenAI-compatible /v1, the dashboard's /api/v1, sign-in, and the agent protocol."
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::session::SESSION_COOKIE },
                "apiKey": { "type": "http", "scheme": "bearer", "description": "An API key from the Account page" },
                "nodeToken": { "type": "http", "scheme": "bearer", "description": "A worker's or checker's token, from its config file" },
                "paymentSignature": { "type": "apiKey", "in": "header", "name": crate::money::signature::SIGNATURE_HEADER }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_their_parameters_and_ids_are_unique() {
        assert_eq!(path_parameters("/v1/trainings/{id}/checkpoints/{step}"), vec!["id", "step"]);
        let document = openapi("0");
        assert_eq!(document["openapi"], "3.1.0");
        let get = &document["paths"]["/v1/trainings/{id}/checkpoints/{step}"]["get"];
        assert_eq!(get["parameters"].as_array().map(Vec::len), Some(2), "{get}");
        assert_eq!(get["security"][0]["apiKey"], json!([]));
        let mut ids: Vec<String> = OPERATIONS.iter().map(operation_id).collect();
        ids.sort();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids are unique");
    }
}
