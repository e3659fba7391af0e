//! Safe edits of a client's own config file, one way for every client and format: parse
//! (JSONC through jsonc-parser's CST, TOML through toml_edit — both keep comments, order
//! and formatting), apply a few [`Edit`]s (set or remove the value at a key path), check
//! that the result reads back as exactly the original data plus those edits, back up the
//! original beside it (`<file>.bak-<UTC stamp>`, 0600, never overwritten), and write
//! atomically (temp + rename, the file's mode kept, a new file 0600). A file we cannot
//! parse, or whose shape we would have to change (a key we descend through is not an
//! object, a key appears twice), is refused and left byte-for-byte alone, with no backup.
//! Other tools' config writers wiped comments and other providers (product notes,
//! complaint 5): nothing outside the edited keys may change.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::settings::{write_atomic, write_atomic_keeping};
use crate::dates::civil_from_days;

/// How a client's config file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// JSON with comments and trailing commas (OpenCode).
    Jsonc,
    /// Strict JSON (Claude Code: a comment makes it ignore the whole file as
    /// "Invalid or malformed JSON", so such a file is refused, never rewritten).
    Json,
    /// TOML (Codex).
    Toml,
}

/// One change: the value at `key` (object keys / table names from the top) becomes
/// `value`, or is removed when `None`. Missing objects on the way are created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Edit {
    /// The key path, outermost first.
    pub(crate) key: Vec<String>,
    /// The new value; `None` removes the key.
    pub(crate) value: Option<Value>,
}

impl Edit {
    /// Sets `key` (dot-free segments) to `value`.
    pub(crate) fn set(key: &[&str], value: Value) -> Edit {
        Edit {
            key: key.iter().map(|s| (*s).to_string()).collect(),
            value: Some(value),
        }
    }

    /// Removes `key`.
    pub(crate) fn remove(key: &[String]) -> Edit {
        Edit {
            key: key.to_vec(),
            value: None,
        }
    }
}

/// Why a config text cannot take the edits. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MergeError {
    /// The text is not valid in its format (or not UTF-8 at all); the reason.
    #[error("it is not valid {format}: {reason}")]
    Parse {
        /// `JSONC` or `TOML`.
        format: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// The top-level value is not an object; what it is instead (`an array`, …).
    #[error("its top level is {0}, not an object")]
    RootNotObject(&'static str),
    /// A key we descend through exists but is not an object; its path and what it is.
    #[error("`{0}` is {1}, not an object")]
    NotObject(String, &'static str),
    /// A key we would edit appears twice; its path.
    #[error(
        "`{0}` appears more than once (the client would use the last, we would edit the first)"
    )]
    Duplicate(String),
    /// Our own output did not read back as the original plus the edits: a bug, never
    /// written out.
    #[error("the merged text did not check out ({0}); this is a bug in Cursor Bridge")]
    Check(String),
}

/// Why a file was not written.
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
    /// The file is a symlink leading out of its own directory and following it was not
    /// asked for: a link planted there could make us write the key anywhere the user can.
    #[error(
        "{} is a symlink to {}, outside {}; not following it (pass --follow-symlink to edit the target)",
        link.display(),
        target.display(),
        dir.display()
    )]
    SymlinkOut {
        /// The path given.
        link: PathBuf,
        /// Where it leads, resolved.
        target: PathBuf,
        /// The directory the link is in.
        dir: PathBuf,
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
}

impl WriteError {
    /// The file exists but is not something we will edit (the user must fix or move it).
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(
            self,
            WriteError::Refused { .. } | WriteError::SymlinkOut { .. }
        )
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WriteError {
        let path = path.to_path_buf();
        move |source| WriteError::Io {
            action,
            path,
            source,
        }
    }
}

/// A file as it is now: its real path (a symlink followed: replacing the link with a
/// plain file would cut a dotfiles checkout off) and its text, `None` when missing.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    /// The file, symlinks followed.
    pub(crate) path: PathBuf,
    /// Its contents; `None` when it does not exist.
    pub(crate) text: Option<String>,
}

/// Refuses a `path` that is a symlink whose target is outside the link's own directory,
/// unless `follow`; a link within it, or not a link, passes.
pub(crate) fn check_symlink(path: &Path, follow: bool) -> Result<(), WriteError> {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if follow || !is_link {
        return Ok(());
    }
    let parent = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = fs::canonicalize(parent.unwrap_or(Path::new(".")))
        .map_err(WriteError::io("resolve the directory of", path))?;
    // A dangling link resolves to where it points, as the write would create it there.
    let target = fs::canonicalize(path).or_else(|_| fs::read_link(path).map(|t| dir.join(t)));
    let target = target.map_err(WriteError::io("follow the symlink", path))?;
    if target.parent() == Some(dir.as_path()) {
        return Ok(());
    }
    Err(WriteError::SymlinkOut {
        link: path.to_path_buf(),
        target,
        dir,
    })
}

/// Reads `path` (following a symlink). Not UTF-8 is a refusal, not an I/O error.
pub(crate) fn read(path: &Path) -> Result<Current, WriteError> {
    let path = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(WriteError::io("follow the symlink", path))?
        }
        _ => path.to_path_buf(),
    };
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Current { path, text: None }),
        Err(e) => return Err(WriteError::io("read", &path)(e)),
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Current {
            path,
            text: Some(text),
        }),
        Err(e) => Err(WriteError::Refused {
            path,
            problem: MergeError::Parse {
                format: "text",
                reason: format!("it is not UTF-8 ({})", e.utf8_error()),
            },
        }),
    }
}

/// The data in `text` (an empty or comment-only JSONC text is `null`).
pub(crate) fn data(format: Format, text: &str) -> Result<Value, MergeError> {
    match format {
        Format::Jsonc | Format::Json => {
            jsonc_parser::parse_to_serde_value(text, &options_for(format))
                .map_err(|e| parse_error(format, e.to_string()))
        }
        Format::Toml => text
            .parse::<toml_edit::DocumentMut>()
            .map(|d| toml_data(d.as_item()))
            .map_err(|e| parse_error(format, e.to_string())),
    }
}

/// The value at `key` in `data`.
pub(crate) fn get<'a>(data: &'a Value, key: &[String]) -> Option<&'a Value> {
    key.iter().try_fold(data, |v, k| v.get(k))
}

/// `text` (`None`: a missing file) with `edits` applied and every other byte as it was.
/// `fresh` are applied first when the text holds no value yet (missing, empty or only
/// comments): the client's `$schema`, say. A missing JSONC file is written as pretty JSON.
pub(crate) fn apply(
    format: Format,
    text: Option<&str>,
    fresh: &[Edit],
    edits: &[Edit],
) -> Result<String, MergeError> {
    let before = data(format, text.unwrap_or(""))?;
    let empty = match &before {
        Value::Null => true,
        Value::Object(o) => o.is_empty() && text.is_none_or(|t| t.trim().is_empty()),
        _ => false,
    };
    let all: Vec<&Edit> = if empty { fresh.iter() } else { [].iter() }
        .chain(edits)
        .collect();
    let mut expected = if before.is_null() {
        Value::Object(Map::new())
    } else {
        before.clone()
    };
    for e in &all {
        set_data(&mut expected, &e.key, e.value.clone());
    }
    let out = match (format, text) {
        (Format::Jsonc | Format::Json, None) => {
            // Serialising a `Value` cannot fail; the fallback is never taken.
            let mut t = serde_json::to_string_pretty(&expected).unwrap_or_default();
            t.push('\n');
            t
        }
        (Format::Jsonc | Format::Json, Some(text)) => jsonc_apply(format, text, &before, &all)?,
        (Format::Toml, text) => toml_apply(text.unwrap_or(""), &all)?,
    };
    // Belt and braces over the CST editors: the result must read back as exactly the
    // original data plus the edits.
    let mut after =
        data(format, &out).map_err(|e| MergeError::Check(format!("it does not parse: {e}")))?;
    if format == Format::Toml {
        // An emptied table that only held subtables is implicit and not written at all:
        // in TOML an empty table and none are the same data.
        prune_empty(&mut after);
        prune_empty(&mut expected);
    }
    if after != expected {
        return Err(MergeError::Check("other values changed".into()));
    }
    Ok(out)
}

fn prune_empty(v: &mut Value) {
    if let Value::Object(o) = v {
        o.values_mut().for_each(prune_empty);
        o.retain(|_, v| !v.as_object().is_some_and(Map::is_empty));
    }
}

fn parse_error(format: Format, reason: String) -> MergeError {
    MergeError::Parse {
        format: match format {
            Format::Jsonc => "JSONC",
            Format::Json => "JSON",
            Format::Toml => "TOML",
        },
        reason,
    }
}

/// Sets (or removes) `key` in plain data, creating objects on the way.
pub(crate) fn set_data(data: &mut Value, key: &[String], value: Option<Value>) {
    let Some((last, path)) = key.split_last() else {
        return;
    };
    let mut cur = data;
    for k in path {
        if value.is_none() {
            // Removing under a missing object changes nothing; create nothing.
            match cur.get_mut(k) {
                Some(next) => {
                    cur = next;
                    continue;
                }
                None => return,
            }
        }
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(o) = cur else { return };
        cur = o
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Value::Object(o) = cur {
        match value {
            Some(v) => {
                o.insert(last.clone(), v);
            }
            None => {
                o.remove(last);
            }
        }
    }
}

/// JSONC as the clients read it (npm `jsonc-parser` with `allowTrailingComma`, Claude
/// Code's JSON): comments and trailing commas, nothing looser. A file the client would
/// reject is not one to rewrite.
pub(crate) fn parse_options() -> ParseOptions {
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

/// [`parse_options`], without comments and trailing commas for strict JSON.
fn options_for(format: Format) -> ParseOptions {
    let loose = format == Format::Jsonc;
    ParseOptions {
        allow_comments: loose,
        allow_trailing_commas: loose,
        ..parse_options()
    }
}

fn jsonc_apply(
    format: Format,
    text: &str,
    before: &Value,
    edits: &[&Edit],
) -> Result<String, MergeError> {
    let root = CstRootNode::parse(text, &options_for(format))
        .map_err(|e| parse_error(format, e.to_string()))?;
    let top = match root.value() {
        None => root.object_value_or_set(),
        Some(v) => v
            .as_object()
            .ok_or_else(|| MergeError::RootNotObject(kind(before)))?,
    };
    for e in edits {
        let now = data(format, &root.to_string())?;
        jsonc_set(&top, &now, &e.key, 0, e.value.as_ref())?;
    }
    Ok(root.to_string())
}

fn jsonc_set(
    obj: &CstObject,
    data: &Value,
    key: &[String],
    depth: usize,
    value: Option<&Value>,
) -> Result<(), MergeError> {
    let name = &key[depth];
    let shown = key[..=depth].join(".");
    let n = obj
        .properties()
        .iter()
        .filter(|p| p.decoded_name().as_deref() == Some(name.as_str()))
        .count();
    if n > 1 {
        return Err(MergeError::Duplicate(shown));
    }
    let here = data.get(name).unwrap_or(&Value::Null);
    if depth + 1 == key.len() {
        match (obj.get(name), value) {
            (Some(p), Some(v)) => p.set_value(to_input(v)),
            (None, Some(v)) => {
                obj.append(name, to_input(v));
            }
            (Some(p), None) => p.remove(),
            (None, None) => {}
        }
        return Ok(());
    }
    let inner = match obj.get(name) {
        Some(p) => p
            .object_value()
            .ok_or_else(|| MergeError::NotObject(shown, kind(here)))?,
        None if value.is_none() => return Ok(()),
        None => obj
            .append(name, CstInputValue::Object(Vec::new()))
            .object_value()
            .ok_or_else(|| MergeError::Check(format!("`{shown}` was not created")))?,
    };
    jsonc_set(&inner, here, key, depth + 1, value)
}

fn toml_apply(text: &str, edits: &[&Edit]) -> Result<String, MergeError> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| parse_error(Format::Toml, e.to_string()))?;
    for e in edits {
        toml_set(doc.as_table_mut(), &e.key, 0, e.value.as_ref())?;
    }
    Ok(doc.to_string())
}

fn toml_set(
    table: &mut dyn toml_edit::TableLike,
    key: &[String],
    depth: usize,
    value: Option<&Value>,
) -> Result<(), MergeError> {
    let name = key[depth].as_str();
    let shown = key[..=depth].join(".");
    if depth + 1 == key.len() {
        match value {
            Some(v) => {
                let mut new = toml_item(v, &shown)?;
                if let Some(old) = table.get_mut(name) {
                    // A replaced value keeps its comments and spacing.
                    if let (Some(o), Some(n)) = (old.as_value(), new.as_value_mut()) {
                        *n.decor_mut() = o.decor().clone();
                    }
                    *old = new;
                } else {
                    table.insert(name, new);
                }
            }
            None => {
                table.remove(name);
            }
        }
        return Ok(());
    }
    if table.get(name).is_none() {
        if value.is_none() {
            return Ok(());
        }
        let mut t = toml_edit::Table::new();
        // `[model_providers.cursor-bridge]` alone, without an empty `[model_providers]`;
        // the table holding the leaf stays explicit, so emptied it still reads back.
        t.set_implicit(depth + 2 < key.len());
        table.insert(name, toml_edit::Item::Table(t));
    }
    let item = table
        .get_mut(name)
        .ok_or_else(|| MergeError::Check(format!("`{shown}` was not created")))?;
    let what = kind(&toml_data(item));
    let inner = item
        .as_table_like_mut()
        .ok_or(MergeError::NotObject(shown, what))?;
    toml_set(inner, key, depth + 1, value)
}

/// A value as TOML: objects become tables (inline inside arrays), `null` has no TOML.
fn toml_item(v: &Value, shown: &str) -> Result<toml_edit::Item, MergeError> {
    Ok(match v {
        Value::Object(o) => {
            let mut t = toml_edit::Table::new();
            for (k, v) in o {
                t.insert(k, toml_item(v, shown)?);
            }
            toml_edit::Item::Table(t)
        }
        other => toml_edit::Item::Value(toml_value(other, shown)?),
    })
}

fn toml_value(v: &Value, shown: &str) -> Result<toml_edit::Value, MergeError> {
    Ok(match v {
        Value::Null => return Err(MergeError::Check(format!("`{shown}`: TOML has no null"))),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or_default().into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(a) => {
            let mut arr = toml_edit::Array::new();
            for v in a {
                arr.push(toml_value(v, shown)?);
            }
            toml_edit::Value::Array(arr)
        }
        Value::Object(o) => {
            let mut t = toml_edit::InlineTable::new();
            for (k, v) in o {
                t.insert(k, toml_value(v, shown)?);
            }
            toml_edit::Value::InlineTable(t)
        }
    })
}

/// TOML as plain data, to compare and to read values back (dates as their text).
fn toml_data(item: &toml_edit::Item) -> Value {
    use toml_edit::{Item, Value as V};
    fn value(v: &V) -> Value {
        match v {
            V::String(s) => Value::String(s.value().clone()),
            V::Integer(i) => Value::from(*i.value()),
            V::Float(f) => Value::from(*f.value()),
            V::Boolean(b) => Value::Bool(*b.value()),
            V::Datetime(d) => Value::String(d.value().to_string()),
            V::Array(a) => Value::Array(a.iter().map(value).collect()),
            V::InlineTable(t) => {
                Value::Object(t.iter().map(|(k, v)| (k.to_string(), value(v))).collect())
            }
        }
    }
    match item {
        Item::None => Value::Null,
        Item::Value(v) => value(v),
        Item::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), toml_data(v)))
                .collect(),
        ),
        Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .map(|t| toml_data(&toml_edit::Item::Table(t.clone())))
                .collect(),
        ),
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
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

/// Replaces the file at `current.path` with `text`: backed up first when it exists (the
/// backup's path is returned), its permissions kept — or 0600 when `private` (it holds a
/// key) or when it is created with its parent directories.
pub(crate) fn write(
    current: &Current,
    text: &str,
    private: bool,
    now: SystemTime,
) -> Result<Option<PathBuf>, WriteError> {
    let path = &current.path;
    let Some(original) = &current.text else {
        write_atomic(path, text.as_bytes(), true).map_err(WriteError::io("create", path))?;
        return Ok(None);
    };
    let mut permissions = fs::metadata(path)
        .map_err(WriteError::io("read the permissions of", path))?
        .permissions();
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt as _;
        permissions.set_mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let backup = write_backup(path, original.as_bytes(), now)?;
    write_atomic_keeping(path, text.as_bytes(), permissions)
        .map_err(WriteError::io("write", path))?;
    Ok(Some(backup))
}

/// Copies `bytes` to a backup name nobody has taken yet (`create_new`, so an existing
/// backup is never overwritten, even by a concurrent run): `<file>.bak-YYYYMMDD-HHMMSS`
/// from `now` in UTC, then `-2`, `-3`… Private on unix: the old file may hold a key too.
pub(crate) fn write_backup(
    path: &Path,
    bytes: &[u8],
    now: SystemTime,
) -> Result<PathBuf, WriteError> {
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
        match options.open(&backup) {
            Ok(mut f) => {
                let written = f.write_all(bytes).and_then(|()| f.sync_all());
                if let Err(e) = written {
                    drop(f);
                    let _ = fs::remove_file(&backup);
                    return Err(WriteError::io("write the backup", &backup)(e));
                }
                return Ok(backup);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(WriteError::io("write the backup", &backup)(e)),
        }
    }
    Err(WriteError::io("find a free backup name beside", path)(
        io::Error::from(io::ErrorKind::AlreadyExists),
    ))
}

/// `YYYYMMDD-HHMMSS` in UTC: sorts by time, and is safe in file names on every OS.
pub(crate) fn backup_stamp(now: SystemTime) -> String {
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

/// A unified diff from `old` (`None`: the file is new) to `new`, labelled with `path`,
/// with every `secret` replaced by a placeholder: the preview is shown and printed, the
/// key must not be.
pub(crate) fn diff(path: &Path, old: Option<&str>, new: &str, secrets: &[&str]) -> String {
    let shown = path.display().to_string();
    let old_label = if old.is_some() {
        shown.clone()
    } else {
        "/dev/null".to_string()
    };
    let text = similar::TextDiff::from_lines(old.unwrap_or(""), new)
        .unified_diff()
        .context_radius(3)
        .header(&old_label, &shown)
        .to_string();
    redact(&text, secrets)
}

/// `text` with every non-empty `secret` replaced by `<local API key>`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |t, s| t.replace(s, "<local API key>"))
}
