//! Datasets of labelled texts for the text-classifier template: a CSV (`text,label`, the text quoted when it holds
//! commas or quotes) or JSONL (`{"text": …, "label": …}`), validated with errors that name the line. Labels are
//! names ("sports") or whole numbers; the classes are the distinct labels in a fixed order.

use std::collections::BTreeSet;

/// The most rows, the longest text and the most classes accepted (guards against files meant to exhaust a worker).
pub const MAX_TEXT_ROWS: usize = 50_000;
pub const MAX_TEXT_CHARS: usize = 2_000;
pub const MAX_TEXT_CLASSES: usize = 256;

/// A validated dataset: every row's text and class, and the classes' names (class `i` is `class_names[i]`).
#[derive(Clone, Debug, PartialEq)]
pub struct TextTable {
    pub texts: Vec<String>,
    pub labels: Vec<u32>,
    pub class_names: Vec<String>,
}

impl TextTable {
    /// Reads JSONL when the first line that is not blank starts with `{`, else CSV (an optional `text,label` header).
    pub fn parse(content: &str) -> Result<Self, String> {
        let jsonl = content.lines().map(str::trim).find(|line| !line.is_empty()).is_some_and(|l| l.starts_with('{'));
        let mut rows: Vec<(String, String)> = Vec::new();
        for (number, line) in content.lines().enumerate().map(|(index, line)| (index + 1, line.trim())) {
            if line.is_empty() || (!jsonl && rows.is_empty() && is_header(line)) {
                continue;
            }
            let row = if jsonl { json_row(line) } else { csv_row(line) };
            let (text, label) = row.map_err(|why| format!("line {number}: {why}"))?;
            if text.trim().is_empty() {
                return Err(format!("line {number}: the text is empty"));
            }
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(format!("line {number}: texts may have at most {MAX_TEXT_CHARS} characters"));
            }
            if label.trim().is_empty() {
                return Err(format!("line {number}: the label is empty"));
            }
            if rows.len() == MAX_TEXT_ROWS {
                return Err(format!("more than {MAX_TEXT_ROWS} rows"));
            }
            rows.push((text, label.trim().to_string()));
        }
        if rows.is_empty() {
            return Err("the dataset has no rows".into());
        }
        if rows.len() < 10 {
            return Err(format!("{} rows: a run needs at least 10", rows.len()));
        }
        let class_names = class_order(rows.iter().map(|(_, label)| label.as_str()));
        if class_names.len() < 2 {
            return Err("every row has the same label: a classifier needs at least two".into());
        }
        if class_names.len() > MAX_TEXT_CLASSES {
            return Err(format!("{} labels: at most {MAX_TEXT_CLASSES}", class_names.len()));
        }
        let labels = rows
            .iter()
            .map(|(_, label)| class_names.iter().position(|name| name == label).unwrap_or_default() as u32)
            .collect();
        let texts = rows.into_iter().map(|(text, _)| text).collect();
        Ok(Self { texts, labels, class_names })
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// The classes in a fixed order: by number when every label is a whole number (so "0"…"9" are classes 0…9), else
/// alphabetically.
fn class_order<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let distinct: BTreeSet<&str> = labels.collect();
    let mut names: Vec<String> = distinct.into_iter().map(str::to_string).collect();
    if names.iter().all(|name| name.parse::<u64>().is_ok()) {
        names.sort_by_key(|name| name.parse::<u64>().unwrap_or_default());
    }
    names
}

fn is_header(line: &str) -> bool {
    line.to_ascii_lowercase().replace(['"', ' '], "") == "text,label"
}

/// A JSON object with a string `text` and a string or whole-number `label`.
fn json_row(line: &str) -> Result<(String, String), String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object ({e})"))?;
    let text = value.get("text").and_then(|t| t.as_str()).ok_or("\"text\" must be a string")?;
    let label = match value.get("label") {
        Some(serde_json::Value::String(label)) => label.clone(),
        Some(serde_json::Value::Number(number)) if number.as_u64().is_some() => number.to_string(),
        _ => return Err("\"label\" must be a string or a whole number".into()),
    };
    Ok((text.to_string(), label))
}

/// `text,label`: the text quoted ("…", with "" for a quote) when it holds a comma or a quote, else everything before
/// the last comma.
fn csv_row(line: &str) -> Result<(String, String), String> {
    if let Some(rest) = line.strip_prefix('"') {
        let mut text = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((index, c)) = chars.next() {
            if c != '"' {
                text.push(c);
                continue;
            }
            if chars.peek().map(|(_, next)| *next) == Some('"') {
                chars.next();
                text.push('"');
                continue;
            }
            let after = rest[index + 1..].trim_start();
            let label = after.strip_prefix(',').ok_or("a comma must follow the quoted text")?;
            return Ok((text, unquote(label)?));
        }
        return Err("the quoted text has no closing quote (texts spanning lines are not supported)".into());
    }
    let (text, label) = line.rsplit_once(',').ok_or("a row is text,label")?;
    if text.contains('"') {
        return Err("a text holding quotes must be quoted as a whole".into());
    }
    Ok((text.trim().to_string(), unquote(label)?))
}

fn unquote(label: &str) -> Result<String, String> {
    let label = label.trim();
    match label.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(inner) => Ok(inner.replace("\"\"", "\"")),
        None if label.contains('"') || label.contains(',') => Err("the label must be the last column".into()),
        None => Ok(label.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(count: usize) -> String {
        (0..count).map(|i| format!("text number {i},{}\n", ["sports", "cooking"][i % 2])).collect()
    }

    #[test]
    fn reads_csv_with_quotes_and_a_header() {
        let table = TextTable::parse(&format!("text,label\n\"Rain, then sun \"\"today\"\"\",weather\n{}", rows(10)))
            .expect("valid");
        assert_eq!(table.rows(), 11);
        assert_eq!(table.texts[0], "Rain, then sun \"today\"");
        assert_eq!(table.class_names, ["cooking", "sports", "weather"]);
        assert_eq!(table.labels[..3], [2, 1, 0]);
    }

    #[test]
    fn reads_jsonl_and_orders_number_labels_numerically() {
        let text: String =
            (0..12).map(|i| format!("{{\"text\": \"example {i}\", \"label\": {}}}\n", [2, 10, 1][i % 3])).collect();
        let table = TextTable::parse(&text).expect("valid");
        assert_eq!(table.class_names, ["1", "2", "10"]);
        assert_eq!(table.labels[..3], [1, 2, 0]);
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        assert!(TextTable::parse(&format!("{}no label here\n", rows(10))).unwrap_err().starts_with("line 11"));
        assert!(TextTable::parse(&format!("{},sports\n", rows(10)))
            .unwrap_err()
            .contains("line 11: the text is empty"));
        assert!(TextTable::parse(&format!("{}\"open quote,x\n", rows(10))).unwrap_err().contains("closing quote"));
        let jsonl = "{\"text\": \"a\", \"label\": 1}\n{\"text\": 3, \"label\": 1}\n";
        assert!(TextTable::parse(jsonl).unwrap_err().contains("line 2: \"text\" must be a string"));
        assert!(TextTable::parse(&rows(5)).unwrap_err().contains("at least 10"));
        let one_class: String = (0..12).map(|i| format!("t{i},same\n")).collect();
        assert!(TextTable::parse(&one_class).unwrap_err().contains("two"));
        let long = format!("{}{},sports\n", rows(10), "x".repeat(MAX_TEXT_CHARS + 1));
        assert!(TextTable::parse(&long).unwrap_err().contains("line 11"));
        assert!(TextTable::parse("").unwrap_err().contains("no rows"));
    }
}
