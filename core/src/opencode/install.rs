//! Writes our provider into the user's OpenCode config (`opencode-config --write`, IPC
//! `opencode_install`) without disturbing anything else — other tools' config writers
//! wiped comments and other providers (product notes, complaint 5).
//!
//! The file is JSONC. We edit it through jsonc-parser's CST, which keeps every comment,
//! blank line and trailing comma, and touch only `provider.cursor-bridge`. Before writing,
//! our own output is parsed again and must equal, as data, the original plus our block.
//! A file we cannot parse, or whose shape we would have to change (`provider` not an
//! object, a duplicated key), is refused and left byte-for-byte alone, with no backup.
//! Anything we do change is copied to a fresh `<file>.bak-<UTC stamp>` first.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde::Serialize;
use serde_json::{Value, json};

use super::{PROVIDER_ID, SCHEMA};
use crate::config::settings::{Env, write_atomic, write_atomic_keeping};
use crate::dates::civil_from_days;

/// OpenCode keeps its global config in `$XDG_CONFIG_HOME/opencode` on every OS…
pub(crate) const ENV_XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
/// …else in `<home>/.config/opencode`, home as Node's `os.homedir()` finds it.
#[cfg(windows)]
pub const ENV_USER_HOME: &str = "USERPROFILE";
/// …else in `<home>/.config/opencode`, home as Node's `os.homedir()` finds it.
#[cfg(not(windows))]
pub(crate) const ENV_USER_HOME: &str = "HOME";

/// What a write did. Over IPC this is `OpencodeInstall` (docs/IPC.md).
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "OpencodeInstall"))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteOutcome {
    /// The file written; when the given path is a symlink, the file it points to.
    pub path: PathBuf,
    /// The copy of the previous contents. `None` when the file was created, and when it
    /// already held exactly this block: then nothing was written at all.
    pub backup: Option<PathBuf>,
    /// The file did not exist and was created (mode 0600 on unix: it holds our key).
    pub created: bool,
}

/// Why a config text cannot take our block. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MergeError {
    /// The text is not JSONC (or not UTF-8 at all); the reason.
    #[error("it is not valid JSONC: {0}")]
    Parse(String),
    /// The top-level value is not an object; what it is instead (`an array`, …).
    #[error("its top level is {0}, not an object")]
    RootNotObject(&'static str),
    /// `provider` exists but is not an object; what it is instead.
    #[error("`provider` is {0}, not an object")]
    ProviderNotObject(&'static str),
    /// A key we would edit (`provider` or `provider.cursor-bridge`) appears twice; its
    /// path.
    #[error("`{0}` appears more than once (OpenCode would use the last, we would edit the first)")]
    Duplicate(String),
    /// Our own output did not read back as the original plus our block: a bug, never
    /// written out.
    #[error("the merged text did not check out ({0}); this is a bug in Cursor Bridge")]
    Check(String),
}

/// Why [`write_provider`] did not write.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// The file's contents are the problem; it was left untouched.
    #[error("refusing to change {}: {problem}. The file was not modified", path.display())]
    Refused {
        /// The config file (after following a symlink).
        path: PathBuf,
        /// What about its contents stops the merge.
        problem: MergeError,
    },
    /// Following, reading, backing up or writing the file failed. Writes are atomic, so
    /// the file is as it was; a backup already made is kept.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What we were doing, worded to follow "cannot" (`read`, `write the backup`, …).
        action: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// No path was given and neither variable that locates OpenCode's global config is
    /// set.
    #[error(
        "cannot find OpenCode's config directory: neither {ENV_XDG_CONFIG_HOME} nor {ENV_USER_HOME} is set; give the file's path"
    )]
    NoHome,
}

impl WriteError {
    /// The file exists but is not something we will edit (the user must fix or move it).
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, WriteError::Refused { .. })
    }
}

/// OpenCode's global config directory: `$XDG_CONFIG_HOME/opencode`, else
/// `<home>/.config/opencode` — the `xdg-basedir` rule OpenCode uses on every OS, Windows
/// and macOS included (`Global.Path.config = path.join(xdgConfig, "opencode")`).
pub(crate) fn global_config_dir(env: &Env) -> Option<PathBuf> {
    match env.get(ENV_XDG_CONFIG_HOME) {
        Some(xdg) => Some(PathBuf::from(xdg).join("opencode")),
        None => env
            .get(ENV_USER_HOME)
            .map(|home| Path::new(home).join(".config").join("opencode")),
    }
}

/// The file `--write` edits by default: `opencode.jsonc` in the global config directory
/// if it exists, else `opencode.json`. OpenCode merges `config.json`, `opencode.json` and
/// `opencode.jsonc` from there in that order, so `.jsonc` wins where both exist.
pub(crate) fn default_config_path(env: &Env) -> Result<PathBuf, WriteError> {
    let dir = global_config_dir(env).ok_or(WriteError::NoHome)?;
    let jsonc = dir.join("opencode.jsonc");
    Ok(if jsonc.exists() {
        jsonc
    } else {
        dir.join("opencode.json")
    })
}

/// A new config holding only `$schema` and our provider.
pub(crate) fn new_config_text(block: &Value) -> String {
    let v = json!({"$schema": SCHEMA, "provider": {PROVIDER_ID: block}});
    // Serialising a `Value` cannot fail; the fallback is never taken.
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
    text.push('\n');
    text
}

/// `text` with `provider.cursor-bridge` set to `block` (created, with `provider`, where
/// missing) and every other byte as it was. An empty or comment-only text becomes a new
/// config (with `$schema`), its comments kept.
pub(crate) fn merge_provider(text: &str, block: &Value) -> Result<String, MergeError> {
    let opts = parse_options();
    let parse_err = |e: jsonc_parser::errors::ParseError| MergeError::Parse(e.to_string());
    let before: Value = jsonc_parser::parse_to_serde_value(text, &opts).map_err(parse_err)?;
    let root = CstRootNode::parse(text, &opts).map_err(parse_err)?;

    let mut expected = before.clone();
    let obj = match root.value() {
        None => {
            let obj = root.object_value_or_set();
            obj.append("$schema", SCHEMA.into());
            expected = json!({"$schema": SCHEMA});
            obj
        }
        Some(v) => v
            .as_object()
            .ok_or_else(|| MergeError::RootNotObject(kind(&before)))?,
    };
    only_once(&obj, "provider", "provider")?;
    let providers = match obj.get("provider") {
        Some(p) => p
            .object_value()
            .ok_or_else(|| MergeError::ProviderNotObject(kind(&before["provider"])))?,
        None => obj
            .append("provider", CstInputValue::Object(Vec::new()))
            .object_value()
            .ok_or_else(|| MergeError::Check("`provider` was not created".into()))?,
    };
    only_once(&providers, PROVIDER_ID, &format!("provider.{PROVIDER_ID}"))?;
    match providers.get(PROVIDER_ID) {
        Some(ours) => ours.set_value(to_input(block)),
        None => {
            providers.append(PROVIDER_ID, to_input(block));
        }
    }
    let out = root.to_string();

    // Belt and braces over the CST editor: the result must read back as exactly the
    // original data plus our block.
    let after: Value = jsonc_parser::parse_to_serde_value(&out, &opts)
        .map_err(|e| MergeError::Check(format!("it does not parse: {e}")))?;
    expected["provider"][PROVIDER_ID] = block.clone();
    if after != expected {
        return Err(MergeError::Check("other values changed".into()));
    }
    Ok(out)
}

/// Puts `block` at `provider.cursor-bridge` in the OpenCode config at `path`:
/// - missing file → created with its parent directories, `$schema` + our provider, 0600;
/// - a file that takes the merge → copied to a new backup (`<file>.bak-YYYYMMDD-HHMMSS`
///   from `now` in UTC, `-2`, `-3`… if taken; never overwritten), then replaced
///   atomically, keeping its permissions; a file that already holds exactly this block
///   is left alone (no write, no backup);
/// - a file that does not → [`WriteError::Refused`], nothing written, no backup.
///
/// A symlink is followed: the file it points to is edited and backed up beside itself
/// (replacing the link with a plain file would cut a dotfiles checkout off).
pub(crate) fn write_provider(
    path: &Path,
    block: &Value,
    now: SystemTime,
) -> Result<WriteOutcome, WriteError> {
    let path = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|source| WriteError::Io {
                action: "follow the symlink",
                path: path.to_path_buf(),
                source,
            })?
        }
        _ => path.to_path_buf(),
    };
    let original = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_atomic(&path, new_config_text(block).as_bytes(), true).map_err(|source| {
                WriteError::Io {
                    action: "create",
                    path: path.clone(),
                    source,
                }
            })?;
            return Ok(WriteOutcome {
                path,
                backup: None,
                created: true,
            });
        }
        Err(source) => {
            return Err(WriteError::Io {
                action: "read",
                path,
                source,
            });
        }
    };
    let refused = |problem| WriteError::Refused {
        path: path.clone(),
        problem,
    };
    let text = std::str::from_utf8(&original)
        .map_err(|e| refused(MergeError::Parse(format!("it is not UTF-8 text ({e})"))))?;
    let merged = merge_provider(text, block).map_err(refused)?;
    if merged == text {
        return Ok(WriteOutcome {
            path,
            backup: None,
            created: false,
        });
    }
    let permissions = fs::metadata(&path)
        .map_err(|source| WriteError::Io {
            action: "read the permissions of",
            path: path.clone(),
            source,
        })?
        .permissions();
    let backup = write_backup(&path, &original, now)?;
    write_atomic_keeping(&path, merged.as_bytes(), permissions).map_err(|source| {
        WriteError::Io {
            action: "write",
            path: path.clone(),
            source,
        }
    })?;
    Ok(WriteOutcome {
        path,
        backup: Some(backup),
        created: false,
    })
}

/// Copies `bytes` to a backup name nobody has taken yet (`create_new`, so an existing
/// backup is never overwritten, even by a concurrent run). Private on unix: the old file
/// held an API key too.
fn write_backup(path: &Path, bytes: &[u8], now: SystemTime) -> Result<PathBuf, WriteError> {
    let stamp = backup_stamp(now);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for n in 1..=100u32 {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let backup = path.with_file_name(format!("{name}.bak-{stamp}{suffix}"));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let io_err = |source| WriteError::Io {
            action: "write the backup",
            path: backup.clone(),
            source,
        };
        match options.open(&backup) {
            Ok(mut f) => {
                let written = f.write_all(bytes).and_then(|()| f.sync_all());
                if let Err(e) = written {
                    drop(f);
                    let _ = fs::remove_file(&backup);
                    return Err(io_err(e));
                }
                return Ok(backup);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(e)),
        }
    }
    Err(WriteError::Io {
        action: "find a free backup name beside",
        path: path.to_path_buf(),
        source: io::Error::from(io::ErrorKind::AlreadyExists),
    })
}

/// `YYYYMMDD-HHMMSS` in UTC: sorts by time, and is safe in file names on every OS.
fn backup_stamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// JSONC as OpenCode reads it (npm `jsonc-parser` with `allowTrailingComma`): comments and
/// trailing commas, nothing looser. A file OpenCode would reject is not one to rewrite.
fn parse_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// Refuses an object where `name` appears twice: OpenCode's parser keeps the last one,
/// the CST editor would change the first.
fn only_once(obj: &CstObject, name: &str, shown: &str) -> Result<(), MergeError> {
    let n = obj
        .properties()
        .iter()
        .filter(|p| p.decoded_name().as_deref() == Some(name))
        .count();
    if n > 1 {
        return Err(MergeError::Duplicate(shown.into()));
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn to_input(v: &Value) -> CstInputValue {
    match v {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(a) => CstInputValue::Array(a.iter().map(to_input).collect()),
        Value::Object(o) => {
            CstInputValue::Object(o.iter().map(|(k, v)| (k.clone(), to_input(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config as people write them: both comment styles, trailing commas, another
    /// provider with its own key, and a stale entry of ours.
    const USER_CONFIG: &str = r#"// My OpenCode setup — keep this comment.
{
  "$schema": "https://opencode.ai/config.json",
  /* default model,
     block comment spanning lines */
  "model": "anthropic/claude-sonnet-4-5",
  "provider": {
    // a local Ollama
    "ollama": {
      "npm": "@ai-sdk/openai-compatible",
      "options": { "baseURL": "http://localhost:11434/v1", },
      "models": { "llama3": {}, },
    },
    "cursor-bridge": { "npm": "stale", "options": { "apiKey": "cb-old" } }, // ours, stale
  },
  "autoupdate": true, // trailing comment
}
"#;

    fn block() -> Value {
        json!({
            "npm": "@ai-sdk/openai-compatible",
            "name": "Cursor (via Cursor Bridge)",
            "options": {"baseURL": "http://127.0.0.1:18741/v1", "apiKey": "cb-new"},
            "models": {"auto": {"name": "Auto", "limit": {"context": 200_000, "output": 64_000}, "tool_call": true}}
        })
    }

    fn value(text: &str) -> Value {
        jsonc_parser::parse_to_serde_value(text, &parse_options()).expect("valid JSONC")
    }

    #[test]
    fn merge_keeps_comments_and_other_providers_and_replaces_ours() {
        let out = merge_provider(USER_CONFIG, &block()).expect("merges");
        for kept in [
            "// My OpenCode setup — keep this comment.\n",
            "  /* default model,\n     block comment spanning lines */\n",
            "    // a local Ollama\n",
            "      \"options\": { \"baseURL\": \"http://localhost:11434/v1\", },\n",
            "  \"autoupdate\": true, // trailing comment\n}\n",
        ] {
            assert!(out.contains(kept), "lost {kept:?}:\n{out}");
        }
        assert!(
            !out.contains("\"stale\"") && !out.contains("cb-old"),
            "{out}"
        );
        assert!(
            out.contains("}, // ours, stale\n"),
            "a comment beside our entry stays: {out}"
        );

        let (before, after) = (value(USER_CONFIG), value(&out));
        assert_eq!(after["provider"]["cursor-bridge"], block());
        assert_eq!(after["provider"]["ollama"], before["provider"]["ollama"]);
        let without_ours = |mut v: Value| {
            v["provider"]
                .as_object_mut()
                .expect("provider")
                .remove(PROVIDER_ID);
            v
        };
        assert_eq!(without_ours(after), without_ours(before));
    }

    #[test]
    fn provider_is_created_where_missing() {
        let text = "{\n  // just a model\n  \"model\": \"x/y\"\n}\n";
        let out = merge_provider(text, &block()).expect("merges");
        assert!(out.starts_with("{\n  // just a model\n  \"model\": \"x/y\",\n"));
        let v = value(&out);
        assert_eq!(v["model"], "x/y");
        assert_eq!(v["provider"], json!({PROVIDER_ID: block()}));
        assert!(v.get("$schema").is_none(), "only provider is touched");

        assert_eq!(
            value(&merge_provider("{}", &block()).expect("merges")),
            json!({"provider": {PROVIDER_ID: block()}})
        );
        assert_eq!(
            value(&merge_provider("{\"provider\": {}}", &block()).expect("merges")),
            json!({"provider": {PROVIDER_ID: block()}})
        );
    }

    #[test]
    fn empty_or_comment_only_text_becomes_a_new_config() {
        for text in ["", "  \n", "// nothing yet\n"] {
            let out = merge_provider(text, &block()).expect("merges");
            assert_eq!(value(&out), value(&new_config_text(&block())), "{text:?}");
            assert!(out.contains(text.trim()), "{out}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_merge_safely() {
        // Not JSONC as OpenCode reads it: truncated, unquoted key, missing comma, two values.
        for text in [
            "{ \"model\": ",
            "{ model: \"x\" }",
            "{ \"a\": 1 \"b\": 2 }",
            "{} {}",
        ] {
            let err = merge_provider(text, &block()).expect_err(text);
            assert!(matches!(err, MergeError::Parse(_)), "{text:?}: {err:?}");
        }
        let cases = [
            ("[1, 2]", MergeError::RootNotObject("an array")),
            (
                "{ \"provider\": \"cursor\" }",
                MergeError::ProviderNotObject("a string"),
            ),
            (
                "{ \"provider\": {}, \"provider\": {} }",
                MergeError::Duplicate("provider".into()),
            ),
            (
                "{ \"provider\": { \"cursor-bridge\": {}, \"cursor-bridge\": {} } }",
                MergeError::Duplicate("provider.cursor-bridge".into()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(merge_provider(text, &block()), Err(expected), "{text:?}");
        }
        assert!(
            merge_provider("{ \"provider\": null }", &block())
                .expect_err("null")
                .to_string()
                .contains("`provider` is null, not an object")
        );
    }

    #[test]
    fn merging_twice_gives_the_same_text() {
        for text in [USER_CONFIG, "{}", "", "{\n  \"model\": \"x\",\n}\n"] {
            let once = merge_provider(text, &block()).expect("merges");
            let twice = merge_provider(&once, &block()).expect("merges again");
            assert_eq!(once, twice, "{text:?}");
        }
        let fresh = new_config_text(&block());
        assert_eq!(merge_provider(&fresh, &block()).expect("merges"), fresh);
    }

    #[test]
    fn strings_are_escaped() {
        let b = json!({"name": "a \"quoted\" \\ name\n"});
        let out = merge_provider("{}", &b).expect("merges");
        assert_eq!(value(&out)["provider"][PROVIDER_ID], b);
    }

    #[test]
    fn global_config_dir_follows_xdg_then_home() {
        let env = Env::from_pairs([(ENV_XDG_CONFIG_HOME, "/x/cfg"), (ENV_USER_HOME, "/h")]);
        assert_eq!(
            global_config_dir(&env),
            Some(PathBuf::from("/x/cfg/opencode"))
        );
        let env = Env::from_pairs([(ENV_USER_HOME, "/h")]);
        assert_eq!(
            global_config_dir(&env),
            Some(Path::new("/h").join(".config").join("opencode"))
        );
        let env = Env::from_pairs([(ENV_XDG_CONFIG_HOME, "")]);
        assert!(matches!(default_config_path(&env), Err(WriteError::NoHome)));
    }

    #[test]
    fn default_path_prefers_an_existing_jsonc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = Env::from_pairs([(ENV_XDG_CONFIG_HOME, dir.path().to_str().expect("utf-8"))]);
        let oc = dir.path().join("opencode");
        let path = default_config_path(&env).expect("path");
        assert_eq!(path, oc.join("opencode.json"));
        fs::create_dir_all(&oc).expect("mkdir");
        fs::write(oc.join("opencode.jsonc"), "{}").expect("write");
        assert_eq!(
            default_config_path(&env).expect("path"),
            oc.join("opencode.jsonc")
        );
    }

    #[test]
    fn backup_stamps_are_utc_and_sortable() {
        let at = |s: u64| UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(backup_stamp(at(0)), "19700101-000000");
        assert_eq!(backup_stamp(at(1_768_399_334)), "20260114-140214");
        assert_eq!(backup_stamp(at(951_782_400 + 59)), "20000229-000059");
    }

    const NOW_SECS: u64 = 1_768_399_334;
    fn now() -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(NOW_SECS)
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn existing_file_is_backed_up_then_merged_keeping_its_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("opencode.jsonc");
        fs::write(&path, USER_CONFIG).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        }

        let out = write_provider(&path, &block(), now()).expect("writes");
        let backup = dir.path().join("opencode.jsonc.bak-20260114-140214");
        assert_eq!(
            out,
            WriteOutcome {
                path: path.clone(),
                backup: Some(backup.clone()),
                created: false
            }
        );
        assert_eq!(fs::read(&backup).expect("backup"), USER_CONFIG.as_bytes());
        let written = fs::read_to_string(&path).expect("read");
        assert_eq!(
            written,
            merge_provider(USER_CONFIG, &block()).expect("merge")
        );
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o640, "the file keeps its permissions");
            assert_eq!(mode(&backup), 0o600, "the backup holds the old key");
        }

        // Same block again: already up to date, nothing written, no second backup.
        let again = write_provider(&path, &block(), now()).expect("writes");
        assert_eq!((again.backup, again.created), (None, false));
        assert_eq!(fs::read_to_string(&path).expect("read"), written);

        // A changed block in the same second: a new backup, the first one untouched.
        let mut changed = block();
        changed["options"]["apiKey"] = json!("cb-newer");
        let third = write_provider(&path, &changed, now()).expect("writes");
        let second_backup = dir.path().join("opencode.jsonc.bak-20260114-140214-2");
        assert_eq!(third.backup, Some(second_backup.clone()));
        assert_eq!(fs::read(&backup).expect("backup"), USER_CONFIG.as_bytes());
        assert_eq!(
            fs::read_to_string(&second_backup).expect("backup 2"),
            written
        );
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "opencode.jsonc",
                "opencode.jsonc.bak-20260114-140214",
                "opencode.jsonc.bak-20260114-140214-2"
            ],
            "no temp files left behind"
        );
    }

    #[test]
    fn refused_file_is_untouched_and_gets_no_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, text) in ["{ \"provider\": \"oops\" } // mine", "{ \"model\": ", "[]"]
            .iter()
            .enumerate()
        {
            let path = dir.path().join(format!("opencode-{i}.json"));
            fs::write(&path, text).expect("write");
            let err = write_provider(&path, &block(), now()).expect_err(text);
            assert!(err.is_refusal(), "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&path.display().to_string()) && msg.contains("not modified"),
                "{msg}"
            );
            assert_eq!(fs::read(&path).expect("read"), text.as_bytes());
        }
        let bad_utf8 = dir.path().join("latin1.json");
        fs::write(&bad_utf8, b"{\"model\": \"caf\xe9\"}").expect("write");
        assert!(
            write_provider(&bad_utf8, &block(), now())
                .expect_err("not UTF-8")
                .is_refusal()
        );
        assert_eq!(fs::read_dir(dir.path()).expect("read dir").count(), 4);
    }

    #[test]
    fn missing_file_is_created_private_with_its_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir
            .path()
            .join("config")
            .join("opencode")
            .join("opencode.json");
        let out = write_provider(&path, &block(), now()).expect("creates");
        assert_eq!(
            out,
            WriteOutcome {
                path: path.clone(),
                backup: None,
                created: true
            }
        );
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(text, new_config_text(&block()));
        assert_eq!(value(&text)["$schema"], SCHEMA);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            serde_json::to_value(&out).expect("serialises"),
            json!({"path": path.to_str().expect("utf-8"), "backup": null, "created": true}),
            "IPC OpencodeInstall"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_config_is_edited_through_the_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("dotfiles-opencode.json");
        let link = dir.path().join("opencode.json");
        fs::write(&real, "{}\n").expect("write");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");

        let out = write_provider(&link, &block(), now()).expect("writes");
        let real = fs::canonicalize(&real).expect("canonical");
        assert_eq!(out.path, real);
        assert!(
            fs::symlink_metadata(&link)
                .expect("link")
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            value(&fs::read_to_string(&link).expect("read"))["provider"][PROVIDER_ID],
            block()
        );
        let backup = out.backup.expect("backup");
        assert_eq!(backup.parent(), real.parent());
        assert_eq!(fs::read(&backup).expect("backup"), b"{}\n");
    }
}
