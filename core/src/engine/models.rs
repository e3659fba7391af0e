//! Which Cursor model a request's model name means.

use super::Engine;
use crate::cursor::models::AUTO_WIRE_ID;
use crate::engine::error::ApiError;

/// The wire id for what the client asked, and whether that model takes images; `auto`
/// is Cursor's own routing.
pub(crate) async fn resolve(
    engine: &Engine,
    requested: &str,
) -> Result<(String, Option<bool>), ApiError> {
    let models = engine.client.models().await?;
    if let Some(m) = crate::cursor::models::resolve(&models, requested) {
        return Ok((m.wire_id.clone(), m.supports_images));
    }
    if crate::cursor::models::is_auto(requested) {
        return Ok((AUTO_WIRE_ID.to_string(), None));
    }
    let all = crate::cursor::models::with_auto(&models);
    let ids: Vec<&str> = all.iter().map(|m| m.id.as_str()).collect();
    Err(ApiError::unknown_model(requested, &ids))
}
