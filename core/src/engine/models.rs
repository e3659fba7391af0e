//! Which Cursor model a request's model name means.
//!
//! A name is looked up in Cursor's catalogue first (id, wire id, alias; `auto`). A name
//! the catalogue does not know goes through the `model_aliases` setting — glob patterns
//! (`*` any run of characters, `?` one, case-insensitive) → a Cursor model id, tried from
//! the most specific pattern (the most literal characters) down — and then through the
//! built-in defaults, which map the Anthropic names Claude Code asks for (its main model
//! and its small fast one, e.g. `claude-opus-5-5`, `claude-haiku-4-5`) to the nearest
//! Cursor Claude model of the live catalogue: `claude-*opus*` → the newest catalogue
//! model whose id has `opus`, the same for `sonnet` and `haiku`, else `auto`; any other
//! `claude-*` → `auto`. Each mapped name is logged once.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, OnceLock};

use super::Engine;
use crate::cursor::models::{AUTO_MODEL, AUTO_WIRE_ID, ModelInfo};
use crate::engine::error::ApiError;

/// The wire id for what the client asked, and whether that model takes images; `auto`
/// is Cursor's own routing.
pub(crate) async fn resolve(
    engine: &Engine,
    requested: &str,
) -> Result<(String, Option<bool>), ApiError> {
    let models = engine.client.models().await?;
    let known = |name: &str| {
        if let Some(m) = crate::cursor::models::resolve(&models, name) {
            return Some((m.wire_id.clone(), m.supports_images));
        }
        crate::cursor::models::is_auto(name).then(|| (AUTO_WIRE_ID.to_string(), None))
    };
    if let Some(found) = known(requested) {
        return Ok(found);
    }
    let unknown = |name: &str| {
        let all = crate::cursor::models::with_auto(&models);
        let ids: Vec<&str> = all.iter().map(|m| m.id.as_str()).collect();
        ApiError::unknown_model(name, &ids)
    };
    let Some(target) = alias(&engine.settings.model_aliases, &models, requested) else {
        return Err(unknown(requested));
    };
    if let Some(found) = known(&target) {
        log_once(requested, &target);
        return Ok(found);
    }
    // The user's alias names a model Cursor does not offer: say which setting did it.
    let mut e = unknown(&target);
    e.message = format!(
        "`{requested}` maps to `{target}` (setting model_aliases): {}",
        e.message
    );
    Err(e)
}

/// The model id `requested` is an alias of: the user's patterns, then the defaults.
fn alias(user: &BTreeMap<String, String>, models: &[ModelInfo], requested: &str) -> Option<String> {
    let mut patterns: Vec<(&String, &String)> = user.iter().collect();
    // Most literal characters first; the map's order breaks ties.
    patterns.sort_by_key(|(p, _)| {
        std::cmp::Reverse(p.chars().filter(|c| !matches!(c, '*' | '?')).count())
    });
    if let Some((_, target)) = patterns.iter().find(|(p, _)| glob(p, requested)) {
        return Some(target.to_string());
    }
    for family in ["opus", "sonnet", "haiku"] {
        if glob(&format!("claude-*{family}*"), requested) {
            return Some(newest(models, family).unwrap_or_else(|| AUTO_MODEL.to_string()));
        }
    }
    glob("claude-*", requested).then(|| AUTO_MODEL.to_string())
}

/// The newest catalogue model whose id has `family`: the highest version numbers in its
/// id (`claude-4.6-opus` over `claude-4.5-opus`), the shorter id on a tie (the plain
/// model over its `-thinking` or `-max` variant).
fn newest(models: &[ModelInfo], family: &str) -> Option<String> {
    let version = |id: &str| -> Vec<u64> {
        id.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    models
        .iter()
        .filter(|m| m.id.to_ascii_lowercase().contains(family))
        .max_by(|a, b| {
            version(&a.id)
                .cmp(&version(&b.id))
                .then(b.id.len().cmp(&a.id.len()))
        })
        .map(|m| m.id.clone())
}

/// `name` matches `pattern` (`*` any run, `?` one character; ASCII case ignored).
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    // The classic backtracking matcher: on a mismatch, let the last `*` take one more.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// Logs which model `requested` maps to, once per name (at most a few hundred names of at
/// most 128 bytes are remembered: `claude-*` matches names without end, of any length).
fn log_once(requested: &str, target: &str) {
    if requested.len() > 128 {
        return;
    }
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if seen.len() < 512 && seen.insert(requested.to_string()) {
        tracing::info!("model `{requested}` is not in Cursor's catalogue; using `{target}`");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str) -> ModelInfo {
        ModelInfo {
            id: id.into(),
            wire_id: id.into(),
            name: id.into(),
            aliases: vec![],
            reasoning: false,
            supports_images: None,
            context_limit: 200_000,
            output_limit: 64_000,
            limit_source: crate::cursor::models::LimitSource::Default,
        }
    }

    #[test]
    fn globs_match_runs_single_characters_and_ignore_case() {
        assert!(glob("claude-*haiku*", "claude-haiku-4-5-20251001"));
        assert!(glob("claude-*", "CLAUDE-x"));
        assert!(glob("gpt-?", "gpt-5"));
        assert!(!glob("gpt-?", "gpt-55"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYbc"));
        assert!(!glob("a*b*c", "aXXbYYb"));
        assert!(!glob("claude-*", "my-claude-x"));
        assert!(glob("exact", "Exact"));
    }

    #[test]
    fn anthropic_names_map_to_the_newest_cursor_model_of_their_family_or_auto() {
        let models = [
            model("claude-4.5-sonnet-thinking"),
            model("claude-4.5-sonnet"),
            model("claude-4.1-opus"),
            model("claude-4.6-opus"),
            model("gpt-5.1"),
        ];
        let none = BTreeMap::new();
        let map = |name: &str| alias(&none, &models, name);
        assert_eq!(map("claude-opus-5-5").as_deref(), Some("claude-4.6-opus"));
        assert_eq!(map("claude-sonnet-5").as_deref(), Some("claude-4.5-sonnet"));
        assert_eq!(
            map("claude-haiku-4-5").as_deref(),
            Some("auto"),
            "no haiku in the catalogue"
        );
        assert_eq!(map("claude-instant").as_deref(), Some("auto"));
        assert_eq!(
            map("gpt-6.1-sol"),
            None,
            "only Anthropic names have defaults"
        );
    }

    #[test]
    fn the_users_patterns_come_first_the_most_specific_first() {
        let models = [model("claude-4.6-opus"), model("gpt-5.1")];
        let user: BTreeMap<String, String> = [
            ("claude-*".to_string(), "gpt-5.1".to_string()),
            ("claude-*haiku*".to_string(), "auto".to_string()),
            ("gpt-6*".to_string(), "gpt-5.1".to_string()),
        ]
        .into();
        assert_eq!(
            alias(&user, &models, "claude-haiku-4-5").as_deref(),
            Some("auto")
        );
        assert_eq!(
            alias(&user, &models, "claude-opus-5-5").as_deref(),
            Some("gpt-5.1")
        );
        assert_eq!(
            alias(&user, &models, "gpt-6.1-sol").as_deref(),
            Some("gpt-5.1")
        );
        assert_eq!(alias(&user, &models, "o3"), None);
    }
}
