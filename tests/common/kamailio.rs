//! Debian's Kamailio as a real peer in a test: started in the foreground on
//! a config under tests/kamailio/, its log collected, its control socket
//! asked with `kamcmd`, stopped (with its children) when dropped.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `name` from PATH, else from /usr/sbin (Debian puts kamailio and kamcmd there).
pub fn sbin(name: &str) -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|f| f.is_file()));
    in_path.unwrap_or_else(|| Path::new("/usr/sbin").join(name))
}

/// Appends every line of `r` to `sink`.
pub fn collect(r: impl Read + Send + 'static, sink: &Arc<Mutex<Vec<String>>>) {
    let sink = Arc::clone(sink);
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            sink.lock().expect("logs").push(line);
        }
    });
}

/// Polls `f` every 50 ms until it is true or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct Kamailio {
    child: Child,
    dir: PathBuf,
    /// Its UDP port on the address the test gave it.
    pub port: u16,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Kamailio {
    /// Starts Kamailio in the foreground on tests/kamailio/`cfg`, listening
    /// on `ip` (a free port, the `PORT` define) with `defines` (`-A`) added,
    /// and waits (bounded) until its control socket answers.
    pub fn start(name: &str, cfg: &str, ip: &str, defines: &[String]) -> Kamailio {
        let dir = std::env::temp_dir().join(format!("tandem-kam-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let port = super::free_port(ip);
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kamailio").join(cfg);
        let mut cmd = Command::new(sbin("kamailio"));
        cmd.arg("-f").arg(&cfg).args(["-DD", "-E", "-m", "32", "-M", "4"]);
        cmd.arg("-w").arg(&dir).arg("-Y").arg(&dir).arg("-P").arg(dir.join("kamailio.pid"));
        cmd.args(["-A", &format!("PORT={port}")]);
        cmd.args(["-A", &format!("CTL=\"unix:{}\"", dir.join("kamailio.ctl").display())]);
        for d in defines {
            cmd.args(["-A", d]);
        }
        // Its own process group, so Drop can end the children with it.
        cmd.process_group(0).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kamailio is installed (scripts/test installs Debian's kamailio)");
        let logs = Arc::new(Mutex::new(Vec::new()));
        collect(child.stderr.take().expect("stderr"), &logs);
        let k = Kamailio { child, dir, port, logs };
        let up = wait_until(Duration::from_secs(10), || k.rpc(&["core.version"]).contains("kamailio"));
        assert!(up, "Kamailio's control socket did not answer in 10 s: {:#?}", k.logs());
        k
    }

    /// `kamcmd` on our control socket; its stdout (errors included).
    pub fn rpc(&self, args: &[&str]) -> String {
        let out = Command::new(sbin("kamcmd"))
            .arg("-s")
            .arg(format!("unix:{}", self.dir.join("kamailio.ctl").display()))
            .args(args)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
            Err(e) => format!("kamcmd: {e}"),
        }
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    /// The lines the test's script logs ("kamailio: ...").
    pub fn script_log(&self) -> Vec<String> {
        self.logs.lock().expect("logs").iter().filter(|l| l.contains("kamailio: ")).cloned().collect()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child (its pid is the group id too) with valid signals.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let stopped = wait_until(Duration::from_secs(5), || self.child.try_wait().ok().flatten().is_some());
        if !stopped {
            // SAFETY: as above; the group is the one we created for this child.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
