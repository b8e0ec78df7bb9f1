//! Builds the web UI (`web/`, Preact + TypeScript, bundled by esbuild) and embeds it in the
//! binary, so that `cargo run -- serve` serves it with nothing else to install or start.
//! Needs Node 20+ and npm; `npm ci` runs once when `web/node_modules` is missing.

// A build script reads cargo's environment and reports a failure by panicking with a message.
#![allow(
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = root.join("web");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("web");
    for watched in [
        "src",
        "build.mjs",
        "index.html",
        "package.json",
        "package-lock.json",
    ] {
        println!("cargo::rerun-if-changed=web/{watched}");
    }
    if !web.join("node_modules").exists() {
        npm(&web, &["ci", "--no-audit", "--no-fund"]);
    }
    let outdir = out.to_str().expect("a UTF-8 build path");
    npm(
        &web,
        &["run", "build", "--silent", "--", "--outdir", outdir],
    );
    write_manifest(&out);
}

fn npm(dir: &Path, args: &[&str]) {
    let status = Command::new("npm").args(args).current_dir(dir).status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "`npm {}` in web/ failed ({status}); the web UI is part of the binary",
            args.join(" ")
        ),
        Err(err) => panic!(
            "cannot run npm ({err}): building boothhub needs Node 20+ and npm for the web UI"
        ),
    }
}

/// `web_assets.rs`: every built file as (URL path under `/app/`, content type, bytes).
fn write_manifest(out: &Path) {
    let mut files = vec![];
    collect(out, out, &mut files);
    files.sort();
    let mut code = String::from("pub static ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for (relative, path) in &files {
        let kind = match Path::new(relative).extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("json") => "application/json",
            Some("ico") => "image/x-icon",
            _ => "application/octet-stream",
        };
        code.push_str(&format!(
            "    ({relative:?}, {kind:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let manifest = out.parent().expect("OUT_DIR").join("web_assets.rs");
    std::fs::write(&manifest, code).expect("writing web_assets.rs");
}

fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(base, &path, files);
        } else if let Ok(relative) = path.strip_prefix(base) {
            let relative = relative.to_string_lossy().replace('\\', "/");
            files.push((relative, path));
        }
    }
}
