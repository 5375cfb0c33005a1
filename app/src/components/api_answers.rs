//! What the AI page's panels share in the browser: the file chosen in a panel's file input, and an answer of the
//! coordinator's OpenAI-style API read as its text or its error message.

#[cfg(feature = "hydrate")]
pub use browser::{checked, chosen_file};

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;

    /// The file chosen in the (first) file input inside `container`.
    pub fn chosen_file(container: &web_sys::HtmlDivElement) -> Option<web_sys::File> {
        let input = container.query_selector("input[type='file']").ok()??;
        input.dyn_into::<web_sys::HtmlInputElement>().ok()?.files()?.get(0)
    }

    /// The coordinator's words from an OpenAI-style error body.
    fn error_of(text: &str, status: u16) -> String {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|body| body["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the coordinator answered {status}"))
    }

    /// The body of a successful answer, or what went wrong in words.
    pub async fn checked(response: Result<gloo_net::http::Response, gloo_net::Error>) -> Result<String, String> {
        let response = response.map_err(|e| format!("cannot reach Pictor: {e}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !response.ok() {
            return Err(error_of(&text, status));
        }
        Ok(text)
    }
}
