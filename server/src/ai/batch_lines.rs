//! The lines of a batch input file (OpenAI's Batch format), checked as they stream in: each line a JSON object
//! `{custom_id, method: "POST", url, body: {model, …}}`, ids unique, one endpoint and one model per file. Every bad
//! line is reported with its number, so a file is fixed in one go.

use std::collections::HashSet;

use serde_json::Value;

/// The endpoints a batch may call.
pub const BATCH_ENDPOINTS: [&str; 2] = ["/v1/chat/completions", "/v1/embeddings"];
/// Bad lines reported at most (the rest are counted).
const MAX_REPORTED: usize = 20;
/// The longest line accepted (a request body of a few hundred thousand tokens fits).
const MAX_LINE_BYTES: usize = 4 << 20;

/// What a valid file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSummary {
    pub lines: usize,
    pub endpoint: String,
    pub model: String,
}

/// Reads a file chunk by chunk; call [`BatchLines::push`] with each chunk and [`BatchLines::finish`] at the end.
#[derive(Debug, Default)]
pub struct BatchLines {
    partial: Vec<u8>,
    line: usize,
    ids: HashSet<String>,
    endpoint: Option<String>,
    model: Option<String>,
    errors: Vec<String>,
    more_errors: usize,
}

impl BatchLines {
    pub fn push(&mut self, chunk: &[u8]) {
        self.partial.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(end) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let line = self.partial[start..start + end].to_vec();
            self.check(&line);
            start += end + 1;
        }
        self.partial.drain(..start);
        if self.partial.len() > MAX_LINE_BYTES {
            self.line += 1;
            self.fail(format!("longer than {MAX_LINE_BYTES} bytes"));
            self.partial.clear();
        }
    }

    /// The file's summary, or every bad line (numbered from 1).
    pub fn finish(mut self) -> Result<BatchSummary, Vec<String>> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.check(&line);
        }
        if self.more_errors > 0 {
            self.errors.push(format!("… and {} more bad lines", self.more_errors));
        }
        if self.errors.is_empty() && self.ids.is_empty() {
            self.errors.push("the file has no requests".into());
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        Ok(BatchSummary {
            lines: self.ids.len(),
            endpoint: self.endpoint.unwrap_or_default(),
            model: self.model.unwrap_or_default(),
        })
    }

    fn fail(&mut self, message: String) {
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(format!("line {}: {message}", self.line));
        } else {
            self.more_errors += 1;
        }
    }

    fn check(&mut self, raw: &[u8]) {
        self.line += 1;
        let text = String::from_utf8_lossy(raw);
        let text = text.trim();
        if text.is_empty() {
            // Blank lines (a trailing newline, or a blank line between requests) are allowed and skipped.
            return;
        }
        if let Err(message) = self.check_request(text) {
            self.fail(message);
        }
    }

    fn check_request(&mut self, text: &str) -> Result<(), String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        let object = value.as_object().ok_or("not a JSON object")?;
        let custom_id = object.get("custom_id").and_then(Value::as_str).ok_or("custom_id (a string) is missing")?;
        if custom_id.is_empty() || custom_id.len() > 512 {
            return Err("custom_id must have 1 to 512 characters".into());
        }
        if object.get("method").and_then(Value::as_str) != Some("POST") {
            return Err("method must be \"POST\"".into());
        }
        let url = object.get("url").and_then(Value::as_str).ok_or("url is missing")?;
        if !BATCH_ENDPOINTS.contains(&url) {
            return Err(format!("url must be one of {}", BATCH_ENDPOINTS.join(", ")));
        }
        let body = object.get("body").and_then(Value::as_object).ok_or("body (a JSON object) is missing")?;
        let model = body.get("model").and_then(Value::as_str).ok_or("body.model is missing")?;
        if body.get("stream").and_then(Value::as_bool) == Some(true) {
            return Err("body.stream cannot be true in a batch".into());
        }
        match &self.endpoint {
            Some(endpoint) if endpoint != url => return Err(format!("url {url} differs from the file's {endpoint}")),
            _ => self.endpoint = Some(url.to_string()),
        }
        match &self.model {
            Some(first) if first != model => return Err(format!("model {model} differs from the file's {first}")),
            _ => self.model = Some(model.to_string()),
        }
        if !self.ids.insert(custom_id.to_string()) {
            return Err(format!("custom_id {custom_id:?} is used twice"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, model: &str) -> String {
        format!(
            r#"{{"custom_id": "{id}", "method": "POST", "url": "/v1/chat/completions", "body": {{"model": "{model}", "messages": [{{"role": "user", "content": "hi"}}]}}}}"#
        )
    }

    fn read(text: &str, chunk: usize) -> Result<BatchSummary, Vec<String>> {
        let mut lines = BatchLines::default();
        for piece in text.as_bytes().chunks(chunk) {
            lines.push(piece);
        }
        lines.finish()
    }

    #[test]
    fn a_good_file_is_summed_up_whatever_its_chunks() {
        let text = format!("{}\n{}\n\n{}", line("a", "m"), line("b", "m"), line("c", "m"));
        for chunk in [1, 7, 4096] {
            let summary = read(&text, chunk).expect("valid");
            assert_eq!(summary, BatchSummary { lines: 3, endpoint: "/v1/chat/completions".into(), model: "m".into() });
        }
    }

    #[test]
    fn every_bad_line_is_named_with_its_number() {
        let text = [
            line("a", "m"),
            "{not json".to_string(),
            r#"{"method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}"#.to_string(),
            line("a", "m"),
            line("d", "other"),
            r#"{"custom_id": "e", "method": "GET", "url": "/v1/chat/completions", "body": {"model": "m"}}"#.to_string(),
            r#"{"custom_id": "f", "method": "POST", "url": "/v1/images", "body": {"model": "m"}}"#.to_string(),
        ]
        .join("\n");
        let errors = read(&text, 5).expect_err("invalid");
        assert_eq!(errors.len(), 6, "{errors:?}");
        for (error, number) in errors.iter().zip(2..) {
            assert!(error.starts_with(&format!("line {number}: ")), "{error}");
        }
        assert!(errors[2].contains("used twice"), "{errors:?}");
        assert!(errors[3].contains("differs"), "{errors:?}");
        assert_eq!(read("\n\n", 3).expect_err("empty"), vec!["the file has no requests".to_string()]);
    }

    #[test]
    fn reports_stop_at_a_readable_number() {
        let text = (0..50).map(|_| "x").collect::<Vec<_>>().join("\n");
        let errors = read(&text, 64).expect_err("invalid");
        assert_eq!(errors.len(), MAX_REPORTED + 1);
        assert_eq!(errors.last().map(String::as_str), Some("… and 30 more bad lines"));
    }
}
