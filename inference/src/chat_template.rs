//! Turns a conversation into a prompt with the model's chat template (ChatML, as the GGUF metadata declares it).

pub use pictor_core::ai::ChatMessage;

use crate::InferenceError;

/// The chat templates Pictor can render; a model whose template is none of these cannot be hosted for chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\ncontent<|im_end|>\n`, with the model's default system prompt when the caller gives none.
    ChatMl { default_system: Option<String> },
}

impl ChatTemplate {
    /// Recognises the template from the GGUF `tokenizer.chat_template` text.
    pub fn recognise(template: &str) -> Result<Self, InferenceError> {
        if !template.contains("<|im_start|>") || !template.contains("<|im_end|>") {
            return Err(InferenceError::invalid(
                "the model's chat template is not ChatML; only ChatML chat models can be hosted",
            ));
        }
        Ok(ChatTemplate::ChatMl { default_system: default_system(template) })
    }

    /// The prompt text for `messages`, ending where the assistant's answer begins.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, InferenceError> {
        let ChatTemplate::ChatMl { default_system } = self;
        if messages.is_empty() {
            return Err(InferenceError::invalid("'messages' must hold at least one message"));
        }
        let mut prompt = String::new();
        if messages[0].role != "system" {
            if let Some(system) = default_system {
                push_turn(&mut prompt, "system", system);
            }
        }
        for message in messages {
            match message.role.as_str() {
                "system" | "user" | "assistant" | "developer" => {}
                other => {
                    return Err(InferenceError::invalid(format!(
                        "message role '{other}' is not one of system, developer, user or assistant"
                    )))
                }
            }
            let role = if message.role == "developer" { "system" } else { &message.role };
            push_turn(&mut prompt, role, &message.content);
        }
        prompt.push_str("<|im_start|>assistant\n");
        Ok(prompt)
    }
}

fn push_turn(prompt: &mut String, role: &str, content: &str) {
    prompt.push_str("<|im_start|>");
    prompt.push_str(role);
    prompt.push('\n');
    prompt.push_str(content);
    prompt.push_str("<|im_end|>\n");
}

/// The system prompt a template inserts when the conversation has none (SmolLM2 names itself this way).
fn default_system(template: &str) -> Option<String> {
    let marker = "<|im_start|>system\n";
    let start = template.find(marker)? + marker.len();
    let rest = &template[start..];
    let end = rest.find("<|im_end|>")?;
    let system = &rest[..end];
    // A Jinja expression in place of the text means the template only copies the caller's system message.
    (!system.contains("{{") && !system.contains("{%")).then(|| system.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: &str, content: &str) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into() }
    }

    const SMOLLM_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn chatml_adds_the_default_system_prompt_only_when_none_is_given() {
        let template = ChatTemplate::recognise(SMOLLM_TEMPLATE).unwrap();
        let prompt = template.render(&[message("user", "Hi")]).unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let prompt = template.render(&[message("system", "Be brief."), message("user", "Hi")]).unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn unknown_roles_empty_conversations_and_other_templates_are_refused() {
        let template = ChatTemplate::recognise(SMOLLM_TEMPLATE).unwrap();
        assert!(template.render(&[]).is_err());
        assert!(template.render(&[message("tool", "x")]).unwrap_err().to_string().contains("'tool'"));
        assert!(ChatTemplate::recognise("[INST] {{ message }} [/INST]").is_err());
    }
}
