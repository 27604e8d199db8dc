//! A private PostgreSQL server for tests that change server settings: `initdb` and `pg_ctl` from Debian's
//! postgresql package, in a temporary directory, on a free loopback port, stopped when dropped. The shared server on
//! 5432 is never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running private server.
pub struct PgInstance {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
}

fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a server binary, as the `postgres` user when we are root (initdb and postgres refuse to run as root).
fn run(bin: &Path, args: &[&str]) -> std::io::Result<Output> {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    command.args(args).output()
}

fn check(what: &str, output: std::io::Result<Output>) -> Result<(), String> {
    match output {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            Err(format!("{what} failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
        }
        Err(e) => Err(format!("{what}: {e}")),
    }
}

impl PgInstance {
    /// Starts a server. `Ok(None)` when PostgreSQL's server binaries are not installed here (the caller skips and
    /// says why), unless `DAY2_REQUIRE_POSTGRES` is set (CI sets it after installing them); an error when they are
    /// but the server does not start.
    pub fn start() -> Result<Option<PgInstance>, String> {
        let Some(bin) = bin_dir() else {
            return match std::env::var_os("DAY2_REQUIRE_POSTGRES") {
                Some(_) => {
                    Err("PostgreSQL server binaries are required (DAY2_REQUIRE_POSTGRES) but not installed".into())
                }
                None => Ok(None),
            };
        };
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        if is_root() {
            check("chown", Command::new("chown").arg("postgres:").arg(dir.path()).output())?;
        }
        let data = dir.path().join("data");
        let (data_s, dir_s) = (data.to_string_lossy().into_owned(), dir.path().to_string_lossy().into_owned());
        check("initdb", run(&bin.join("initdb"), &["-D", &data_s, "-A", "trust", "-U", "postgres", "--no-sync"]))?;
        let port = crate::free_port().map_err(|e| e.to_string())?;
        let options = format!("-p {port} -k {dir_s} -c listen_addresses=127.0.0.1 -c fsync=off");
        let log = format!("{dir_s}/server.log");
        check("pg_ctl start", run(&bin.join("pg_ctl"), &["-D", &data_s, "-l", &log, "-o", &options, "-w", "start"]))?;
        Ok(Some(PgInstance { dir, bin, port }))
    }

    /// A connection URL for `database` as the superuser `postgres`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The single value a query returns (`SHOW timezone`), via `psql`.
    #[allow(clippy::panic)]
    pub fn value(&self, database: &str, query: &str) -> String {
        let output = Command::new("psql")
            .args(["-X", "-t", "-A", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-p", &self.port.to_string()])
            .args(["-c", query])
            .output()
            .unwrap_or_else(|e| panic!("psql: {e}"));
        assert!(output.status.success(), "psql failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Runs SQL statements with `psql`, each in its own transaction (so `CREATE DATABASE` works); panics on failure
    /// with psql's message (tests only).
    #[allow(clippy::panic)]
    pub fn sql(&self, database: &str, statements: &[&str]) {
        let mut command = Command::new("psql");
        command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", database]);
        command.args(["-p", &self.port.to_string()]);
        for s in statements {
            command.args(["-c", s]);
        }
        let output = command.output().unwrap_or_else(|e| panic!("psql: {e}"));
        assert!(output.status.success(), "psql failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        let _ = run(&self.bin.join("pg_ctl"), &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// A fresh database on the machine's shared PostgreSQL server, dropped (with its connections) when dropped: for tests
/// of day2's own store, which need a database but never change server settings. The server is
/// `DAY2_TEST_POSTGRES_URL` (an admin connection URL), by default `postgres://postgres@127.0.0.1:5432/postgres`.
pub struct ScratchDatabase {
    admin: String,
    name: String,
    /// Connection URL of the new database.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates one. `Ok(None)` when the server cannot be reached or `psql` is missing (the caller skips and says
    /// why), unless `DAY2_REQUIRE_POSTGRES` is set.
    pub fn create() -> Result<Option<ScratchDatabase>, String> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin = std::env::var("DAY2_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let Some((server, _)) = admin.rsplit_once('/') else {
            return Err(format!("DAY2_TEST_POSTGRES_URL `{admin}` has no database part"));
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("day2_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let url = format!("{server}/{name}");
        match psql(&admin, &format!("CREATE DATABASE {name}")) {
            Ok(()) => Ok(Some(ScratchDatabase { admin, name, url })),
            Err(e) if std::env::var_os("DAY2_REQUIRE_POSTGRES").is_some() => {
                Err(format!("PostgreSQL at {admin} is required (DAY2_REQUIRE_POSTGRES): {e}"))
            }
            Err(e) => {
                eprintln!("skipping: no PostgreSQL server for a scratch database ({e})");
                Ok(None)
            }
        }
    }
}

impl ScratchDatabase {
    /// Runs one SQL statement in the database (as its owner), via `psql`.
    pub fn execute(&self, statement: &str) -> Result<(), String> {
        psql(&self.url, statement)
    }
}

fn psql(url: &str, statement: &str) -> Result<(), String> {
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", statement])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).trim().to_owned()) }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("cannot drop scratch database {}: {e}", self.name);
        }
        // The store's query login (day2_query_ and 12 hex digits of md5 of the database name) is the cluster's.
        let login = format!(
            "DO $$ BEGIN EXECUTE format('DROP ROLE IF EXISTS %I', 'day2_query_' || substr(md5('{}'), 1, 12)); END $$",
            self.name
        );
        if let Err(e) = psql(&self.admin, &login) {
            eprintln!("cannot drop the query login of {}: {e}", self.name);
        }
    }
}
