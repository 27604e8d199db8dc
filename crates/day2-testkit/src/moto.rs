//! moto's AWS API server (`pip install "moto[server]"`) for tests, on a free loopback port, stopped when dropped.
//!
//! Found through `DAY2_MOTO_SERVER` (the `moto_server` script; .ci/run installs it into a virtualenv and sets it), else
//! `moto_server` on `PATH`. The Python beside it (the virtualenv's, which has boto3) runs scenario scripts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    script: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
}

fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DAY2_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("moto_server")).find(|p| p.is_file())
}

impl Moto {
    /// Starts a server. `Ok(None)` when moto is not installed (the caller skips and says why), unless
    /// `DAY2_REQUIRE_MOTO` is set (CI sets it after installing moto); an error when it is but does not start.
    pub fn start() -> Result<Option<Moto>, String> {
        let Some(script) = find() else {
            return match std::env::var_os("DAY2_REQUIRE_MOTO") {
                Some(_) => {
                    Err("moto_server is required (DAY2_REQUIRE_MOTO) but not found: set DAY2_MOTO_SERVER".into())
                }
                None => Ok(None),
            };
        };
        let port = crate::free_port().map_err(|e| e.to_string())?;
        let child = Command::new(&script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        let moto = Moto { child, script, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!("moto_server did not listen on port {port} within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Some(moto))
    }

    /// The endpoint URL for every service.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Python that runs moto (it has boto3): the one beside `moto_server`, else `python3`.
    pub fn python(&self) -> PathBuf {
        let beside = self.script.parent().unwrap_or(Path::new(".")).join("python");
        if beside.is_file() { beside } else { PathBuf::from("python3") }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
