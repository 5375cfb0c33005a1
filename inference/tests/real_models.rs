//! The network's two real models, loaded from the cache `scripts/setup` fills: answers, determinism, embeddings.

use std::ops::ControlFlow;
use std::sync::OnceLock;

use pictor_inference::{
    cosine_similarity, device, ChatMessage, ChatModel, EmbeddingModel, FinishReason, GenerationParams, ModelCache,
    NETWORK_MODELS,
};

fn chat_model() -> &'static ChatModel {
    static MODEL: OnceLock<ChatModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let folder = ModelCache::default_location().network_model(&NETWORK_MODELS[0]).expect("run scripts/setup");
        ChatModel::load(&folder.join(NETWORK_MODELS[0].weights_file), &device()).unwrap()
    })
}

fn embedding_model() -> &'static EmbeddingModel {
    static MODEL: OnceLock<EmbeddingModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let folder = ModelCache::default_location().network_model(&NETWORK_MODELS[1]).expect("run scripts/setup");
        EmbeddingModel::load(&folder, &device()).unwrap()
    })
}

fn ask(question: &str) -> Vec<u32> {
    let model = chat_model();
    let prompt = model
        .template()
        .render(&[
            ChatMessage { role: "system".into(), content: "You are a helpful assistant.".into() },
            ChatMessage { role: "user".into(), content: question.into() },
        ])
        .unwrap();
    model.encode(&prompt).unwrap()
}

fn greedy(max_tokens: usize) -> GenerationParams {
    GenerationParams { max_tokens, temperature: 0.0, top_p: None, seed: 7 }
}

#[test]
fn the_chat_model_answers_a_question_it_knows() {
    let model = chat_model();
    let generation =
        model.generate(&ask("What is the capital of France?"), &greedy(24), |_| ControlFlow::Continue(())).unwrap();
    assert!(generation.text.contains("Paris"), "answer: {}", generation.text);
    assert_eq!(model.decode(&generation.token_ids).unwrap(), generation.text);
}

#[test]
fn special_tokens_are_single_tokens_and_text_round_trips() {
    let model = chat_model();
    let ids = model.encode("<|im_start|>user\nHello 2024 wörld<|im_end|>").unwrap();
    assert_eq!(ids[0], model.encode("<|im_start|>").unwrap()[0]);
    assert_eq!(model.encode("<|im_start|>").unwrap().len(), 1);
    assert_eq!(model.encode("<|im_end|>").unwrap().len(), 1);
    // Digits are split one by one.
    assert_eq!(model.encode("2024").unwrap().len(), 4);
    assert_eq!(model.decode(&model.encode("Hello 2024 wörld").unwrap()).unwrap(), "Hello 2024 wörld");
}

#[test]
fn generation_is_deterministic_for_the_same_seed_and_streams_what_it_returns() {
    let model = chat_model();
    let prompt = ask("Write a short poem about rain.");
    let params = GenerationParams { max_tokens: 12, temperature: 0.8, top_p: Some(0.9), seed: 42 };
    let mut streamed = String::new();
    let mut streamed_ids = Vec::new();
    let first = model
        .generate(&prompt, &params, |step| {
            streamed.push_str(&step.text);
            streamed_ids.push(step.token_id);
            ControlFlow::Continue(())
        })
        .unwrap();
    let second = model.generate(&prompt, &params, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(first.token_ids, second.token_ids);
    assert_eq!(first.token_ids, streamed_ids);
    assert_eq!(first.text, streamed);
    assert_eq!(first.finish_reason, FinishReason::Length);
    assert_eq!(first.token_ids.len(), 12);
    let other_seed = GenerationParams { seed: 43, ..params };
    let third = model.generate(&prompt, &other_seed, |_| ControlFlow::Continue(())).unwrap();
    assert_ne!(first.token_ids, third.token_ids, "a different seed samples differently");
}

#[test]
fn a_caller_can_stop_generation_after_any_token() {
    let model = chat_model();
    let mut seen = 0;
    let generation = model
        .generate(&ask("Count from one to twenty."), &greedy(50), |_| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(generation.token_ids.len(), 3);
    assert_eq!(generation.finish_reason, FinishReason::Cancelled);
}

#[test]
fn a_prompt_longer_than_the_context_is_refused() {
    let model = chat_model();
    let long = vec![1u32; model.context_length() + 1];
    let error = model.generate(&long, &greedy(4), |_| ControlFlow::Continue(())).unwrap_err();
    assert!(error.to_string().contains("context holds"), "{error}");
}

#[test]
fn embeddings_are_unit_vectors_that_place_similar_sentences_close() {
    let model = embedding_model();
    let inputs: Vec<String> =
        ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply today."]
            .map(String::from)
            .to_vec();
    let embedded = model.embed(&inputs).unwrap();
    assert_eq!(embedded.vectors.len(), 3);
    assert_eq!(model.dimensions(), 384);
    for vector in &embedded.vectors {
        assert_eq!(vector.len(), 384);
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    let close = cosine_similarity(&embedded.vectors[0], &embedded.vectors[1]);
    let far = cosine_similarity(&embedded.vectors[0], &embedded.vectors[2]);
    assert!(close > 0.6 && far < 0.2 && close > far, "close {close}, far {far}");
    assert_eq!(embedded.prompt_tokens, model.count_tokens(&inputs).unwrap());
    // Batched and alone give the same vector (padding does not leak into the mean).
    let alone = model.embed(&inputs[..1]).unwrap();
    assert!(cosine_similarity(&alone.vectors[0], &embedded.vectors[0]) > 0.99999);
}

#[test]
fn the_network_models_pass_upload_validation() {
    let cache = ModelCache::default_location();
    let chat = cache.network_model(&NETWORK_MODELS[0]).unwrap().join(NETWORK_MODELS[0].weights_file);
    let summary = pictor_inference::validate::gguf_chat_model(&chat).unwrap();
    assert_eq!(summary.architecture, "llama");
    assert_eq!(summary.context_length, 8192);
    let embedding = cache.network_model(&NETWORK_MODELS[1]).unwrap().join("model.safetensors");
    assert!(pictor_inference::validate::safetensors(&embedding).unwrap() > 50);
    let folder = cache.network_model(&NETWORK_MODELS[1]).unwrap();
    let summary = pictor_inference::validate::bert_embedding_model(&folder).unwrap();
    assert_eq!((summary.dimensions, summary.max_input_tokens), (384, 512));

    // The same weights beside a configuration of another family are refused by name.
    let other = tempfile::tempdir().unwrap();
    for name in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(folder.join(name), other.path().join(name)).unwrap();
    }
    std::fs::write(other.path().join("config.json"), br#"{"model_type": "gpt2", "n_embd": 768}"#).unwrap();
    let refused = pictor_inference::validate::bert_embedding_model(other.path()).unwrap_err();
    assert!(refused.to_string().contains("BERT configuration"), "{refused}");
}
