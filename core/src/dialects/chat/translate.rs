//! OpenAI Chat Completions request → the engine's neutral [`Request`].
//!
//! System and developer messages become system messages (Cursor honours them as a
//! `cloud_rule`), the tools become the run's tool definitions, the newest user message's
//! `image_url` data URLs are decoded (a bad one is a 400 naming its part), and the
//! messages become the neutral history ([`super::history`]). Everything else — the
//! continuation of a parked run, the system prompt, the transcript — the engine derives
//! from the neutral request.

use super::history;
use super::request::{ChatCompletionRequest, RequestError, Role, ToolChoice, ToolChoiceMode};
use crate::cursor::chat::ToolDef;
use crate::engine::images::{self, Attached};
use crate::engine::request::{self as neutral, Dialect, Request};

/// The neutral request for `req`; a bad image is an error naming its part.
pub fn neutral(req: &ChatCompletionRequest) -> Result<Request, RequestError> {
    Ok(Request {
        model: req.model.clone(),
        messages: history::messages(req),
        images: newest_user_images(req)?,
        tools: tool_defs(req),
        tool_choice: match &req.tool_choice {
            None | Some(ToolChoice::Mode(ToolChoiceMode::Auto)) => neutral::ToolChoice::Auto,
            Some(ToolChoice::Mode(ToolChoiceMode::None)) => neutral::ToolChoice::None,
            Some(ToolChoice::Mode(ToolChoiceMode::Required)) => neutral::ToolChoice::Required,
            Some(ToolChoice::Named(n)) => neutral::ToolChoice::Named(n.function.name.clone()),
        },
        stream: req.is_stream(),
        ..Request::new(Dialect::Chat)
    })
}

/// The tools the request declares.
fn tool_defs(req: &ChatCompletionRequest) -> Vec<ToolDef> {
    req.tools
        .iter()
        .flatten()
        .map(|t| ToolDef {
            name: t.function.name.clone(),
            description: t.function.description.clone().unwrap_or_default(),
            parameters: t.function.parameters.clone(),
        })
        .collect()
}

/// The images of the newest user message, which a fresh run sends as images (earlier
/// ones stay `[image]` marks in the text: Cursor has no place for them in a new run).
fn newest_user_images(req: &ChatCompletionRequest) -> Result<Vec<Attached>, RequestError> {
    let Some(i) = req.messages.iter().rposition(|m| m.role == Role::User) else {
        return Ok(Vec::new());
    };
    req.messages[i]
        .image_parts()
        .map(|(j, url)| {
            let param = super::request::image_param(i, j);
            match images::decode(url) {
                Ok(image) => Ok(Attached { param, image }),
                Err(e) => Err(RequestError {
                    message: format!("{param}: {e}"),
                    param,
                    malformed: false,
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::chat::ToolResult;
    use crate::engine::history::Msg;

    fn req(body: &str) -> Request {
        neutral(&ChatCompletionRequest::parse(body.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn system_and_developer_messages_become_the_system_prompt() {
        let r = req(r#"{"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "use metric"},
            {"role": "user", "content": "hi"}]}"#);
        assert_eq!(r.transcript(), "hi");
        assert_eq!(
            r.system_prompt(&[]).as_deref(),
            Some("be brief\n\nuse metric")
        );
        assert!(r.tools.is_empty());
        assert!(r.trailing_tool_results().is_empty());
    }

    #[test]
    fn the_opencode_recording_ends_in_the_result_of_its_bash_call() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/opencode-request.json"
        );
        let r =
            neutral(&ChatCompletionRequest::parse(&std::fs::read(path).unwrap()).unwrap()).unwrap();
        let tools = r.offered_tools();
        assert!(
            r.system_prompt(&tools)
                .unwrap()
                .starts_with("You are opencode")
        );
        assert_eq!(tools.len(), 10);
        let t = r.transcript();
        for needle in [
            "<user>\n\"say hi\"\n</user>",
            r#"<tool_call id="call_63038adf007049779dfa" name="bash">"#,
            r#"<tool_result id="call_63038adf007049779dfa" name="bash">"#,
            "STUB_TOOL_OK",
        ] {
            assert!(t.contains(needle), "{needle} missing in {t}");
        }
        assert_eq!(
            r.trailing_tool_results(),
            vec![(
                "call_63038adf007049779dfa".to_string(),
                ToolResult {
                    content: "STUB_TOOL_OK\n".into(),
                    is_error: false
                }
            )]
        );
    }

    #[test]
    fn only_the_newest_user_message_brings_its_images() {
        let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAAfFcSJ";
        let r = req(&format!(
            r#"{{"messages": [
            {{"role": "user", "content": [{{"type": "image_url", "image_url": {{"url": "{png}"}}}}]}},
            {{"role": "assistant", "content": "a cat"}},
            {{"role": "user", "content": [{{"type": "text", "text": "and this?"}},
                {{"type": "image_url", "image_url": {{"url": "{png}"}}}}]}}]}}"#
        ));
        assert_eq!(r.images.len(), 1);
        assert_eq!(r.images[0].param, "messages[2].content[1].image_url");
        assert_eq!((r.images[0].image.width, r.images[0].image.height), (2, 3));
        assert_eq!(r.messages[0], Msg::User("[image]".into()));
        assert!(
            r.transcript().ends_with("and this?\n[image]"),
            "{}",
            r.transcript()
        );
    }

    #[test]
    fn tool_choice_maps_to_the_neutral_choice() {
        let tools = r#""tools": [{"type": "function", "function": {"name": "f"}}]"#;
        for (choice, want) in [
            (r#""none""#, neutral::ToolChoice::None),
            (r#""required""#, neutral::ToolChoice::Required),
            (r#""auto""#, neutral::ToolChoice::Auto),
            (
                r#"{"type": "function", "function": {"name": "f"}}"#,
                neutral::ToolChoice::Named("f".into()),
            ),
        ] {
            let r = req(&format!(
                r#"{{"messages": [{{"role": "user", "content": "x"}}], {tools}, "tool_choice": {choice}}}"#
            ));
            assert_eq!(r.tool_choice, want, "{choice}");
        }
    }
}
