//! Table-driven parser tests over raw captures in `tests/data/sip/`, run
//! through the `tandem sip parse` command exactly as an operator runs it.
//!
//! Each `<name>.sip` has a `<name>.json` holding the subset of the command's
//! JSON that must match; `error_any` lists acceptable reasons where a
//! message has several faults.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn run_parse(files: &[PathBuf]) -> (Option<i32>, Vec<Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("sip")
        .arg("parse")
        .args(files)
        .output()
        .expect("run tandem sip parse");
    let lines = String::from_utf8(out.stdout).expect("utf-8 output");
    let values = lines.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    (out.status.code(), values)
}

/// Compares `expected` (a subset) against `actual`; returns the mismatches.
fn mismatches(expected: &Value, actual: &Value) -> Vec<String> {
    let (Value::Object(exp), Value::Object(act)) = (expected, actual) else {
        return vec!["expectation is not an object".into()];
    };
    let mut out = Vec::new();
    for (key, want) in exp {
        if key == "error_any" {
            let got = act.get("error").cloned().unwrap_or(Value::Null);
            if !want.as_array().is_some_and(|a| a.contains(&got)) {
                out.push(format!("error: want one of {want}, got {got}"));
            }
            continue;
        }
        let got = act.get(key).cloned().unwrap_or(Value::Null);
        if &got != want {
            out.push(format!("{key}: want {want}, got {got}"));
        }
    }
    out
}

fn check_dir(dir: &str, want_exit: i32) {
    let files = fixtures(dir);
    let (code, values) = run_parse(&files);
    assert_eq!(values.len(), files.len(), "one JSON line per file");
    let mut failures = Vec::new();
    for (file, actual) in files.iter().zip(&values) {
        let expect_path = file.with_extension("json");
        let text = std::fs::read_to_string(&expect_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));
        let expected: Value = serde_json::from_str(&text).expect("valid expectation JSON");
        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        assert_eq!(actual["file"], Value::String(file.display().to_string()));
        for m in mismatches(&expected, actual) {
            failures.push(format!("{dir}/{name}: {m}"));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(code, Some(want_exit), "exit status for {dir}");
}

#[test]
fn valid_fixtures() {
    check_dir("valid", 0);
}

#[test]
fn invalid_fixtures() {
    check_dir("invalid", 1);
    for file in fixtures("invalid") {
        let (_, values) = run_parse(std::slice::from_ref(&file));
        assert_eq!(values[0]["valid"], Value::Bool(false), "{}", file.display());
        assert!(values[0]["error"].is_string(), "{}: an invalid message names its error", file.display());
    }
}

#[test]
fn one_invalid_file_fails_the_run() {
    let mut files = fixtures("valid");
    files.truncate(3);
    files.push(fixtures("invalid")[0].clone());
    assert_eq!(run_parse(&files).0, Some(1));
}

#[test]
fn unreadable_file_is_an_error_not_a_panic() {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["sip", "parse", "/nonexistent/tandem-fixture.sip"])
        .output()
        .expect("run tandem");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tandem-fixture.sip"));
}
