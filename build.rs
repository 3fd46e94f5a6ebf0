//! Fetches the dashboard's front-end assets from the npm registry at build time (`npm ci` into
//! `OUT_DIR`, pinned by package-lock.json) so they are embedded in the binary but never
//! committed. Without npm (or the registry) the build still succeeds with a cargo warning and
//! the dashboard is served without htmx (its pages work without JavaScript).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=package.json");
    println!("cargo:rerun-if-changed=package-lock.json");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    let target = out.join("htmx.min.js");
    if let Err(why) = fetch(&out, &target) {
        println!("cargo:warning=dashboard assets: {why}; serving pages without htmx");
        if !target.exists() {
            let _ = std::fs::write(&target, b"");
        }
    }
}

fn fetch(out: &Path, target: &Path) -> Result<(), String> {
    let dir = out.join("npm");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(file, dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
    }
    let status = Command::new("npm")
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("cannot run npm ({e})"))?;
    if !status.success() {
        return Err(format!("npm ci failed ({status})"));
    }
    let built = dir.join("node_modules/htmx.org/dist/htmx.min.js");
    std::fs::copy(&built, target).map_err(|e| format!("{}: {e}", built.display()))?;
    Ok(())
}
