//! The tuning/ scripts (docs/tuning.md): `--help`, `--dry-run` on the real host
//! (which must change nothing), clear errors, and real runs against a fake
//! /proc + /sys tree (TANDEM_TUNING_ROOT) to check what they write and that a
//! second run changes nothing.
#![cfg(target_os = "linux")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SCRIPTS: [&str; 3] = ["pin-shards", "irq-affinity", "rps"];
/// Longest a script may run before the test fails.
const TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        format!("exit {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning").join(name)
}

fn scratch(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tandem-tuning-{tag}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs a tuning script with bash, bounded by TIMEOUT; `root` sets TANDEM_TUNING_ROOT.
fn run(name: &str, args: &[&str], root: Option<&Path>) -> Run {
    let out = scratch("out");
    let (so, se) = (out.join("stdout"), out.join("stderr"));
    let mut cmd = Command::new("bash");
    cmd.arg(script(name))
        .args(args)
        .env_remove("TANDEM_TUNING_ROOT")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&so).expect("stdout file"))
        .stderr(fs::File::create(&se).expect("stderr file"));
    if let Some(r) = root {
        cmd.env("TANDEM_TUNING_ROOT", r);
    }
    let mut child = cmd.spawn().expect("run bash");
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if waited >= TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} {args:?} still running after {TIMEOUT:?}");
        }
        std::thread::sleep(POLL);
        waited += POLL;
    };
    let r = Run {
        code: status.code(),
        stdout: fs::read_to_string(&so).unwrap_or_default(),
        stderr: fs::read_to_string(&se).unwrap_or_default(),
    };
    let _ = fs::remove_dir_all(&out);
    r
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().to_string()
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, format!("{text}\n")).expect("write");
}

/// Snapshot of files that must not change (missing files read as None).
fn snapshot(paths: &[PathBuf]) -> Vec<Option<String>> {
    paths.iter().map(|p| fs::read_to_string(p).ok()).collect()
}

/// All /proc/irq/*/smp_affinity_list values of the host.
fn irq_affinities() -> Vec<(PathBuf, Option<String>)> {
    let mut v: Vec<_> = fs::read_dir("/proc/irq")
        .map(|d| d.filter_map(Result::ok).map(|e| e.path().join("smp_affinity_list")).collect())
        .unwrap_or_else(|_| Vec::new());
    v.sort();
    v.into_iter().map(|p| (p.clone(), fs::read_to_string(&p).ok())).collect()
}

fn allowed_cpus(pid: u32) -> String {
    let status = read(&PathBuf::from(format!("/proc/{pid}/status")));
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .to_string()
}

/// A child process, killed when dropped.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fake tree with 4 online cores, a 2-queue NIC `fake0` and four IRQs.
fn fake_root() -> PathBuf {
    let root = scratch("root");
    write(&root.join("sys/devices/system/cpu/online"), "0-3");
    let qd = root.join("sys/class/net/fake0/queues");
    for q in 0..2 {
        write(&qd.join(format!("rx-{q}/rps_cpus")), "0");
        write(&qd.join(format!("rx-{q}/rps_flow_cnt")), "0");
        write(&qd.join(format!("tx-{q}/xps_cpus")), "00000000");
    }
    write(&root.join("proc/sys/net/core/rps_sock_flow_entries"), "0");
    let irqs =
        [(40, "fake0-TxRx-0", "f"), (41, "fake0-TxRx-1", "f"), (42, "nvme0q1", "f"), (43, "ttyS0", "c")];
    let mut interrupts = String::from("           CPU0       CPU1       CPU2       CPU3\n");
    for (n, name, mask) in irqs {
        interrupts.push_str(&format!(" {n}:  1  2  3  4  PCI-MSIX-0000:00:03.0  {n}-edge  {name}\n"));
        let d = root.join(format!("proc/irq/{n}"));
        fs::create_dir_all(d.join(name)).expect("irq action dir");
        write(&d.join("smp_affinity"), mask);
        write(&d.join("smp_affinity_list"), if mask == "f" { "0-3" } else { "2-3" });
    }
    interrupts.push_str("NMI:  0  0  0  0  Non-maskable interrupts\n");
    write(&root.join("proc/interrupts"), &interrupts);
    write(&root.join("proc/irq/default_smp_affinity"), "f");
    root
}

#[test]
fn scripts_are_executable_strict_bash() {
    for name in SCRIPTS {
        let path = script(name);
        let mode = fs::metadata(&path).expect("script exists").permissions().mode();
        assert!(mode & 0o111 != 0, "{name} is not executable");
        let text = fs::read_to_string(&path).expect("read script");
        assert!(text.starts_with("#!/usr/bin/env bash\n"), "{name}: shebang");
        assert!(text.contains("\nset -euo pipefail\n"), "{name}: set -euo pipefail");
    }
}

#[test]
fn help_explains_and_mentions_dry_run() {
    for name in SCRIPTS {
        for flag in ["--help", "-h"] {
            let r = run(name, &[flag], None);
            assert_eq!(r.code, Some(0), "{name} {flag}: {}", r.text());
            assert!(r.stdout.contains("Usage:"), "{name}: {}", r.text());
            assert!(r.stdout.contains("--dry-run"), "{name}: {}", r.text());
            assert!(r.stdout.contains("--cores"), "{name}: {}", r.text());
        }
    }
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    for name in SCRIPTS {
        let r = run(name, &["--bogus"], None);
        assert_eq!(r.code, Some(2), "{name}: {}", r.text());
        assert!(r.stderr.contains("unknown argument: --bogus"), "{name}: {}", r.text());
        let r = run(name, &["--cores", "x", "--dev", "lo"], None);
        assert_ne!(r.code, Some(0), "{name}: {}", r.text());
    }
    let r = run("irq-affinity", &["--cores", "0"], None);
    assert_eq!(r.code, Some(2), "{}", r.text());
    assert!(r.stderr.contains("--dev is required"), "{}", r.text());
    let r = run("pin-shards", &["--dry-run"], None);
    assert_eq!(r.code, Some(2), "{}", r.text());
    assert!(r.stderr.contains("--cores is required"), "{}", r.text());
}

#[test]
fn unknown_device_and_offline_core_are_refused() {
    for name in ["irq-affinity", "rps"] {
        let r = run(name, &["--dev", "tandemnope0", "--cores", "0", "--dry-run"], None);
        assert_eq!(r.code, Some(1), "{name}: {}", r.text());
        assert!(r.stderr.contains("device tandemnope0 not found"), "{name}: {}", r.text());
        let r = run(name, &["--dev", "lo", "--cores", "100000", "--dry-run"], None);
        assert_eq!(r.code, Some(1), "{name}: {}", r.text());
        assert!(r.stderr.contains("core 100000 out of range"), "{name}: {}", r.text());
    }
    let r = run("pin-shards", &["--cores", "100000", "--pid", "1", "--dry-run"], None);
    assert_eq!(r.code, Some(1), "{}", r.text());
    assert!(r.stderr.contains("core 100000 out of range"), "{}", r.text());
}

#[test]
fn rps_dry_run_on_lo_changes_nothing() {
    let q = Path::new("/sys/class/net/lo/queues/rx-0");
    if !q.join("rps_cpus").exists() {
        eprintln!("skipped: no {} (kernel without RPS or no sysfs)", q.display());
        return;
    }
    let watched = [
        q.join("rps_cpus"),
        q.join("rps_flow_cnt"),
        PathBuf::from("/sys/class/net/lo/queues/tx-0/xps_cpus"),
        PathBuf::from("/proc/sys/net/core/rps_sock_flow_entries"),
    ];
    let before = snapshot(&watched);
    let r = run("rps", &["--dev", "lo", "--cores", "0", "--dry-run"], None);
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stdout.contains("dry run:"), "{}", r.text());
    assert!(r.stdout.contains("nothing was changed"), "{}", r.text());
    assert!(!r.stdout.contains("wrote "), "{}", r.text());
    assert_eq!(snapshot(&watched), before, "rps --dry-run changed a file");
}

#[test]
fn irq_affinity_dry_run_on_lo_finds_no_irqs() {
    let before = irq_affinities();
    let r = run("irq-affinity", &["--dev", "lo", "--cores", "0", "--dry-run"], None);
    assert_eq!(r.code, Some(1), "{}", r.text());
    assert!(r.stderr.contains("no IRQs found for lo"), "{}", r.text());
    assert_eq!(irq_affinities(), before, "irq-affinity --dry-run changed an IRQ");
}

#[test]
fn pin_shards_dry_run_on_a_process_without_shards() {
    let kid = Kid(Command::new("sleep").arg("30").spawn().expect("spawn sleep"));
    let pid = kid.0.id();
    let before = allowed_cpus(pid);
    let r = run("pin-shards", &["--pid", &pid.to_string(), "--cores", "0", "--dry-run"], None);
    assert_eq!(r.code, Some(1), "{}", r.text());
    assert!(r.stderr.contains("no threads named shard-N"), "{}", r.text());
    assert!(r.stderr.contains("nothing pinned"), "{}", r.text());
    assert_eq!(allowed_cpus(pid), before);
}

#[test]
fn pin_shards_pins_a_thread_named_shard_0() {
    // A bash whose (only) thread renames itself shard-0, as tandem's shard threads are named.
    let kid = Kid(Command::new("bash")
        .args(["-c", "printf shard-0 > /proc/$$/comm; sleep 30; :"])
        .spawn()
        .expect("spawn bash"));
    let pid = kid.0.id();
    let comm = PathBuf::from(format!("/proc/{pid}/comm"));
    let mut tries = 0;
    while read(&comm) != "shard-0" {
        tries += 1;
        assert!(tries < 500, "child never renamed itself");
        std::thread::sleep(POLL);
    }
    let before = allowed_cpus(pid);
    // A core this test may use: the first one it is allowed on.
    let core: String = before.chars().take_while(char::is_ascii_digit).collect();
    // Dry run: reports, changes nothing.
    let r = run("pin-shards", &["--pid", &pid.to_string(), "--cores", &core, "--dry-run"], None);
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stdout.contains("1 shard thread(s)"), "{}", r.text());
    if before == core {
        assert!(r.stdout.contains(&format!("already on core(s) {core}")), "{}", r.text());
    } else {
        assert!(r.stdout.contains(&format!("would run: taskset -p -c {core} {pid}")), "{}", r.text());
    }
    assert_eq!(allowed_cpus(pid), before, "--dry-run changed the affinity");
    // Real run, on our own child (no root needed): the fake root only supplies
    // the online cores and lifts the root check; threads come from the real /proc.
    let root = scratch("pin");
    write(&root.join("sys/devices/system/cpu/online"), &read(Path::new("/sys/devices/system/cpu/online")));
    if Command::new("taskset").arg("-V").output().is_err() {
        eprintln!("skipped the real run: no taskset");
        return;
    }
    let r = run("pin-shards", &["--pid", &pid.to_string(), "--cores", &core], Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert_eq!(allowed_cpus(pid), core);
    let r = run("pin-shards", &["--pid", &pid.to_string(), "--cores", &core], Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stdout.contains("nothing to change"), "second run: {}", r.text());
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn rps_on_a_fake_tree() {
    let root = fake_root();
    let q = root.join("sys/class/net/fake0/queues");
    let files = [
        q.join("rx-0/rps_cpus"),
        q.join("rx-1/rps_cpus"),
        q.join("rx-0/rps_flow_cnt"),
        q.join("rx-1/rps_flow_cnt"),
        q.join("tx-0/xps_cpus"),
        q.join("tx-1/xps_cpus"),
        root.join("proc/sys/net/core/rps_sock_flow_entries"),
    ];
    let before = snapshot(&files);
    let args = ["--dev", "fake0", "--cores", "2,3"];
    let r = run("rps", &[&args[..], &["--dry-run"]].concat(), Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stdout.contains("7 change(s) would be made"), "{}", r.text());
    assert_eq!(snapshot(&files), before, "--dry-run wrote");

    let r = run("rps", &args, Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    let got: Vec<String> = files.iter().map(|f| read(f)).collect();
    assert_eq!(got, ["c", "c", "16384", "16384", "4", "8", "32768"], "{}", r.text());
    let r = run("rps", &args, Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stdout.contains("nothing to change"), "second run: {}", r.text());

    let r = run("rps", &["--dev", "fake0", "--off"], Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    let got: Vec<String> = files.iter().map(|f| read(f)).collect();
    assert_eq!(got, ["0", "0", "0", "0", "4", "8", "32768"], "{}", r.text());
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn irq_affinity_on_a_fake_tree() {
    let root = fake_root();
    let list = |n: u32| root.join(format!("proc/irq/{n}/smp_affinity_list"));
    let args = ["--dev", "fake0", "--cores", "0,1"];
    let r = run("irq-affinity", &[&args[..], &["--dry-run"]].concat(), Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stdout.contains("fake0: 2 IRQ(s)"), "{}", r.text());
    assert_eq!(read(&list(40)), "0-3", "--dry-run wrote");

    let r = run("irq-affinity", &args, Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert_eq!([read(&list(40)), read(&list(41)), read(&list(42))], ["0", "1", "0-3"], "{}", r.text());
    let r = run("irq-affinity", &args, Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stdout.contains("nothing to change"), "second run: {}", r.text());

    let r = run("irq-affinity", &["--dev", "fake0", "--cores", "3", "--match", "^nvme"], Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert_eq!(read(&list(42)), "3", "{}", r.text());
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn pin_shards_isolates_irqs_on_a_fake_tree() {
    let root = fake_root();
    let mask = |n: &str| root.join(format!("proc/irq/{n}"));
    let files: Vec<PathBuf> =
        ["40/smp_affinity", "42/smp_affinity", "43/smp_affinity", "default_smp_affinity"]
            .iter()
            .map(|f| mask(f))
            .collect();
    let before = snapshot(&files);
    let args = ["--cores", "2,3", "--isolate-irqs", "--irqs-only"];
    let r = run("pin-shards", &[&args[..], &["--dry-run"]].concat(), Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stdout.contains("5 change(s) would be made"), "{}", r.text());
    assert_eq!(snapshot(&files), before, "--dry-run wrote");

    let r = run("pin-shards", &args, Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    // 0-3 keeps 0-1; 43 had only shard cores (2-3) and moves to the others.
    let got: Vec<String> = files.iter().map(|f| read(f)).collect();
    assert_eq!(got, ["3", "3", "3", "3"], "{}", r.text());
    let r = run("pin-shards", &args, Some(&root));
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(r.stdout.contains("nothing to change"), "second run: {}", r.text());

    // Shards on every core leave nowhere for IRQs.
    let r = run("pin-shards", &["--cores", "0-3", "--isolate-irqs", "--irqs-only"], Some(&root));
    assert_eq!(r.code, Some(1), "{}", r.text());
    assert!(r.stderr.contains("leave at least one core for IRQs"), "{}", r.text());
    let _ = fs::remove_dir_all(&root);
}
