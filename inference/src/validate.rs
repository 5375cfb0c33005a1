//! Checks an uploaded model file before it is accepted: headers parsed with bounds checks, a supported architecture,
//! tensors inside the file, and never a pickle (which can run code when loaded).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use candle_core::quantized::gguf_file;

use crate::chat_template::ChatTemplate;
use crate::gguf_tokenizer::{self, string};
use crate::InferenceError;

/// What a valid chat model file declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatModelSummary {
    pub architecture: String,
    pub context_length: u32,
    pub tensors: usize,
}

/// Longest safetensors header accepted (the format's own reference limit).
const MAX_SAFETENSORS_HEADER: u64 = 100 * 1024 * 1024;

/// Refuses files that are pickles (or zip archives holding them, as PyTorch's `.bin`/`.pt` are).
/// A trained classifier (`model.safetensors` as a training run writes it), checked without its base model: a pixel
/// classifier is loaded whole, a text classifier's header and head are checked against each other.
pub fn trained_classifier(path: &Path) -> Result<crate::ClassifierSummary, InferenceError> {
    let bytes = std::fs::read(path)?;
    refuse_pickle(&bytes[..bytes.len().min(8)])?;
    let summary = crate::summarize_classifier(&bytes)?;
    if summary.template == pictor_core::ai_training::TrainingTemplate::PixelClassifier {
        crate::PixelClassifier::from_bytes(&bytes, &candle_core::Device::Cpu)?;
    }
    Ok(summary)
}

pub fn refuse_pickle(head: &[u8]) -> Result<(), InferenceError> {
    let pickle = head.first() == Some(&0x80) && head.get(1).is_some_and(|protocol| (2..=5).contains(protocol));
    let zip = head.starts_with(b"PK\x03\x04");
    if pickle || zip {
        return Err(InferenceError::invalid(
            "pickle and PyTorch checkpoint files are not accepted (they can run code when loaded); upload GGUF or safetensors",
        ));
    }
    Ok(())
}

/// Validates a GGUF chat model: header, llama architecture, tokenizer, ChatML template, tensors within the file.
pub fn gguf_chat_model(path: &Path) -> Result<ChatModelSummary, InferenceError> {
    let size = std::fs::metadata(path)?.len();
    let mut reader = BufReader::new(File::open(path)?);
    let mut head = [0u8; 8];
    reader.read_exact(&mut head).map_err(|_| InferenceError::invalid("the file is too short to be a model"))?;
    refuse_pickle(&head)?;
    if &head[..4] != b"GGUF" {
        return Err(InferenceError::invalid("the file is not GGUF (it does not start with 'GGUF')"));
    }
    let mut reader = BufReader::new(File::open(path)?);
    let content = gguf_file::Content::read(&mut reader)
        .map_err(|e| InferenceError::invalid(format!("the GGUF header is not valid: {e}")))?;
    let architecture = string(&content.metadata, "general.architecture")?.clone();
    if architecture != "llama" {
        return Err(InferenceError::invalid(format!(
            "architecture '{architecture}' is not supported; chat models must be llama-architecture GGUF"
        )));
    }
    ChatTemplate::recognise(string(&content.metadata, "tokenizer.chat_template")?)?;
    gguf_tokenizer::from_metadata(&content.metadata)?;
    for (name, info) in &content.tensor_infos {
        let elements = info.shape.elem_count();
        let block = info.ggml_dtype.block_size();
        let bytes = (elements / block).saturating_mul(info.ggml_dtype.type_size()) as u64;
        let end = content.tensor_data_offset.saturating_add(info.offset).saturating_add(bytes);
        if end > size {
            return Err(InferenceError::invalid(format!("tensor '{name}' runs past the end of the file")));
        }
    }
    for required in ["token_embd.weight", "output_norm.weight", "blk.0.attn_q.weight"] {
        if !content.tensor_infos.contains_key(required) {
            return Err(InferenceError::invalid(format!("tensor '{required}' is missing")));
        }
    }
    let context_length = content.metadata.get("llama.context_length").and_then(|v| v.to_u32().ok()).unwrap_or(2048);
    Ok(ChatModelSummary { architecture, context_length, tensors: content.tensor_infos.len() })
}

/// Validates a safetensors file: a bounded JSON header whose tensors all lie inside the file, in float dtypes.
pub fn safetensors(path: &Path) -> Result<usize, InferenceError> {
    let size = std::fs::metadata(path)?.len();
    let mut file = File::open(path)?;
    let mut head = [0u8; 8];
    file.read_exact(&mut head).map_err(|_| InferenceError::invalid("the file is too short to be safetensors"))?;
    refuse_pickle(&head)?;
    let header_len = u64::from_le_bytes(head);
    if header_len > MAX_SAFETENSORS_HEADER || header_len.saturating_add(8) > size {
        return Err(InferenceError::invalid("the safetensors header length is out of bounds"));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| InferenceError::invalid(format!("the safetensors header is not JSON: {e}")))?;
    let data_bytes = size - 8 - header_len;
    let mut tensors = 0;
    for (name, info) in &header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
        if !matches!(dtype, "F32" | "F16" | "BF16" | "I64" | "I32") {
            return Err(InferenceError::invalid(format!("tensor '{name}' has unsupported dtype '{dtype}'")));
        }
        let offsets = info
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)))
            .ok_or_else(|| InferenceError::invalid(format!("tensor '{name}' has no data offsets")))?;
        if offsets.0 > offsets.1 || offsets.1 > data_bytes {
            return Err(InferenceError::invalid(format!("tensor '{name}' lies outside the file")));
        }
        tensors += 1;
    }
    if tensors == 0 {
        return Err(InferenceError::invalid("the safetensors file holds no tensors"));
    }
    Ok(tensors)
}

/// What a valid embedding model declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingModelSummary {
    pub dimensions: usize,
    pub max_input_tokens: usize,
    pub tensors: usize,
}

/// Validates a BERT-family embedding model in `folder`: `model.safetensors` (as [`safetensors`], with BERT's
/// embedding and encoder tensors), `config.json` (a BERT configuration) and `tokenizer.json` (a tokenizer).
pub fn bert_embedding_model(folder: &Path) -> Result<EmbeddingModelSummary, InferenceError> {
    let weights = folder.join("model.safetensors");
    let tensors = safetensors(&weights)?;
    let config_bytes = std::fs::read(folder.join("config.json"))?;
    refuse_pickle(&config_bytes)?;
    let config: candle_transformers::models::bert::Config = serde_json::from_slice(&config_bytes)
        .map_err(|e| InferenceError::invalid(format!("config.json is not a BERT configuration: {e}")))?;
    tokenizers::Tokenizer::from_file(folder.join("tokenizer.json"))
        .map_err(|e| InferenceError::invalid(format!("tokenizer.json is not a tokenizer: {e}")))?;
    let names = safetensors_names(&weights)?;
    for required in ["embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight"] {
        let present = names.iter().any(|name| name == required || name.strip_prefix("bert.") == Some(required));
        if !present {
            return Err(InferenceError::invalid(format!("tensor '{required}' is missing: this is not a BERT model")));
        }
    }
    Ok(EmbeddingModelSummary {
        dimensions: config.hidden_size,
        max_input_tokens: config.max_position_embeddings,
        tensors,
    })
}

/// The tensor names of a safetensors file already checked by [`safetensors`].
fn safetensors_names(path: &Path) -> Result<Vec<String>, InferenceError> {
    let mut file = File::open(path)?;
    let mut head = [0u8; 8];
    file.read_exact(&mut head)?;
    let mut header = vec![0u8; u64::from_le_bytes(head).min(MAX_SAFETENSORS_HEADER) as usize];
    file.read_exact(&mut header)?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| InferenceError::invalid(format!("the safetensors header is not JSON: {e}")))?;
    Ok(header.into_iter().map(|(name, _)| name).filter(|name| name != "__metadata__").collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        file
    }

    #[test]
    fn pickles_and_zip_checkpoints_are_refused() {
        let pickle = file_with(b"\x80\x04\x95rest of a pickle");
        assert!(safetensors(pickle.path()).unwrap_err().to_string().contains("pickle"));
        let zip = file_with(b"PK\x03\x04archive");
        assert!(gguf_chat_model(zip.path()).unwrap_err().to_string().contains("pickle"));
    }

    #[test]
    fn truncated_and_lying_headers_are_refused_without_allocating_their_claims() {
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(safetensors(file_with(&huge).path()).unwrap_err().to_string().contains("out of bounds"));

        let header = br#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let mut short = (header.len() as u64).to_le_bytes().to_vec();
        short.extend_from_slice(header);
        short.extend_from_slice(&[0u8; 8]);
        assert!(safetensors(file_with(&short).path()).unwrap_err().to_string().contains("outside the file"));
        let mut whole = short.clone();
        whole.extend_from_slice(&[0u8; 8]);
        assert_eq!(safetensors(file_with(&whole).path()).unwrap(), 1);

        // A GGUF header claiming billions of entries in a tiny file.
        let mut gguf = b"GGUF".to_vec();
        gguf.extend_from_slice(&3u32.to_le_bytes());
        gguf.extend_from_slice(&u64::MAX.to_le_bytes());
        gguf.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(gguf_chat_model(file_with(&gguf).path()).unwrap_err().to_string().contains("not valid"));
        assert!(gguf_chat_model(file_with(b"GGML....").path()).unwrap_err().to_string().contains("not GGUF"));
    }
}
