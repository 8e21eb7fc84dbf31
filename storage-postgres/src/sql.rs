//! The schema and every SQL statement, built once per table name.
//!
//! One table, `<table>`, holds every namespace:
//!
//! ```sql
//! CREATE TABLE <table> (
//!     ns         text COLLATE "C" NOT NULL,  -- the namespace
//!     key        text COLLATE "C" NOT NULL,  -- the key (NUL escaped, see keys.rs)
//!     version    bigint NOT NULL,            -- from the sequence <table>_version
//!     value      json NOT NULL,              -- the compact JSON text, kept verbatim
//!     expires_at bigint,                     -- ms since the Unix epoch; NULL: never
//!     PRIMARY KEY (ns, key)
//! );
//! ```
//!
//! plus a partial index on `expires_at` for the sweep. The time a statement compares
//! `expires_at` with is a parameter: the storage's clock when it has one, else the server's.

/// "Now" in milliseconds: parameter `$n` if not NULL, else the server's statement time.
fn now(n: usize) -> String {
    format!("coalesce(${n}::int8, (extract(epoch from statement_timestamp()) * 1000)::int8)")
}

/// The statements for one table.
#[derive(Debug)]
pub(crate) struct Sql {
    /// Creates the table, its index and its sequence if missing (one simple-query batch).
    pub(crate) create: String,
    /// `$1` ns, `$2` keys (text[]), `$3` now → live `key, version, value::text`.
    pub(crate) read: String,
    /// `$1` lock ids (int8[], sorted): takes those transaction-scoped advisory locks, in order.
    pub(crate) key_locks: String,
    /// `$1` ns, `$2` keys → `key, version, live` of existing rows, locked, in key order.
    pub(crate) lock: String,
    /// `$1` ns, `$2` keys: deletes them.
    pub(crate) delete: String,
    /// `$1` ns, `$2` keys, `$3` values, `$4` ttls (ms or NULL), `$5` now → `key, version`:
    /// inserts or replaces.
    pub(crate) upsert: String,
    /// Like `upsert`, but only inserts: rows that exist are left alone and not returned.
    pub(crate) insert_new: String,
    /// `$1` count → that many fresh versions.
    pub(crate) versions: String,
    /// `[inclusive lower][has upper]`: `$1` ns, `$2` lower, `$3` now, `$4` limit,
    /// `$5` upper → live keys in order.
    pub(crate) list: [[String; 2]; 2],
    /// `$1` now, `$2` batch size: deletes up to that many expired rows (any namespace).
    pub(crate) sweep: String,
}

impl Sql {
    /// The statements for `table`, a name [`crate::PostgresOptions::table`] validated.
    pub(crate) fn new(name: &str) -> Self {
        // Quoted, so that names that are SQL keywords (`user`, `order`) work too; the name is
        // lowercase, so quoting does not change which table it is.
        let table = format!("\"{name}\"");
        let seq = format!("\"{name}_version\"");
        let index = format!("\"{name}_expires\"");
        let live = |n| format!("(expires_at IS NULL OR expires_at > {})", now(n));
        let insert = |conflict: &str| {
            format!(
                "INSERT INTO {table} (ns, key, version, value, expires_at) \
                 SELECT $1, u.k, nextval('{seq}'), u.v::json, {now} + u.ttl \
                 FROM unnest($2::text[], $3::text[], $4::int8[]) AS u(k, v, ttl) ORDER BY u.k \
                 ON CONFLICT (ns, key) {conflict} RETURNING key, version",
                now = now(5)
            )
        };
        let list = |lower: &str, upper: bool| {
            format!(
                "SELECT key FROM {table} WHERE ns = $1 AND key {lower} $2 {upper} AND {live} \
                 ORDER BY key LIMIT $4",
                upper = if upper { "AND key < $5" } else { "" },
                live = live(3)
            )
        };
        Self {
            create: format!(
                "SELECT pg_advisory_xact_lock(hashtext('botcore-schema:{name}'));
                 CREATE TABLE IF NOT EXISTS {table} (
                     ns text COLLATE \"C\" NOT NULL,
                     key text COLLATE \"C\" NOT NULL,
                     version bigint NOT NULL,
                     value json NOT NULL,
                     expires_at bigint,
                     PRIMARY KEY (ns, key)
                 );
                 CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at)
                     WHERE expires_at IS NOT NULL;
                 CREATE SEQUENCE IF NOT EXISTS {seq} AS bigint;"
            ),
            read: format!(
                "SELECT key, version, value::text FROM {table} \
                 WHERE ns = $1 AND key = ANY($2) AND {}",
                live(3)
            ),
            key_locks: "SELECT pg_advisory_xact_lock(h) FROM unnest($1::int8[]) AS h".to_owned(),
            lock: format!(
                "SELECT key, version, {} FROM {table} WHERE ns = $1 AND key = ANY($2) \
                 ORDER BY key FOR UPDATE",
                live(3)
            ),
            delete: format!("DELETE FROM {table} WHERE ns = $1 AND key = ANY($2)"),
            upsert: insert(&format!(
                "DO UPDATE SET version = nextval('{seq}'), value = EXCLUDED.value, \
                 expires_at = EXCLUDED.expires_at"
            )),
            insert_new: insert("DO NOTHING"),
            versions: format!("SELECT nextval('{seq}') FROM generate_series(1, $1::int8)"),
            list: [
                [list(">", false), list(">", true)],
                [list(">=", false), list(">=", true)],
            ],
            sweep: format!(
                "DELETE FROM {table} WHERE (ns, key) IN ( \
                     SELECT ns, key FROM {table} WHERE expires_at <= {now} LIMIT $2 \
                     FOR UPDATE SKIP LOCKED \
                 ) AND expires_at <= {now}",
                now = now(1)
            ),
        }
    }
}
