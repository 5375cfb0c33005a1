//! API reference: the coordinator's OpenAPI document (`/api/openapi.json`) as a page — every operation by group,
//! with who may call it, searchable.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use serde::Deserialize;

/// Where the coordinator serves the document.
const DOCUMENT_URL: &str = "/api/openapi.json";

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Document {
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub paths: BTreeMap<String, BTreeMap<String, Operation>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Tag {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Operation {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub security: Vec<BTreeMap<String, Vec<String>>>,
}

/// One row of the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub caller: &'static str,
}

/// Who may call an operation, in words, from its security requirement.
fn caller(operation: &Operation) -> &'static str {
    if operation.security.len() > 1 {
        return "session or API key";
    }
    match operation.security.first().and_then(|scheme| scheme.keys().next()).map(String::as_str) {
        None => "public",
        Some("session") => "signed-in session",
        Some("apiKey") => "API key",
        Some("nodeToken") => "node token",
        Some(_) => "signature",
    }
}

/// The document's operations grouped by tag in the document's order, each group sorted by path; only those whose
/// method, path or summary contains `filter` (case-insensitive).
pub fn grouped(document: &Document, filter: &str) -> Vec<(Tag, Vec<Row>)> {
    let filter = filter.trim().to_lowercase();
    document
        .tags
        .iter()
        .map(|tag| {
            let mut rows: Vec<Row> = document
                .paths
                .iter()
                .flat_map(|(path, methods)| methods.iter().map(move |(method, operation)| (path, method, operation)))
                .filter(|(_, _, operation)| operation.tags.first() == Some(&tag.name))
                .map(|(path, method, operation)| Row {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: operation.summary.clone(),
                    caller: caller(operation),
                })
                .filter(|row| {
                    filter.is_empty()
                        || format!("{} {} {}", row.method, row.path, row.summary).to_lowercase().contains(&filter)
                })
                .collect();
            rows.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
            (tag.clone(), rows)
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

/// The document, read in the browser (nothing on the server's first render).
async fn load() -> Result<Document, String> {
    #[cfg(feature = "hydrate")]
    {
        let response = gloo_net::http::Request::get(DOCUMENT_URL).send().await.map_err(|e| e.to_string())?;
        if !response.ok() {
            return Err(format!("the coordinator answered {}", response.status()));
        }
        let text = response.text().await.map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Ok(Document::default())
    }
}

#[component]
pub fn ReferencePage() -> impl IntoView {
    let document = LocalResource::new(load);
    let filter = RwSignal::new(String::new());
    view! {
        <Title text="API reference" />
        <section class="page-head">
            <h1>"API reference"</h1>
            <p class="muted">
                "Every operation of this coordinator: the OpenAI-compatible API, the dashboard's REST API, sign-in and \
                 the agent protocol. Machine-readable as OpenAPI 3.1 at "
                <a href=DOCUMENT_URL data-testid="openapi-link">{DOCUMENT_URL}</a>"."
            </p>
        </section>
        <section class="panel">
            <input
                class="reference-filter"
                type="search"
                placeholder="Filter: path, method or words"
                data-testid="reference-filter"
                on:input=move |event| filter.set(event_target_value(&event))
            />
            {move || match document.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="form-error">{error}</p> }.into_any(),
                Some(Ok(document)) => {
                    let groups = grouped(&document, &filter.get());
                    if groups.is_empty() {
                        return view! { <p class="muted" data-testid="reference-none">"No operation matches."</p> }
                            .into_any();
                    }
                    groups.into_iter().map(|(tag, rows)| view! { <Group tag rows /> }).collect_view().into_any()
                }
            }}
        </section>
    }
}

#[component]
fn Group(tag: Tag, rows: Vec<Row>) -> impl IntoView {
    view! {
        <div class="reference-group" data-testid="reference-group">
            <h2>{tag.name}</h2>
            <p class="muted small">{tag.description}</p>
            <table class="reference-table">
                <tbody>
                    {rows
                        .into_iter()
                        .map(|row| {
                            let badge = format!("method method-{}", row.method.to_lowercase());
                            view! {
                                <tr data-testid="reference-operation">
                                    <td>
                                        <span class=badge>
                                            {row.method}
                                        </span>
                                    </td>
                                    <td><code>{row.path}</code></td>
                                    <td>{row.summary}</td>
                                    <td class="muted small">{row.caller}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_grouped_by_tag_and_filtered() {
        let text = r#"{
            "tags": [{"name": "A", "description": "a"}, {"name": "B", "description": "b"}],
            "paths": {
                "/v1/models": {"get": {"summary": "List models", "tags": ["A"], "security": [{"apiKey": []}]}},
                "/healthz": {"get": {"summary": "Liveness", "tags": ["B"], "security": []}},
                "/v1/chat": {"post": {"summary": "Chat", "tags": ["A"], "security": [{"apiKey": []}]}},
                "/api/v1/jobs": {"get": {"summary": "Jobs", "tags": ["B"], "security": [{"session": []}, {"apiKey": []}]}}
            }
        }"#;
        let document: Document = serde_json::from_str(text).expect("document");
        let groups = grouped(&document, "");
        assert_eq!(groups.len(), 2);
        let paths: Vec<&str> = groups[0].1.iter().map(|row| row.path.as_str()).collect();
        assert_eq!(paths, vec!["/v1/chat", "/v1/models"]);
        assert_eq!((groups[1].1[1].caller, groups[0].1[0].caller), ("public", "API key"));
        assert_eq!(groups[1].1[0].caller, "session or API key");
        let found = grouped(&document, "LIVENESS");
        assert_eq!((found.len(), found[0].0.name.as_str()), (1, "B"));
        assert!(grouped(&document, "nothing like it").is_empty());
    }
}
