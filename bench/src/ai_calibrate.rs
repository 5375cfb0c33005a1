//! `pictor-bench ai-calibrate`: the experiment behind the AI checks' rules, in this process on the real models —
//! honest answers replayed by the checker's code (false rejects), answers with other tokens (caught), and
//! embeddings perturbed by noise of several sizes (their cosine similarity against the 0.999 threshold).

use std::ops::ControlFlow;
use std::sync::Arc;

use pictor_agent::ai::models::Model;
use pictor_agent::ai::replay::replay;
use pictor_core::ai::{ChatMessage, Prompt, Sampling, EMBEDDING_MATCH, NETWORK_MODELS};
use pictor_inference::{cosine_similarity, device, ChatModel, EmbeddingModel, GenerationParams, ModelCache};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// Chat answers per case.
    #[arg(long, default_value_t = 40)]
    answers: usize,
    /// Tokens per answer.
    #[arg(long, default_value_t = 12)]
    tokens: u32,
    /// Texts embedded per case.
    #[arg(long, default_value_t = 200)]
    texts: usize,
}

const TOPICS: [&str; 8] = ["the sea", "a dragon", "bread", "Paris", "rain", "a robot", "mountains", "music"];

fn generate(model: &ChatModel, prompt: &Prompt, sampling: &Sampling) -> Vec<u32> {
    let Prompt::Chat(messages) = prompt else { unreachable!("chat prompts only") };
    let ids = model.encode(&model.template().render(messages).expect("prompt")).expect("tokens");
    let params = GenerationParams {
        max_tokens: sampling.max_tokens as usize,
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        seed: sampling.seed,
    };
    model.generate(&ids, &params, |_| ControlFlow::Continue(())).expect("generation").token_ids
}

pub async fn run(args: Args) {
    let cache = ModelCache::default_location();
    let chat_folder = cache.network_model(&NETWORK_MODELS[0]).expect("run scripts/setup to fetch the models");
    let embedding_folder = cache.network_model(&NETWORK_MODELS[1]).expect("run scripts/setup to fetch the models");
    let chat = Arc::new(ChatModel::load(&chat_folder.join(NETWORK_MODELS[0].weights_file), &device()).expect("chat"));
    let embedder = Arc::new(EmbeddingModel::load(&embedding_folder, &device()).expect("embeddings"));
    let checker_chat = Model::Chat(chat.clone());
    let checker_embedder = Model::Embedding(embedder.clone());

    let (mut honest_rejected, mut cheats_caught) = (0, 0);
    for i in 0..args.answers {
        let prompt = Prompt::Chat(vec![ChatMessage {
            role: "user".into(),
            content: format!("Tell me about {}.", TOPICS[i % TOPICS.len()]),
        }]);
        let temperature = [0.0, 0.7, 1.0][i % 3];
        let sampling = Sampling { max_tokens: args.tokens, temperature, top_p: None, seed: rand::random() };
        let honest = generate(&chat, &prompt, &sampling);
        let recorded = json!({ "prompt": prompt, "sampling": sampling, "token_ids": honest }).to_string();
        if !replay(&checker_chat, &recorded).passed {
            honest_rejected += 1;
        }
        // The cheat the agent's `wrong-tokens` fault plays: another draw (another model would differ more).
        let cheat_sampling = Sampling { temperature: 1.5, seed: sampling.seed.wrapping_add(1), ..sampling.clone() };
        let cheat = generate(&chat, &prompt, &cheat_sampling);
        let recorded = json!({ "prompt": prompt, "sampling": sampling, "token_ids": cheat }).to_string();
        if !replay(&checker_chat, &recorded).passed {
            cheats_caught += 1;
        }
    }
    println!(
        "pictor-bench ai-calibrate: SmolLM2-135M Q4_1, {} answers of {} tokens (temperatures 0, 0.7, 1)",
        args.answers, args.tokens
    );
    println!("  honest answers rejected by the replay: {honest_rejected} of {}", args.answers);
    println!("  answers with other tokens caught:      {cheats_caught} of {}", args.answers);

    let texts: Vec<String> = (0..args.texts)
        .map(|i| format!("Sentence {i} tells about {} and how it changes over time.", TOPICS[i % TOPICS.len()]))
        .collect();
    let honest = embedder.embed(&texts).expect("embeddings");
    let packed: Vec<String> = honest.vectors.iter().map(|v| pictor_core::ai::packed_vectors::encode(v)).collect();
    let recorded = json!({ "inputs": texts, "vectors": packed }).to_string();
    let honest_passed = replay(&checker_embedder, &recorded).passed;
    let replayed = embedder.embed(&texts).expect("embeddings");
    let least_honest =
        honest.vectors.iter().zip(&replayed.vectors).map(|(a, b)| cosine_similarity(a, b)).fold(1.0f32, f32::min);
    println!(
        "  embeddings: {} texts replayed, least cosine similarity {least_honest:.7}, passed: {honest_passed}",
        args.texts
    );
    for amplitude in [0.05f32, 0.02, 0.01, 0.005, 0.002] {
        let mut caught = 0;
        let mut highest = 0.0f32;
        for vector in &honest.vectors {
            let noisy: Vec<f32> = vector.iter().map(|x| x + (rand::random::<f32>() - 0.5) * amplitude).collect();
            let similarity = cosine_similarity(vector, &noisy);
            highest = highest.max(similarity);
            if similarity < EMBEDDING_MATCH {
                caught += 1;
            }
        }
        println!(
            "  embeddings perturbed by uniform noise of width {amplitude}: {caught} of {} caught (highest similarity {highest:.5}, threshold {EMBEDDING_MATCH})",
            args.texts
        );
    }
}
