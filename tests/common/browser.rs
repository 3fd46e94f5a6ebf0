//! What the headless-Chromium tests need: Debian's Chromium, Node and tests/e2e's npm packages.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Chromium binary (`CHROMIUM_PATH`, else Debian's).
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// The browser scenarios and their npm packages.
pub fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// Why the browser tests cannot run here, if they cannot.
pub fn missing_tools() -> Option<String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    if !e2e_dir().join("node_modules/playwright-core").is_dir() {
        return Some("tests/e2e/node_modules is missing (run `npm ci` in tests/e2e)".into());
    }
    if !chromium().exists() {
        return Some(format!("{} is missing", chromium().display()));
    }
    None
}
