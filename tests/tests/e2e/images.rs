//! Images end to end (reference §9.6): OpenAI `image_url` data URLs through the real proxy
//! reach the fake Cursor as `selected_context.selected_images` with their bytes, MIME type
//! and dimensions; what cannot be sent is a 400 in OpenAI's error format naming the part,
//! and the catalogue's image flag shows in `/v1/models` and the OpenCode block.

use crate::common;

use base64::Engine as _;
use common::Harness;
use common::proxy::{Proxy, error_of, signed_in};
use cursor_bridge_tests::{FakeCursor, FakeModel};
use serde_json::{Value, json};

/// A real 4×3 RGB PNG (IHDR, IDAT, IEND), 73 bytes.
const PNG_4X3: &str = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAEElEQVR4nGP4z8AARww4OQD1MQv1NXv7ggAAAABJRU5ErkJggg==";

fn png_url() -> String {
    format!("data:image/png;base64,{PNG_4X3}")
}

fn with_image(model: &str, url: Value) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": url}
        ]}]
    })
}

#[tokio::test]
async fn a_data_url_png_reaches_cursor_with_its_type_and_size() {
    let p = signed_in(vec![]).await;
    let res = p
        .post(&with_image(
            "claude-4.5-sonnet",
            json!({"url": png_url(), "detail": "high"}),
        ))
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let runs = p.fake().runs();
    let images = runs[0].images();
    assert_eq!(images.len(), 1, "{images:?}");
    let img = &images[0];
    assert_eq!(
        (img.mime_type.as_str(), img.width, img.height),
        ("image/png", 4, 3)
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG_4X3)
        .unwrap();
    assert_eq!(img.data.as_ref(), png.as_slice(), "the bytes go inline");
    assert_eq!(img.blob_id, None);
    assert!(uuid::Uuid::parse_str(&img.uuid).is_ok(), "{}", img.uuid);
    assert_eq!(
        runs[0].user_text(),
        Some("What is in this picture?\n[image]")
    );
}

#[tokio::test]
async fn only_the_newest_user_message_sends_its_images_and_auto_takes_them() {
    let p = signed_in(vec![]).await;
    let body = json!({
        "model": "auto",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": png_url()}}]},
            {"role": "assistant", "content": "A red rectangle."},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": png_url()}},
                {"type": "image_url", "image_url": png_url()}
            ]}
        ]
    });
    let res = p.post(&body).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let images = p.fake().runs()[0].images();
    assert_eq!(
        images.len(),
        2,
        "the two of the newest message, not the earlier one"
    );
    assert_ne!(images[0].uuid, images[1].uuid);
}

#[tokio::test]
async fn a_remote_image_url_is_refused_with_400_naming_the_part() {
    let p = signed_in(vec![]).await;
    let res = p
        .post(&with_image(
            "claude-4.5-sonnet",
            json!({"url": "https://example.com/cat.png"}),
        ))
        .await;
    let (status, err, _) = error_of(res).await;
    assert_eq!(status, 400);
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["param"], "messages[0].content[1].image_url");
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.contains("data URL") && msg.contains("does not fetch"),
        "{msg}"
    );
    assert!(p.fake().runs().is_empty(), "nothing went to Cursor");
}

#[tokio::test]
async fn bad_base64_and_a_wrong_type_are_refused_with_400() {
    let p = signed_in(vec![]).await;
    let cases = [
        (
            "data:image/png;base64,iVBOR***".to_string(),
            "not valid base64",
        ),
        (
            format!("data:image/jpeg;base64,{PNG_4X3}"),
            "says `image/jpeg`, but the data is a PNG image",
        ),
        (
            "data:application/pdf;base64,JVBERi0=".to_string(),
            "unsupported image type",
        ),
    ];
    for (url, want) in cases {
        let res = p
            .post(&with_image("claude-4.5-sonnet", json!({"url": url})))
            .await;
        let (status, err, _) = error_of(res).await;
        assert_eq!(status, 400, "{url}");
        assert_eq!(err["param"], "messages[0].content[1].image_url");
        let msg = err["message"].as_str().unwrap();
        assert!(msg.contains(want), "{url}: {msg}");
    }
    assert!(p.fake().runs().is_empty());
}

#[tokio::test]
async fn a_model_without_image_support_gets_400_not_a_silent_drop() {
    let fake = FakeCursor::builder()
        .models(vec![
            FakeModel::new("text-only-1").images(false),
            FakeModel::new("claude-4.5-sonnet").images(true),
        ])
        .start()
        .await;
    let p = Proxy::start(Harness::signed_in(fake).await).await;
    let res = p
        .post(&with_image("text-only-1", json!({"url": png_url()})))
        .await;
    let (status, err, _) = error_of(res).await;
    assert_eq!(status, 400);
    assert_eq!(err["code"], "images_not_supported");
    assert_eq!(err["param"], "messages[0].content[1].image_url");
    assert!(
        err["message"].as_str().unwrap().contains("`text-only-1`"),
        "{err}"
    );
    assert!(p.fake().runs().is_empty());
    // The same model without images is fine.
    let res = p
        .post(&json!({"model": "text-only-1", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(res.status(), 200);
    assert!(p.fake().runs()[0].images().is_empty());
}

#[tokio::test]
async fn models_and_the_opencode_block_say_which_models_take_images() {
    let fake = FakeCursor::builder()
        .models(vec![
            FakeModel::new("text-only-1").images(false),
            FakeModel::new("claude-4.5-sonnet").images(true),
            FakeModel::new("mystery-1"),
        ])
        .start()
        .await;
    let p = Proxy::start(Harness::signed_in(fake).await).await;
    let list: Value = p.get("/v1/models").await.json().await.unwrap();
    let by_id = |id: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {list}"))
    };
    let claude = by_id("claude-4.5-sonnet");
    assert_eq!(claude["supports_images"], true);
    assert_eq!(claude["input_modalities"], json!(["text", "image"]));
    let text_only = by_id("text-only-1");
    assert_eq!(text_only["supports_images"], false);
    assert_eq!(text_only["input_modalities"], json!(["text"]));
    assert_eq!(by_id("mystery-1")["supports_images"], Value::Null);

    let models = p.h.client.models().await.unwrap();
    let block = cursor_bridge_core::opencode::provider_block(&models, &p.base, &p.key);
    let m = &block["models"];
    assert_eq!(m["claude-4.5-sonnet"]["attachment"], true);
    assert_eq!(
        m["claude-4.5-sonnet"]["modalities"]["input"],
        json!(["text", "image"])
    );
    for id in ["text-only-1", "mystery-1"] {
        assert_eq!(m[id].get("attachment"), None, "{id}");
        assert_eq!(m[id].get("modalities"), None, "{id}");
    }
}

/// `tests/data/opencode-image-request.json` is what the real OpenCode 1.18.33 sent for
/// `opencode run -m cursor-bridge/claude-4.5-sonnet -f red.png "what colour is this
/// image?"` with the block `opencode-config --write` made (`attachment`, `modalities`).
#[tokio::test]
async fn the_image_opencode_attaches_reaches_cursor() {
    let p = signed_in(vec![]).await;
    let body: Value =
        serde_json::from_str(include_str!("../../data/opencode-image-request.json")).unwrap();
    let chunks = p.sse(&body).await;
    assert!(!chunks.is_empty());
    let runs = p.fake().runs();
    let images = runs[0].images();
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(
        (
            images[0].mime_type.as_str(),
            images[0].width,
            images[0].height
        ),
        ("image/png", 4, 3)
    );
    let text = runs[0].user_text().unwrap();
    assert!(text.contains("what colour is this image?"), "{text}");
}
