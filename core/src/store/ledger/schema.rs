//! The ledger's schema: the append-only migrations and what is checked when a file is
//! opened (integrity, schema version).

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::LedgerError;

/// Schema migrations, in order: entry *n* moves the file from version *n* to *n + 1*
/// (`PRAGMA user_version`). Append only; never edit a released entry.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the request table and the time index every report filters on.
    "CREATE TABLE requests (
        id                INTEGER PRIMARY KEY,
        started_at_ms     INTEGER NOT NULL,
        model             TEXT    NOT NULL,
        stream            INTEGER NOT NULL,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        tokens_exact      INTEGER NOT NULL,
        ttft_ms           INTEGER,
        total_ms          INTEGER NOT NULL,
        status            INTEGER NOT NULL,
        error_kind        TEXT,
        tool_calls        INTEGER NOT NULL,
        continued         INTEGER NOT NULL
    );
    CREATE INDEX requests_by_time ON requests (started_at_ms);",
    // 2: Cursor's exact turn usage (reference §9.4); NULL where it was not known.
    "ALTER TABLE requests ADD COLUMN cache_read_tokens INTEGER;
    ALTER TABLE requests ADD COLUMN cache_write_tokens INTEGER;
    ALTER TABLE requests ADD COLUMN reasoning_tokens INTEGER;",
    // 3: which way a fresh run's history travelled (`checkpoint`, `structured`,
    // `flattened`); NULL for a continued run and for rows written before.
    "ALTER TABLE requests ADD COLUMN history TEXT;",
    // 4: which API the request spoke (`chat`, `messages`, `responses`) and which client
    // sent it (the first product of its `User-Agent`), for the usage split by dialect and
    // by client. Every row written before was a Chat Completions request; its client is
    // unknown (NULL). `ADD COLUMN` with a constant default rewrites no row.
    "ALTER TABLE requests ADD COLUMN dialect TEXT NOT NULL DEFAULT 'chat';
    ALTER TABLE requests ADD COLUMN client TEXT;",
];

pub(super) fn quick_check(conn: &Connection, path: &Path) -> Result<(), LedgerError> {
    let sql = |e| LedgerError::sqlite(path, e);
    let mut stmt = conn.prepare("PRAGMA quick_check(5)").map_err(sql)?;
    let problems = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(LedgerError::Damaged {
        path: path.to_path_buf(),
        detail: problems.join("; "),
    })
}

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), LedgerError> {
    let sql = |e| LedgerError::sqlite(path, e);
    let known = MIGRATIONS.len() as i64;
    let version =
        |c: &Connection| c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0));
    if version(conn).map_err(sql)? == known {
        return Ok(());
    }
    // IMMEDIATE takes the write lock up front, so two processes opening a new file at
    // once migrate it one after the other; the second re-reads the version and skips.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let found = version(&tx).map_err(sql)?;
    if found > known {
        return Err(LedgerError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(step).map_err(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}
