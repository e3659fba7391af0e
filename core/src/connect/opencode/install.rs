//! `opencode-config --write` (IPC `opencode_install`): our provider merged into the
//! user's OpenCode config, 1.x shape, through the same safe edit every client's connect
//! uses ([`crate::connect::edit`]: comments and everything else kept, a backup first,
//! atomic). Unlike `connect opencode` it records nothing for a disconnect: it is the
//! older command, kept working as it was.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::{PROVIDER_ID, SCHEMA};
#[cfg(test)]
use crate::connect::edit::MergeError;
use crate::connect::edit::{self, Edit, Format, WriteError};

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

fn edits(block: &Value) -> ([Edit; 1], [Edit; 1]) {
    (
        [Edit::set(&["$schema"], super::s(SCHEMA))],
        [Edit::set(&["provider", PROVIDER_ID], block.clone())],
    )
}

/// A new config holding only `$schema` and our provider.
#[cfg(test)]
pub(crate) fn new_config_text(block: &Value) -> String {
    let (fresh, ours) = edits(block);
    edit::apply(Format::Jsonc, None, &fresh, &ours).unwrap_or_default()
}

/// `text` with `provider.cursor-bridge` set to `block` (created, with `provider`, where
/// missing) and every other byte as it was. An empty or comment-only text becomes a new
/// config (with `$schema`), its comments kept.
#[cfg(test)]
pub(crate) fn merge_provider(text: &str, block: &Value) -> Result<String, MergeError> {
    let (fresh, ours) = edits(block);
    edit::apply(Format::Jsonc, Some(text), &fresh, &ours)
}

/// Puts `block` at `provider.cursor-bridge` in the OpenCode config at `path`:
/// - missing file → created with its parent directories, `$schema` + our provider, 0600;
/// - a file that takes the merge → copied to a new backup, then replaced atomically,
///   0600 (it holds the key); a file that already holds exactly this block is left alone
///   (no write, no backup);
/// - a file that does not → [`WriteError::Refused`], nothing written, no backup.
///
/// A symlink is followed: the file it points to is edited and backed up beside itself.
pub(crate) fn write_provider(
    path: &Path,
    block: &Value,
    now: SystemTime,
) -> Result<WriteOutcome, WriteError> {
    let current = edit::read(path)?;
    let (fresh, ours) = edits(block);
    let merged =
        edit::apply(Format::Jsonc, current.text.as_deref(), &fresh, &ours).map_err(|problem| {
            WriteError::Refused {
                path: current.path.clone(),
                problem,
            }
        })?;
    let created = current.text.is_none();
    if current.text.as_deref() == Some(merged.as_str()) {
        return Ok(WriteOutcome {
            path: current.path,
            backup: None,
            created,
        });
    }
    // The block holds the local key: the file becomes the owner's alone.
    let backup = edit::write(&current, &merged, true, now)?;
    Ok(WriteOutcome {
        path: current.path,
        backup,
        created,
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::UNIX_EPOCH;

    use serde_json::json;

    use super::*;
    use crate::config::settings::Env;
    use crate::connect::ConnectError;
    use crate::connect::ENV_USER_HOME;
    use crate::connect::edit::{backup_stamp, parse_options};
    use crate::connect::opencode::{ENV_XDG_CONFIG_HOME, default_config_path, global_config_dir};

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
            assert!(matches!(err, MergeError::Parse { .. }), "{text:?}: {err:?}");
        }
        let cases = [
            ("[1, 2]", MergeError::RootNotObject("an array")),
            (
                "{ \"provider\": \"cursor\" }",
                MergeError::NotObject("provider".into(), "a string"),
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
        assert!(matches!(
            default_config_path(&env),
            Err(ConnectError::NoHome { .. })
        ));
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
    fn existing_file_is_backed_up_then_merged_and_made_private() {
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
            assert_eq!(mode(&path), 0o600, "the file holds the key: owner only");
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
