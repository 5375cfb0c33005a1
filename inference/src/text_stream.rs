//! Turns token ids into text as they come: a token that ends inside a UTF-8 character waits for the next one.

use tokenizers::Tokenizer;

use crate::InferenceError;

/// Decodes a growing list of tokens and hands out only the text that is new and complete.
pub(crate) struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    tokens: Vec<u32>,
    /// How much of the decoded text has been handed out already.
    emitted: usize,
}

impl<'a> TextStream<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        Self { tokenizer, tokens: Vec::new(), emitted: 0 }
    }

    /// Adds a token; returns the text it completes (empty while a character is still unfinished).
    pub fn push(&mut self, token: u32) -> Result<String, InferenceError> {
        self.tokens.push(token);
        let text = self.tokenizer.decode(&self.tokens, true)?;
        // Byte-level BPE splits characters across tokens; the decoder shows half a character as U+FFFD.
        if text.ends_with('\u{FFFD}') || text.len() < self.emitted {
            return Ok(String::new());
        }
        let fresh = text[self.emitted..].to_string();
        self.emitted = text.len();
        Ok(fresh)
    }
}
