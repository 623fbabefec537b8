//! SQL text built at run time with bound parameters, run as a diesel query on either backend.
//!
//! For statements whose shape depends on the request (SCIM filters, sort keys, paging) and for
//! the few that diesel's query builder cannot say on both backends. Only static strings become
//! SQL text; every value is a bound parameter, whose placeholder (`?` on SQLite, `$n` on
//! PostgreSQL) diesel renders — so one text serves both backends.

use chrono::NaiveDateTime;
use diesel::deserialize::QueryableByName;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{self, HasSqlType};
use diesel::sqlite::Sqlite;
use diesel::RunQueryDsl;

use super::{db_run, Backend, DbConn};

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    /// Text or SQL `NULL`.
    OptText(Option<String>),
    Bool(bool),
    Time(NaiveDateTime),
    Int(i64),
}

/// SQL text and bound parameters, built piece by piece. diesel renders the placeholders
/// (`?` / `$n`) and — unlike `sql_query` — may keep the prepared statement: repeated lookups of
/// one shape (Okta's `userName eq "…"` on every push) are parsed and planned once per
/// connection. Only statements with few parameters are cached, so the number of cached shapes
/// stays small whatever filters a client invents.
#[derive(Debug, Clone)]
pub struct Sql {
    backend: Backend,
    parts: Vec<Part>,
    /// Cached whatever the number of parameters ([`Sql::fixed_shape`]).
    fixed: bool,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Bind(Bind),
}

/// Statements with more parameters than this are planned afresh each time.
const CACHED_MAX_BINDS: usize = 6;

impl Sql {
    pub fn new(backend: Backend) -> Sql {
        Sql {
            backend,
            parts: Vec::with_capacity(16),
            fixed: false,
        }
    }

    /// Marks a statement whose text never depends on the request (only its parameters do), so
    /// its prepared statement is kept however many parameters it has: one round trip per
    /// execution instead of a prepare and an execute (a create on PostgreSQL).
    pub fn fixed_shape(&mut self) -> &mut Self {
        self.fixed = true;
        self
    }

    /// The backend the text is for (where the SQL itself must differ, e.g. SQLite's GLOB).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        match self.parts.last_mut() {
            Some(Part::Text(t)) => t.push_str(s),
            _ => self.parts.push(Part::Text(s.to_string())),
        }
        self
    }

    pub fn bind(&mut self, b: Bind) -> &mut Self {
        self.parts.push(Part::Bind(b));
        self
    }

    /// The bound parameters, in order.
    pub fn binds(&self) -> Vec<&Bind> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Bind(b) => Some(b),
                Part::Text(_) => None,
            })
            .collect()
    }

    /// The SQL as the backend will see it (for tests and logs).
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut n = 0;
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Bind(_) => {
                    n += 1;
                    match self.backend {
                        Backend::Sqlite => out.push('?'),
                        Backend::Postgres => out.push_str(&format!("${n}")),
                    }
                }
            }
        }
        out
    }

    /// Runs the query and maps its rows by column name.
    pub fn load<T>(self, conn: &mut DbConn) -> diesel::QueryResult<Vec<T>>
    where
        T: QueryableByName<Sqlite> + QueryableByName<Pg> + 'static,
    {
        let cacheable = self.fixed || self.binds().len() <= CACHED_MAX_BINDS;
        let q = Prepared {
            parts: self.parts,
            cacheable,
        };
        db_run!(conn, |c| q.load::<T>(c))
    }
}

/// [`Sql`] as a diesel query.
struct Prepared {
    parts: Vec<Part>,
    cacheable: bool,
}

impl QueryId for Prepared {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared {
    type SqlType = sql_types::Untyped;
}

impl<C> RunQueryDsl<C> for Prepared {}

impl<DB> QueryFragment<DB> for Prepared
where
    DB: diesel::backend::Backend
        + HasSqlType<sql_types::Text>
        + HasSqlType<sql_types::Bool>
        + HasSqlType<sql_types::Timestamp>
        + HasSqlType<sql_types::BigInt>,
    String: ToSql<sql_types::Text, DB>,
    Option<String>: ToSql<sql_types::Nullable<sql_types::Text>, DB>,
    bool: ToSql<sql_types::Bool, DB>,
    NaiveDateTime: ToSql<sql_types::Timestamp, DB>,
    i64: ToSql<sql_types::BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        if !self.cacheable {
            out.unsafe_to_cache_prepared();
        }
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_sql(t),
                Part::Bind(Bind::Text(v)) => out.push_bind_param::<sql_types::Text, _>(v)?,
                Part::Bind(Bind::OptText(v)) => {
                    out.push_bind_param::<sql_types::Nullable<sql_types::Text>, _>(v)?
                }
                Part::Bind(Bind::Bool(v)) => out.push_bind_param::<sql_types::Bool, _>(v)?,
                Part::Bind(Bind::Time(v)) => out.push_bind_param::<sql_types::Timestamp, _>(v)?,
                Part::Bind(Bind::Int(v)) => out.push_bind_param::<sql_types::BigInt, _>(v)?,
            }
        }
        Ok(())
    }
}

/// `COUNT(*) AS n` rows.
#[derive(QueryableByName)]
pub struct CountRow {
    #[diesel(sql_type = sql_types::BigInt)]
    pub n: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_backend() {
        for (backend, text) in [
            (Backend::Sqlite, "a = ? AND b = ?"),
            (Backend::Postgres, "a = $1 AND b = $2"),
        ] {
            let mut sql = Sql::new(backend);
            sql.push("a = ")
                .bind(Bind::Int(1))
                .push(" AND b = ")
                .bind(Bind::Bool(true));
            assert_eq!(sql.text(), text);
            assert_eq!(sql.binds(), vec![&Bind::Int(1), &Bind::Bool(true)]);
        }
    }
}
