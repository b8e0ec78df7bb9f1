//! The process's own surface: bad configuration is a clear message and a non-zero exit, never
//! a panic; `--help` lists the subcommands; `check-config` and `migrate` work.

use std::process::Command;

use crate::harness::binary;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("BOOTHHUB_CONFIG", &config)
        .env("BOOTHHUB_DATA_DIR", dir.path().join("data"));
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn bad_configuration_is_explained_without_a_panic() {
    let secret = ("BOOTHHUB_WEBHOOK_SECRET", "0123456789abcdef0123");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![secret, ("BOOTHHUB_LISTEN", "127.0.0.1:70000")],
            "BOOTHHUB_LISTEN",
        ),
        (
            vec![secret, ("BOOTHHUB_LISTEN", "not-an-address")],
            "BOOTHHUB_LISTEN",
        ),
        (vec![secret, ("BOOTHHUB_STORE", "mysql")], "BOOTHHUB_STORE"),
        (vec![], "BOOTHHUB_WEBHOOK_SECRET"),
        (
            vec![("BOOTHHUB_WEBHOOK_SECRET", "short")],
            "BOOTHHUB_WEBHOOK_SECRET",
        ),
        (
            vec![
                secret,
                ("BOOTHHUB_TLS_CERT", "/nonexistent/cert.pem"),
                ("BOOTHHUB_TLS_KEY", "/nonexistent/key.pem"),
                ("BOOTHHUB_LISTEN", "127.0.0.1:0"),
            ],
            "/nonexistent/cert.pem",
        ),
    ];
    for (env, named) in cases {
        let (code, text) = run(&["serve"], &env);
        assert_ne!(code, 0, "{env:?} should fail: {text}");
        assert!(
            text.contains(named),
            "{env:?}: the message should name {named}: {text}"
        );
        assert!(!text.contains("panicked"), "{env:?}: {text}");
    }
}

#[test]
fn a_port_in_use_is_explained() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, text) = run(
        &["serve"],
        &[
            ("BOOTHHUB_WEBHOOK_SECRET", "0123456789abcdef0123"),
            ("BOOTHHUB_LISTEN", &addr),
        ],
    );
    assert_ne!(code, 0);
    assert!(
        text.contains("cannot listen on") && text.contains(&addr),
        "{text}"
    );
}

#[test]
fn help_check_config_and_migrate() {
    let (code, text) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for subcommand in ["serve", "check-config", "migrate", "admin"] {
        assert!(text.contains(subcommand), "{text}");
    }
    let (code, text) = run(
        &["check-config"],
        &[("BOOTHHUB_WEBHOOK_SECRET", "0123456789abcdef0123")],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("ok:") && !text.contains("0123456789abcdef0123"),
        "secrets are hidden: {text}"
    );
    let (code, text) = run(&["migrate"], &[]);
    assert_eq!(code, 0, "{text}");
}
