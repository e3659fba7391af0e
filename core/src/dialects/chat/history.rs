//! OpenAI messages → the dialect-neutral history ([`crate::engine::history::Msg`]) that
//! a fresh run sends as Cursor's structure and the conversation store keys on.

use std::collections::HashMap;

use super::request::{ChatCompletionRequest, Message, Role};
use crate::engine::history::{Call, Msg, parse_args};

fn text_of(m: &Message) -> String {
    m.content.as_ref().map(|c| c.text()).unwrap_or_default()
}

/// Every message of the request, in order (system and developer messages as system
/// messages; reasoning the client echoes is not re-sent).
pub fn messages(req: &ChatCompletionRequest) -> Vec<Msg> {
    // A tool message names its call; the name comes from the assistant call it answers.
    let mut names: HashMap<&str, &str> = HashMap::new();
    req.messages
        .iter()
        .map(|m| match m.role {
            Role::System | Role::Developer => Msg::System(text_of(m)),
            Role::User => Msg::User(text_of(m)),
            Role::Assistant => Msg::Assistant {
                text: text_of(m),
                calls: m
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|c| {
                        names.insert(c.id.as_str(), c.function.name.as_str());
                        Call {
                            id: c.id.clone(),
                            name: c.function.name.clone(),
                            args: parse_args(&c.function.arguments),
                        }
                    })
                    .collect(),
            },
            Role::Tool | Role::Function => {
                let call_id = m.tool_call_id.clone().unwrap_or_default();
                let name = names
                    .get(call_id.as_str())
                    .map(|n| n.to_string())
                    .or_else(|| m.name.clone())
                    .unwrap_or_else(|| "tool".into());
                Msg::Tool {
                    call_id,
                    name,
                    result: text_of(m),
                    is_error: false,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::history;

    #[test]
    fn the_opencode_recording_becomes_structure_ending_in_a_resume() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/opencode-request.json"
        );
        let r = ChatCompletionRequest::parse(&std::fs::read(path).unwrap()).unwrap();
        let msgs = messages(&r);
        assert!(matches!(&msgs[0], Msg::System(t) if t.starts_with("You are opencode")));
        let Some(Msg::Tool { name, result, .. }) = msgs.last() else {
            panic!("ends with the tool result: {msgs:?}")
        };
        assert_eq!((name.as_str(), result.as_str()), ("bash", "STUB_TOOL_OK\n"));
        let s = history::build(&msgs);
        assert_eq!(s.user_text, "", "no new user text: resume_action");
        assert_eq!(s.blobs.len(), msgs.len());
    }
}
