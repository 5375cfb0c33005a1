//! Builds a byte-level BPE tokenizer from a GGUF file's `tokenizer.ggml.*` metadata (GPT-2 style models).

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

use crate::InferenceError;

/// GGUF's token type for control tokens (`<|im_start|>` and the like): never split, never merged.
const CONTROL_TOKEN: i32 = 3;
/// GGUF's token type for user-defined tokens, also kept whole.
const USER_DEFINED_TOKEN: i32 = 4;

/// The tokenizer and the special token ids a GGUF file declares.
pub(crate) struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    /// Every control token: generation stops at any of them (ChatML's `<|im_end|>` as well as the declared EOS).
    pub stop_token_ids: Vec<u32>,
}

pub(crate) fn from_metadata(metadata: &HashMap<String, Value>) -> Result<GgufTokenizer, InferenceError> {
    let model = string(metadata, "tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(InferenceError::invalid(format!(
            "tokenizer '{model}' is not supported; chat models need a GPT-2 style byte-level BPE tokenizer"
        )));
    }
    let tokens = strings(metadata, "tokenizer.ggml.tokens")?;
    let merges = strings(metadata, "tokenizer.ggml.merges")?;
    let token_types: Vec<i32> = match metadata.get("tokenizer.ggml.token_type") {
        Some(value) => value.to_vec()?.iter().map(|v| v.to_i32().unwrap_or(1)).collect(),
        None => vec![1; tokens.len()],
    };
    let eos_token_id = metadata
        .get("tokenizer.ggml.eos_token_id")
        .ok_or_else(|| InferenceError::invalid("the GGUF metadata names no end-of-sequence token"))?
        .to_u32()?;
    if eos_token_id as usize >= tokens.len() {
        return Err(InferenceError::invalid("the end-of-sequence token is outside the vocabulary"));
    }

    let vocab: Vocab = tokens.iter().enumerate().map(|(id, token)| (token.clone(), id as u32)).collect();
    let merges = merges
        .iter()
        .map(|merge| {
            merge
                .split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| InferenceError::invalid(format!("merge '{merge}' is not two tokens")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder().vocab_and_merges(vocab, merges).build()?;

    let mut tokenizer = Tokenizer::new(bpe);
    // GPT-2's regex split, with digits one by one as SmolLM and Llama 3 style models are trained.
    let pre_tokenizer = Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ]);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));

    let mut stop_token_ids = vec![eos_token_id];
    let mut special = Vec::new();
    for (id, (token, kind)) in tokens.iter().zip(token_types.iter()).enumerate() {
        if *kind == CONTROL_TOKEN || *kind == USER_DEFINED_TOKEN {
            special.push(AddedToken::from(token.clone(), *kind == CONTROL_TOKEN));
            if *kind == CONTROL_TOKEN && !stop_token_ids.contains(&(id as u32)) {
                stop_token_ids.push(id as u32);
            }
        }
    }
    tokenizer.add_special_tokens(&special);
    Ok(GgufTokenizer { tokenizer, stop_token_ids })
}

pub(crate) fn string<'a>(metadata: &'a HashMap<String, Value>, key: &str) -> Result<&'a String, InferenceError> {
    metadata
        .get(key)
        .ok_or_else(|| InferenceError::invalid(format!("the GGUF metadata has no '{key}'")))?
        .to_string()
        .map_err(|_| InferenceError::invalid(format!("'{key}' in the GGUF metadata is not text")))
}

fn strings(metadata: &HashMap<String, Value>, key: &str) -> Result<Vec<String>, InferenceError> {
    let values = metadata
        .get(key)
        .ok_or_else(|| InferenceError::invalid(format!("the GGUF metadata has no '{key}'")))?
        .to_vec()
        .map_err(|_| InferenceError::invalid(format!("'{key}' in the GGUF metadata is not a list")))?;
    values
        .iter()
        .map(|value| {
            value
                .to_string()
                .cloned()
                .map_err(|_| InferenceError::invalid(format!("'{key}' holds something that is not text")))
        })
        .collect()
}
