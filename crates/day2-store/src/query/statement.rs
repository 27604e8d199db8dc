//! The first gate of `day2 query`: the statement is parsed (sqlparser, in the store's dialect) and accepted only if it
//! is one read-only `SELECT` (or `WITH … SELECT`, `VALUES`) over the relations of [`QUERYABLE`], calling only the
//! functions of an allow-list. Anything else — `COPY`, `VACUUM INTO`, `ATTACH`, `PRAGMA`, a second statement,
//! `SELECT … INTO`, `FOR UPDATE`, a system catalog, a schema-qualified name, `pg_read_file` — is refused here with
//! a reason, before the database sees it.
//!
//! What the database runs is the statement as this parser understood it, written out again from the parsed tree
//! ([`check`] returns it), never the text as given: a text the database would split into tokens differently (a
//! dollar-quoted string, a backslash escape) cannot smuggle a call past the gate. Dollar quotes and placeholders are
//! refused outright.
//!
//! This gate is not the only one: each backend runs what passes under its own database-side limits (SQLite's
//! authorizer on a read-only connection, PostgreSQL's unprivileged query login in a read-only transaction behind a
//! cursor), so a statement this parser gets wrong still cannot write, read a file or run a program.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Query, Select, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::{Dialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The relations a query may read: the stable views and the tables documented in docs/query.md. Leases, snapshots
/// and notifier cursors are day2's bookkeeping and stay out.
pub const QUERYABLE: [&str; 9] = [
    "finding_list",
    "resource_list",
    "runs",
    "findings",
    "resources",
    "finding_events",
    "coverage",
    "relations",
    "collections",
];

/// The SQL dialect of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Scalar and aggregate functions both dialects may call: text, numbers, times, JSON, aggregates and windows.
const COMMON_FUNCTIONS: &[&str] = &[
    "abs",
    "avg",
    "ceil",
    "ceiling",
    "coalesce",
    "count",
    "cume_dist",
    "dense_rank",
    "first_value",
    "floor",
    "lag",
    "last_value",
    "lead",
    "length",
    "lower",
    "ltrim",
    "max",
    "min",
    "mod",
    "nth_value",
    "ntile",
    "nullif",
    "percent_rank",
    "rank",
    "replace",
    "round",
    "row_number",
    "rtrim",
    "sign",
    "sqrt",
    "substr",
    "substring",
    "sum",
    "trim",
    "upper",
    "exp",
    "ln",
    "log",
    "power",
    "pow",
];

/// SQLite-only functions, including those SQLite calls for operators (`LIKE`, `GLOB`, `->`, `->>`).
const SQLITE_FUNCTIONS: &[&str] = &[
    "char",
    "date",
    "datetime",
    "glob",
    "group_concat",
    "hex",
    "iif",
    "ifnull",
    "instr",
    "json",
    "json_array",
    "json_array_length",
    "json_extract",
    "json_group_array",
    "json_group_object",
    "json_object",
    "json_quote",
    "json_type",
    "json_valid",
    "julianday",
    "like",
    "printf",
    "format",
    "quote",
    "strftime",
    "string_agg",
    "time",
    "timediff",
    "total",
    "typeof",
    "unicode",
    "unixepoch",
    "->",
    "->>",
];

/// PostgreSQL-only functions.
const POSTGRES_FUNCTIONS: &[&str] = &[
    "age",
    "array_agg",
    "array_length",
    "array_to_string",
    "bool_and",
    "bool_or",
    "btrim",
    "concat",
    "concat_ws",
    "date_part",
    "date_trunc",
    "extract",
    "greatest",
    "initcap",
    "json_agg",
    "json_array_length",
    "json_build_array",
    "json_build_object",
    "json_extract_path",
    "json_extract_path_text",
    "json_object_agg",
    "json_typeof",
    "jsonb_agg",
    "jsonb_array_length",
    "jsonb_build_object",
    "jsonb_extract_path",
    "jsonb_extract_path_text",
    "jsonb_typeof",
    "least",
    "left",
    "make_interval",
    "now",
    "percentile_cont",
    "percentile_disc",
    "position",
    "regexp_replace",
    "right",
    "split_part",
    "string_agg",
    "strpos",
    "to_char",
    "to_json",
    "to_jsonb",
    "to_timestamp",
    "trunc",
];

/// Functions that return rows, allowed in `FROM`.
const SQLITE_TABLE_FUNCTIONS: &[&str] = &["json_each", "json_tree"];
const POSTGRES_TABLE_FUNCTIONS: &[&str] = &[
    "generate_series",
    "json_array_elements",
    "json_array_elements_text",
    "json_each",
    "json_each_text",
    "json_object_keys",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "jsonb_each",
    "jsonb_each_text",
    "jsonb_object_keys",
    "unnest",
];

impl SqlDialect {
    fn parser_dialect(self) -> Box<dyn Dialect> {
        match self {
            SqlDialect::Sqlite => Box::new(SQLiteDialect {}),
            SqlDialect::Postgres => Box::new(PostgreSqlDialect {}),
        }
    }

    /// Whether `name` (lower case) is a scalar or aggregate function queries may call.
    pub fn allows_function(self, name: &str) -> bool {
        let own = match self {
            SqlDialect::Sqlite => SQLITE_FUNCTIONS,
            SqlDialect::Postgres => POSTGRES_FUNCTIONS,
        };
        COMMON_FUNCTIONS.contains(&name) || own.contains(&name)
    }

    /// Whether `name` (lower case) is a set-returning function queries may read from.
    pub fn allows_table_function(self, name: &str) -> bool {
        match self {
            SqlDialect::Sqlite => SQLITE_TABLE_FUNCTIONS.contains(&name),
            SqlDialect::Postgres => POSTGRES_TABLE_FUNCTIONS.contains(&name),
        }
    }
}

/// Why a statement was refused, in words for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(String);

impl Refusal {
    /// A refusal for a reason found outside the statement (the store's own privileges).
    pub(crate) fn new(reason: String) -> Self {
        Refusal(reason)
    }
}

/// Checks `sql`: the statement to run (written out from the parsed tree), or why it is refused.
pub fn check(sql: &str, dialect: SqlDialect) -> Result<String, Refusal> {
    gate(sql, dialect).map_err(Refusal)
}

fn gate(sql: &str, dialect: SqlDialect) -> Result<String, String> {
    let parser_dialect = dialect.parser_dialect();
    let tokens = Tokenizer::new(&*parser_dialect, sql).tokenize().map_err(|e| format!("cannot parse: {e}"))?;
    for token in &tokens {
        match token {
            Token::DollarQuotedString(_) => return Err("dollar-quoted strings are not allowed; use '…'".to_owned()),
            Token::Placeholder(p) => return Err(format!("`{p}`: parameters are not allowed")),
            _ => {}
        }
    }
    let statements = Parser::parse_sql(&*parser_dialect, sql).map_err(|e| {
        // The parser knows fewer statements than the database (`VACUUM INTO`): name what was refused.
        match sql.split_whitespace().next().map(str::to_uppercase) {
            Some(word) if !["SELECT", "WITH", "VALUES"].contains(&word.as_str()) && !word.starts_with('(') => {
                format!("only a SELECT is allowed, not {word}")
            }
            _ => format!("cannot parse: {e}"),
        }
    })?;
    let statement = match statements.as_slice() {
        [one] => one,
        [] => return Err("no statement given".to_owned()),
        _ => return Err(format!("{} statements given; day2 query runs exactly one", statements.len())),
    };
    let Statement::Query(query) = statement else {
        return Err(format!("only a SELECT is allowed, not {}", statement_word(statement)));
    };
    let mut gate = Gate { dialect, scopes: Vec::new() };
    match query.visit(&mut gate) {
        ControlFlow::Continue(()) => Ok(statement.to_string()),
        ControlFlow::Break(reason) => Err(reason),
    }
}

/// A name as the database compares it: quoted names exactly, others folded to lower case.
fn folded(ident: &Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() }
}

/// Refuses query bodies that are not SELECT, VALUES or set operations of them (`TABLE x` reads any relation).
fn body_reads_only(body: &SetExpr) -> Result<(), String> {
    match body {
        SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::Values(_) => Ok(()),
        SetExpr::SetOperation { left, right, .. } => body_reads_only(left).and_then(|()| body_reads_only(right)),
        SetExpr::Table(_) => Err("`TABLE name` is not allowed; write SELECT * FROM name".to_owned()),
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
            Err("only a SELECT is allowed; this query writes".to_owned())
        }
    }
}

/// Relation names (single-part, folded) that `query` reads, at any depth.
fn relations_read(query: &Query) -> HashSet<String> {
    let mut names = HashSet::new();
    let _ = sqlparser::ast::visit_relations(query, |name| {
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() {
            names.insert(folded(ident));
        }
        ControlFlow::<()>::Continue(())
    });
    names
}

/// The first word of a refused statement, for the message (`COPY`, `VACUUM`, `PRAGMA`…).
fn statement_word(statement: &Statement) -> String {
    let text = statement.to_string();
    text.split_whitespace().next().unwrap_or("this statement").to_uppercase()
}

/// Walks a parsed query and breaks with the reason at the first thing not allowed.
struct Gate {
    dialect: SqlDialect,
    /// Names of common table expressions in scope, innermost last.
    scopes: Vec<HashSet<String>>,
}

/// The name as one folded identifier, or `None` when it is qualified (`pg_catalog.pg_read_file`, `main.runs`).
fn simple_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(folded(ident)),
        _ => None,
    }
}

impl Gate {
    fn in_scope(&self, name: &str) -> bool {
        self.scopes.iter().any(|scope| scope.contains(name))
    }

    fn relation(&self, name: &ObjectName) -> ControlFlow<String> {
        let Some(simple) = simple_name(name) else {
            return ControlFlow::Break(format!(
                "`{name}`: name relations without a schema (one of {})",
                QUERYABLE.join(", ")
            ));
        };
        if QUERYABLE.contains(&simple.as_str()) || self.in_scope(&simple) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(format!("`{name}` cannot be queried; the relations are {}", QUERYABLE.join(", ")))
        }
    }

    fn table_function(&self, name: &ObjectName) -> ControlFlow<String> {
        match simple_name(name) {
            Some(simple) if self.dialect.allows_table_function(&simple) => ControlFlow::Continue(()),
            _ => ControlFlow::Break(format!("the function `{name}` is not allowed in FROM")),
        }
    }
}

impl Visitor for Gate {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if !query.locks.is_empty() {
            return ControlFlow::Break("locking clauses (FOR UPDATE, FOR SHARE) are not allowed".to_owned());
        }
        if query.for_clause.is_some() || query.format_clause.is_some() || query.settings.is_some() {
            return ControlFlow::Break("FOR, FORMAT and SETTINGS clauses are not allowed".to_owned());
        }
        if !query.pipe_operators.is_empty() {
            return ControlFlow::Break("pipe syntax is not allowed".to_owned());
        }
        if let Err(reason) = body_reads_only(&query.body) {
            return ControlFlow::Break(reason);
        }
        let mut names = HashSet::new();
        if let Some(with) = &query.with {
            let all: Vec<String> = with.cte_tables.iter().map(|cte| folded(&cte.alias.name)).collect();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let name = folded(&cte.alias.name);
                // A CTE named after a system relation would let a reference to the real one through.
                let lower = name.to_lowercase();
                if lower.starts_with("pg_") || lower.starts_with("sqlite_") || lower == "information_schema" {
                    return ControlFlow::Break(format!("`{name}` cannot name a common table expression"));
                }
                // Without RECURSIVE a body sees only the CTEs before it: a name of its own or a later one would be
                // the real relation of that name, which the scope below would wrongly let through.
                if !with.recursive {
                    let read = relations_read(&cte.query);
                    if let Some(later) = all.iter().skip(i).find(|n| read.contains(*n)) {
                        return ControlFlow::Break(format!(
                            "`{name}` reads `{later}`, which it cannot see without WITH RECURSIVE"
                        ));
                    }
                }
                names.insert(name);
            }
        }
        self.scopes.push(names);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<String> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
        if select.into.is_some() {
            return ControlFlow::Break("SELECT … INTO creates a table and is not allowed".to_owned());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        match factor {
            TableFactor::Table { name, args: None, .. } => self.relation(name),
            TableFactor::Table { name, args: Some(_), .. } | TableFactor::Function { name, .. } => {
                self.table_function(name)
            }
            TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::UNNEST { .. }
            | TableFactor::TableFunction { .. } => ControlFlow::Continue(()),
            other => ControlFlow::Break(format!("`{other}` is not allowed in FROM")),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        let Expr::Function(function) = expr else { return ControlFlow::Continue(()) };
        match simple_name(&function.name) {
            Some(name) if self.dialect.allows_function(&name) => ControlFlow::Continue(()),
            _ => ControlFlow::Break(format!(
                "the function `{}` is not allowed (docs/query.md lists the functions queries may call)",
                function.name
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    /// Statements that must pass in `dialect`.
    fn allowed(dialect: SqlDialect, sqls: &[&str]) {
        for sql in sqls {
            assert!(check(sql, dialect).is_ok(), "{sql}: {:?}", check(sql, dialect));
        }
    }

    /// Statements that must be refused in `dialect`, each with a reason containing the given words.
    fn refused(dialect: SqlDialect, cases: &[(&str, &str)]) {
        for (sql, words) in cases {
            let reason = check(sql, dialect).err().unwrap_or_else(|| panic!("allowed: {sql}")).to_string();
            assert!(reason.contains(words), "{sql}: {reason}");
        }
    }

    #[test]
    fn documented_queries_pass() {
        let both = [
            "SELECT severity, count(*) AS n FROM finding_list WHERE state = 'open' GROUP BY severity",
            "SELECT coalesce(team, '(unowned)') AS team, count(*) AS open FROM finding_list WHERE domain = 'drift' GROUP BY 1 ORDER BY 2 DESC",
            "WITH open AS (SELECT * FROM finding_list WHERE state = 'open') SELECT rule_id, count(*) FROM open GROUP BY rule_id",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) SELECT x FROM c",
            "SELECT f.id FROM findings f JOIN resources r ON r.id = f.resource_id WHERE r.kind LIKE 'apps.%'",
            "SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM finding_events) AS events",
            "SELECT rule_id, row_number() OVER (PARTITION BY rule_id ORDER BY last_seen) FROM finding_list",
            "VALUES (1, 2)",
        ];
        allowed(SqlDialect::Sqlite, &both);
        allowed(SqlDialect::Postgres, &both);
        allowed(
            SqlDialect::Sqlite,
            &[
                "SELECT id FROM resource_list WHERE json_extract(attrs, '$.spec.replicas') = 1",
                "SELECT rule_id, round(avg((julianday(resolved_at) - julianday(first_seen)) * 24), 1) FROM finding_list GROUP BY rule_id",
                "SELECT r.id, j.key FROM resource_list r, json_each(r.attrs, '$.metadata.labels') j",
            ],
        );
        allowed(
            SqlDialect::Postgres,
            &[
                "SELECT id FROM resource_list WHERE (attrs->'spec'->>'replicas')::int = 1",
                "SELECT date_trunc('day', first_seen), count(*) FROM finding_list GROUP BY 1",
                "SELECT r.id, k FROM resource_list r, LATERAL json_object_keys(r.attrs) AS k",
            ],
        );
    }

    #[test]
    fn what_reaches_the_host_or_writes_is_refused() {
        let both = [
            ("DELETE FROM findings", "only a SELECT"),
            ("SELECT 1; SELECT 2", "2 statements"),
            ("COMMIT; DELETE FROM findings", "statements"),
            ("", "no statement"),
            ("SELECT * FROM leases", "cannot be queried"),
            ("SELECT * FROM main.findings", "without a schema"),
            ("WITH x AS (DELETE FROM findings RETURNING id) SELECT * FROM x", ""),
            ("WITH pg_authid AS (SELECT 1) SELECT * FROM pg_authid", "cannot name"),
            ("SELEKT 1", "not SELEKT"),
            ("SELECT FROM WHERE", "cannot parse"),
            ("SELECT rolname FROM (TABLE pg_roles) r", "TABLE name"),
            ("SELECT 1 UNION TABLE leases", "TABLE name"),
            ("WITH \"LEASES\" AS (SELECT 1) SELECT * FROM leases", "cannot be queried"),
            ("WITH leases AS (SELECT * FROM leases) SELECT * FROM leases", "cannot see"),
            (
                "WITH finding_list AS (SELECT * FROM leases), leases AS (SELECT 1) SELECT * FROM finding_list",
                "cannot see",
            ),
        ];
        refused(SqlDialect::Sqlite, &both);
        refused(SqlDialect::Postgres, &both);
        refused(
            SqlDialect::Postgres,
            &[
                ("COPY (SELECT 1) TO PROGRAM 'id > pwned.txt'", "only a SELECT is allowed, not COPY"),
                ("COPY findings TO '/tmp/findings.csv'", "not COPY"),
                ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
                ("SELECT pg_catalog.pg_read_file('/etc/passwd')", "pg_catalog.pg_read_file"),
                ("SELECT * FROM pg_ls_dir('/')", "pg_ls_dir"),
                ("SELECT x FROM finding_list, LATERAL pg_ls_dir('/') AS x", "pg_ls_dir"),
                ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend"),
                ("SELECT set_config('role', 'postgres', true)", "set_config"),
                ("SELECT query_to_xml('SELECT 1', true, true, '')", "query_to_xml"),
                ("SELECT lo_import('/etc/passwd')", "lo_import"),
                ("SELECT * FROM pg_authid", "cannot be queried"),
                ("SELECT * INTO stolen FROM findings", "INTO"),
                ("SELECT * FROM findings FOR UPDATE", "locking"),
                ("SET ROLE postgres", "not SET"),
                (
                    "SELECT $a€$,' $a€$, set_config($$role$$,$$postgres$$,true), query_to_xml($$select 1$$,true,true,$$$$), ' AS x --'",
                    "",
                ),
                ("SELECT $1", "parameters"),
                ("SELECT lpad('', 1000000000, 'x')", "lpad"),
            ],
        );
        refused(
            SqlDialect::Sqlite,
            &[
                ("VACUUM INTO '/tmp/copy.db'", "not VACUUM"),
                ("ATTACH DATABASE '/tmp/other.db' AS other", "not ATTACH"),
                ("PRAGMA writable_schema = 1", "not PRAGMA"),
                ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
                ("SELECT * FROM sqlite_master", "cannot be queried"),
                ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
            ],
        );
    }
}
