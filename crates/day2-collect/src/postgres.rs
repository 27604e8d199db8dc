//! PostgreSQL, declared and live: settings, roles, databases, extensions and schemas.
//!
//! Declared state is a YAML file (format in docs/configuration.md, `postgres` section):
//!
//! ```yaml
//! settings: {max_connections: 200, work_mem: 8MB}
//! roles: [{name: app, login: true, connection_limit: 50}]
//! databases: [{name: shop, owner: app}]
//! extensions: [{database: shop, name: pg_stat_statements}]
//! schemas: [{database: shop, name: billing, owner: app}]
//! ```
//!
//! Live state is read with the catalog (`pg_settings`, `pg_roles`, `pg_database`, and per database `pg_extension` and
//! `pg_namespace`). Both become resources `postgres/<instance>/<Kind>/<database>/<name>` so they pair; settings carry
//! their unit so drift compares `128MB` with `16384` pages (see `day2_analyze::drift::diff::same_setting`).

use std::path::PathBuf;

use chrono::Utc;
use day2_model::{Diagnostic, DiagnosticKind, Origin, Provider, Resource, ResourceId, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A declared PostgreSQL instance (`- postgres_declared: {…}` in `sources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DeclaredConfig {
    /// Instance name: the scope of resource ids, equal to the live source's `instance`.
    pub instance: String,
    /// Declaration files.
    pub paths: Vec<PathBuf>,
}

/// A live PostgreSQL instance (`- postgres: {…}` in `sources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Instance name, equal to the declared source's `instance`.
    pub instance: String,
    /// Connection URL (`postgres://user@host:5432/postgres`); a role that can read the catalogs is enough.
    pub url: String,
}

fn resource(
    instance: &str,
    kind: &str,
    database: &str,
    name: &str,
    mut attrs: Value,
    origin: Origin,
    source: &str,
) -> Resource {
    // Role passwords in a declaration, connection strings in settings (primary_conninfo): tokens, never values.
    day2_model::redact::redact_tree(day2_model::redact::Redactor::process(), &mut attrs);
    Resource {
        id: ResourceId::new(Provider::Postgres, instance, kind, database, name),
        provider: Provider::Postgres,
        scope: instance.to_owned(),
        kind: kind.to_owned(),
        api_version: String::new(),
        namespace: database.to_owned(),
        name: name.to_owned(),
        labels: Default::default(),
        owner: Default::default(),
        attrs: attrs.into(),
        origin,
        source: source.to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Declaration {
    settings: Map<String, Value>,
    roles: Vec<Map<String, Value>>,
    databases: Vec<Map<String, Value>>,
    extensions: Vec<Map<String, Value>>,
    schemas: Vec<Map<String, Value>>,
}

/// Reads the declaration files into a snapshot; a bad file is a diagnostic naming file and line.
pub fn collect_declared(config: &DeclaredConfig) -> Snapshot {
    let source = crate::source::Source::name(config);
    let mut snapshot = Snapshot { source: source.clone(), complete: true, ..Snapshot::default() };
    for path in &config.paths {
        let file = path.display().to_string();
        snapshot.files += 1;
        // A declaration is a few settings and roles: 1 MiB is far more than one needs.
        let text = match day2_input::files::read_text(&day2_input::files::Input::File(path.clone()), 1 << 20) {
            Ok(t) => t,
            Err(error) => {
                snapshot.diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, &file, None, error.to_string()));
                continue;
            }
        };
        let declaration: Declaration = match serde_saphyr::from_str(&text) {
            Ok(d) => d,
            Err(e) => {
                let line = e.location().and_then(|l| u32::try_from(l.line()).ok());
                snapshot.diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Schema,
                    &file,
                    line,
                    format!("not a PostgreSQL declaration: {}", e.without_snippet()),
                ));
                continue;
            }
        };
        let origin = Origin::Declared {
            file: file.clone(),
            line: 1,
            template: None,
            module: None,
            attributes: Default::default(),
        };
        let mut push = |kind: &str, database: &str, name: &str, attrs: Value| {
            snapshot.resources.push(resource(&config.instance, kind, database, name, attrs, origin.clone(), &source));
        };
        for (name, value) in declaration.settings {
            let value = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            // pg_settings names are case-insensitive (TimeZone, timezone); ids use lowercase.
            push("Setting", "", &name.to_ascii_lowercase(), json!({ "value": value }));
        }
        let mut unnamed = Vec::new();
        for (kind, list) in [("Role", declaration.roles), ("Database", declaration.databases)] {
            for mut entry in list {
                match take_name(&mut entry) {
                    Some(name) => push(kind, "", &name, Value::Object(entry)),
                    None => unnamed.push(format!("a {kind} entry has no `name`")),
                }
            }
        }
        for (kind, list) in [("Extension", declaration.extensions), ("Schema", declaration.schemas)] {
            for mut entry in list {
                let database = entry.remove("database").and_then(|d| d.as_str().map(str::to_owned));
                match (database, take_name(&mut entry)) {
                    (Some(database), Some(name)) => push(kind, &database, &name, Value::Object(entry)),
                    _ => unnamed.push(format!("an {kind} entry needs `database` and `name`")),
                }
            }
        }
        for problem in unnamed {
            snapshot.diagnostics.push(Diagnostic::new(
                DiagnosticKind::Schema,
                &file,
                None,
                format!("{problem}; skipped"),
            ));
        }
    }
    snapshot.complete = !snapshot.diagnostics.iter().any(|d| d.kind.is_error());
    snapshot
}

fn take_name(entry: &mut Map<String, Value>) -> Option<String> {
    entry.remove("name").and_then(|n| n.as_str().map(str::to_owned))
}

/// Reads the live catalogs. A connection or query failure makes the snapshot incomplete (and is a diagnostic), so
/// drift reports nothing missing for the instance.
pub async fn collect_live(config: &LiveConfig) -> Snapshot {
    let source = crate::source::Source::name(config);
    let mut snapshot = Snapshot { source: source.clone(), complete: true, ..Snapshot::default() };
    if let Err(e) = read_catalogs(config, &source, &mut snapshot).await {
        snapshot.complete = false;
        snapshot.diagnostics.push(Diagnostic::new(
            DiagnosticKind::Unreadable,
            format!("postgres:{}", config.instance),
            None,
            format!("cannot read the live catalogs: {e}"),
        ));
    }
    snapshot
}

async fn read_catalogs(config: &LiveConfig, source: &str, snapshot: &mut Snapshot) -> Result<(), sqlx::Error> {
    use sqlx::{Connection, Row};
    let options: sqlx::postgres::PgConnectOptions = config.url.parse()?;
    let mut conn = sqlx::PgConnection::connect_with(&options).await?;
    let origin = Origin::Live { source: source.to_owned(), observed_at: Utc::now() };
    let instance = config.instance.as_str();
    let out = &mut snapshot.resources;
    let mut push = |kind: &str, database: &str, name: String, attrs: Value| {
        out.push(resource(instance, kind, database, &name, attrs, origin.clone(), source));
    };
    // This connection's own session settings (sqlx sets TimeZone, DateStyle, …) are not the server's: for those the
    // configuration file's value (when readable) or the built-in default is what the server runs with.
    let file_settings: std::collections::BTreeMap<String, String> =
        match sqlx::query("SELECT name, setting FROM pg_file_settings WHERE applied").fetch_all(&mut conn).await {
            Ok(rows) => rows
                .iter()
                .filter_map(|r| {
                    Some((r.try_get::<String, _>("name").ok()?.to_ascii_lowercase(), r.try_get("setting").ok()?))
                })
                .collect(),
            Err(_) => Default::default(),
        };
    let settings = "SELECT name, setting, unit, source, boot_val FROM pg_settings";
    for row in sqlx::query(settings).fetch_all(&mut conn).await? {
        let name = row.try_get::<String, _>("name")?.to_ascii_lowercase();
        let source: String = row.try_get("source")?;
        let value: String = if matches!(source.as_str(), "client" | "session") {
            match file_settings.get(&name) {
                Some(v) => v.clone(),
                None => row.try_get::<Option<String>, _>("boot_val")?.unwrap_or_default(),
            }
        } else {
            row.try_get("setting")?
        };
        let attrs = json!({"value": value, "unit": row.try_get::<Option<String>, _>("unit")?, "source": source});
        push("Setting", "", name, attrs);
    }
    let roles = "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, \
                 rolbypassrls, rolconnlimit FROM pg_roles";
    for row in sqlx::query(roles).fetch_all(&mut conn).await? {
        let attrs = json!({
            "superuser": row.try_get::<bool, _>("rolsuper")?,
            "inherit": row.try_get::<bool, _>("rolinherit")?,
            "createrole": row.try_get::<bool, _>("rolcreaterole")?,
            "createdb": row.try_get::<bool, _>("rolcreatedb")?,
            "login": row.try_get::<bool, _>("rolcanlogin")?,
            "replication": row.try_get::<bool, _>("rolreplication")?,
            "bypassrls": row.try_get::<bool, _>("rolbypassrls")?,
            "connection_limit": row.try_get::<i32, _>("rolconnlimit")?,
        });
        push("Role", "", row.try_get("rolname")?, attrs);
    }
    let databases = "SELECT d.datname, pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding, \
                     d.datallowconn FROM pg_database d";
    let mut names = Vec::new();
    for row in sqlx::query(databases).fetch_all(&mut conn).await? {
        let name: String = row.try_get("datname")?;
        if row.try_get::<bool, _>("datallowconn")? {
            names.push(name.clone());
        }
        let attrs =
            json!({"owner": row.try_get::<String, _>("owner")?, "encoding": row.try_get::<String, _>("encoding")?});
        push("Database", "", name, attrs);
    }
    drop(conn);
    for database in names {
        // One database that refuses us must not hide the others; the instance is then incomplete (nothing missing).
        match read_database(&options, &database).await {
            Ok(rows) => {
                for (kind, name, attrs) in rows {
                    push(kind, &database, name, attrs);
                }
            }
            Err(e) => {
                snapshot.complete = false;
                snapshot.diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Unreadable,
                    format!("postgres:{instance}/{database}"),
                    None,
                    format!("cannot read extensions and schemas: {e}"),
                ));
            }
        }
    }
    Ok(())
}

/// Extensions and schemas of one database.
async fn read_database(
    options: &sqlx::postgres::PgConnectOptions,
    database: &str,
) -> Result<Vec<(&'static str, String, Value)>, sqlx::Error> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect_with(&options.clone().database(database)).await?;
    let mut out = Vec::new();
    for row in sqlx::query("SELECT extname, extversion FROM pg_extension").fetch_all(&mut conn).await? {
        out.push(("Extension", row.try_get("extname")?, json!({"version": row.try_get::<String, _>("extversion")?})));
    }
    let schemas = "SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace \
                   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'";
    for row in sqlx::query(schemas).fetch_all(&mut conn).await? {
        out.push(("Schema", row.try_get("nspname")?, json!({"owner": row.try_get::<String, _>("owner")?})));
    }
    Ok(out)
}

impl crate::source::Source for DeclaredConfig {
    fn name(&self) -> String {
        format!("postgres:{}", self.instance)
    }

    fn side(&self) -> day2_model::Side {
        day2_model::Side::Declared
    }

    fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        crate::source::resolve_all(base, &mut self.paths);
    }

    fn watched_paths(&self) -> Vec<PathBuf> {
        crate::source::files_to_watch(&self.paths)
    }

    fn collect(&self) -> crate::source::Collecting<'_, Snapshot> {
        Box::pin(async move { collect_declared(self) })
    }
}

impl crate::source::Source for LiveConfig {
    fn name(&self) -> String {
        format!("live:postgres:{}", self.instance)
    }

    fn side(&self) -> day2_model::Side {
        day2_model::Side::Live
    }

    fn scope(&self) -> Option<(Provider, String)> {
        Some((Provider::Postgres, self.instance.clone()))
    }

    fn collect(&self) -> crate::source::Collecting<'_, Snapshot> {
        Box::pin(collect_live(self))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn declarations_become_resources_and_bad_files_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("pg.yaml");
        std::fs::write(
            &good,
            "settings:\n  work_mem: 8MB\n  max_connections: 200\nroles:\n  - {name: app, login: true}\ndatabases:\n  - {name: shop, owner: app}\nextensions:\n  - {database: shop, name: pg_trgm}\n",
        )
        .unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "settings:\n  work_mem: 8MB\nrolez: []\n").unwrap();
        let snapshot = collect_declared(&DeclaredConfig { instance: "main".into(), paths: vec![good, bad] });
        let ids: Vec<&str> = snapshot.resources.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "postgres/main/Setting//work_mem",
                "postgres/main/Setting//max_connections",
                "postgres/main/Role//app",
                "postgres/main/Database//shop",
                "postgres/main/Extension/shop/pg_trgm"
            ]
        );
        assert_eq!(snapshot.resources[1].attrs["value"], "200");
        assert!(!snapshot.complete);
        assert_eq!(snapshot.diagnostics[0].line, Some(3), "{:?}", snapshot.diagnostics);
        assert!(snapshot.diagnostics[0].message.contains("rolez"));
    }
}
