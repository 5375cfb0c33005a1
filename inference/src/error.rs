//! The one error type of inference: what went wrong, in words a model's owner can act on.

/// Why a model could not be loaded or could not answer.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("{0}")]
    Invalid(String),
    #[error("the model file could not be read: {0}")]
    Io(#[from] std::io::Error),
    #[error("the model failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("the tokenizer failed: {0}")]
    Tokenizer(String),
    #[error("the prompt has {prompt} tokens; this model's context holds {context}")]
    ContextTooLong { prompt: usize, context: usize },
}

impl InferenceError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

impl From<tokenizers::Error> for InferenceError {
    fn from(error: tokenizers::Error) -> Self {
        Self::Tokenizer(error.to_string())
    }
}
