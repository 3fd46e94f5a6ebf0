//! Bad configuration stops the binary with one clear line and a non-zero exit.

use std::time::{Duration, Instant};

use crate::common::{binary_command, stderr};

fn serve_with(file: Option<&str>, envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let (mut cmd, dir) = binary_command(envs);
    if let Some(text) = file {
        std::fs::write(dir.path().join("switchyard.toml"), text).expect("write config");
    }
    let out = cmd.arg("serve").output().expect("run");
    (out.status.code(), stderr(&out))
}

fn assert_one_line(err: &str) {
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn unknown_key_names_file_key_and_line() {
    let (code, err) = serve_with(
        Some("listen = \"127.0.0.1:0\"\n[database]\nmax_conections = 4\n"),
        &[],
    );
    assert_eq!(code, Some(1));
    assert_one_line(&err);
    assert!(err.contains("switchyard.toml:3:"), "{err}");
    assert!(err.contains("unknown field `max_conections`"), "{err}");
}

#[test]
fn missing_env_reference_is_named() {
    let (code, err) = serve_with(Some("master_key = \"${SY_TEST_MISSING_MASTER}\"\n"), &[]);
    assert_eq!(code, Some(1));
    assert_one_line(&err);
    assert!(
        err.contains("SY_TEST_MISSING_MASTER") && err.contains("master_key"),
        "{err}"
    );
}

#[test]
fn env_reference_resolves_when_set() {
    // The reference resolves; the run then stops at the unusable listen address, proving the
    // file was read with the variable's value.
    let (code, err) = serve_with(
        Some("listen = \"${SY_TEST_LISTEN}\"\n"),
        &[("SY_TEST_LISTEN", "not-an-address")],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("`not-an-address` is not an address"), "{err}");
}

#[test]
fn unreachable_postgres_fails_fast_without_leaking_the_password() {
    let started = Instant::now();
    let (code, err) = serve_with(
        None,
        &[
            ("DATABASE_URL", "postgres://sy:hunter2@127.0.0.1:1/sy"),
            ("SWITCHYARD_DATABASE__CONNECT_TIMEOUT", "2s"),
        ],
    );
    assert_eq!(code, Some(1));
    assert_one_line(&err);
    assert!(
        err.contains("cannot connect to the database at postgres://sy:***@127.0.0.1:1/sy"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn unknown_environment_setting_is_named() {
    let (code, err) = serve_with(None, &[("SWITCHYARD_LISTN", "127.0.0.1:0")]);
    assert_eq!(code, Some(1));
    assert_one_line(&err);
    assert!(err.contains("SWITCHYARD_LISTN"), "{err}");
}

#[test]
fn explicit_config_file_must_exist() {
    let (mut cmd, _dir) = binary_command(&[("SWITCHYARD_CONFIG", "/nonexistent/sy.toml")]);
    let out = cmd.arg("migrate").output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_one_line(&err);
    assert!(err.contains("/nonexistent/sy.toml"), "{err}");
}

#[test]
fn unparsable_toml_names_the_line() {
    let (code, err) = serve_with(Some("listen = \"127.0.0.1:0\"\nthis is not toml\n"), &[]);
    assert_eq!(code, Some(1));
    assert_one_line(&err);
    assert!(err.contains("switchyard.toml:2:"), "{err}");
}
