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

/// A declared PostgreSQL instance (`sources.postgres[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeclaredConfig {
    /// Instance name: the scope of resource ids, equal to the live source's `instance`.
    pub instance: String,
    /// Declaration files.
    pub paths: Vec<PathBuf>,
}

/// A live PostgreSQL instance (`live.postgres[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    attrs: Value,
    origin: Origin,
    source: &str,
) -> Resource {
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
        attrs,
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
    let source = format!("postgres:{}", config.instance);
    let mut snapshot = Snapshot { source: source.clone(), complete: true, ..Snapshot::default() };
    for path in &config.paths {
        let file = path.display().to_string();
        snapshot.files += 1;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                snapshot.diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, &file, None, e.to_string()));
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
        let origin = Origin::Declared { file: file.clone(), line: 1, template: None, module: None };
        let mut push = |kind: &str, database: &str, name: &str, attrs: Value| {
            snapshot.resources.push(resource(&config.instance, kind, database, name, attrs, origin.clone(), &source));
        };
        for (name, value) in declaration.settings {
            let value = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            push("Setting", "", &name, json!({ "value": value }));
        }
        for mut role in declaration.roles {
            let Some(name) = take_name(&mut role) else { continue };
            push("Role", "", &name, Value::Object(role));
        }
        for mut database in declaration.databases {
            let Some(name) = take_name(&mut database) else { continue };
            push("Database", "", &name, Value::Object(database));
        }
        for (kind, list) in [("Extension", declaration.extensions), ("Schema", declaration.schemas)] {
            for mut entry in list {
                let database = entry.remove("database").and_then(|d| d.as_str().map(str::to_owned)).unwrap_or_default();
                let Some(name) = take_name(&mut entry) else { continue };
                push(kind, &database, &name, Value::Object(entry));
            }
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
    let source = format!("live:postgres:{}", config.instance);
    let mut snapshot = Snapshot { source: source.clone(), complete: true, ..Snapshot::default() };
    if let Err(e) = read_catalogs(config, &source, &mut snapshot.resources).await {
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

async fn read_catalogs(config: &LiveConfig, source: &str, out: &mut Vec<Resource>) -> Result<(), sqlx::Error> {
    use sqlx::{Connection, Row};
    let options: sqlx::postgres::PgConnectOptions = config.url.parse()?;
    let mut conn = sqlx::PgConnection::connect_with(&options).await?;
    let origin = Origin::Live { source: source.to_owned(), observed_at: Utc::now() };
    let instance = config.instance.as_str();
    let mut push = |kind: &str, database: &str, name: String, attrs: Value| {
        out.push(resource(instance, kind, database, &name, attrs, origin.clone(), source));
    };
    for row in sqlx::query("SELECT name, setting, unit, source FROM pg_settings").fetch_all(&mut conn).await? {
        let attrs = json!({
            "value": row.try_get::<String, _>("setting")?,
            "unit": row.try_get::<Option<String>, _>("unit")?,
            "source": row.try_get::<String, _>("source")?,
        });
        push("Setting", "", row.try_get("name")?, attrs);
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
        let allow: bool = row.try_get("datallowconn")?;
        if allow {
            names.push(name.clone());
        }
        let attrs =
            json!({"owner": row.try_get::<String, _>("owner")?, "encoding": row.try_get::<String, _>("encoding")?});
        push("Database", "", name, attrs);
    }
    drop(conn);
    for database in names {
        let mut conn = sqlx::PgConnection::connect_with(&options.clone().database(&database)).await?;
        for row in sqlx::query("SELECT extname, extversion FROM pg_extension").fetch_all(&mut conn).await? {
            push(
                "Extension",
                &database,
                row.try_get("extname")?,
                json!({"version": row.try_get::<String, _>("extversion")?}),
            );
        }
        let schemas = "SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace \
                       WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'";
        for row in sqlx::query(schemas).fetch_all(&mut conn).await? {
            push("Schema", &database, row.try_get("nspname")?, json!({"owner": row.try_get::<String, _>("owner")?}));
        }
    }
    Ok(())
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
