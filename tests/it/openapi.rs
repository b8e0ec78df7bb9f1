//! `openapi.yaml` describes exactly the routes the hub serves: every route in the code is in
//! the file, every operation in the file is in the code, and the live server answers each.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};

use crate::harness::TestHub;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn documented() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml"))
        .unwrap();
    let spec: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document"
    );
    let paths = spec["paths"].as_mapping().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_mapping().expect("path item");
        for (method, operation) in item {
            let method = method.as_str().unwrap_or("");
            if METHODS.contains(&method) {
                assert!(
                    operation["responses"]
                        .as_mapping()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path:?} lists no responses"
                );
                operations.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    operations
}

/// The `.route("path", get(..).post(..))` calls of `src/http/` and `src/app.rs` (the
/// WebSocket upgrade).
fn served() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("src/http"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.push(root.join("src/app.rs"));
    let mut routes = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(file).unwrap();
        for chunk in source.split(".route(\"").skip(1) {
            let (path, rest) = chunk.split_once('"').unwrap();
            let call = rest.split("\n}").next().unwrap_or(rest);
            let call = call.split(".route(").next().unwrap_or(call);
            for method in METHODS {
                let needle = format!("{method}(");
                let found = call.match_indices(&needle).any(|(at, _)| {
                    at == 0
                        || !call.as_bytes()[at - 1].is_ascii_alphanumeric()
                            && call.as_bytes()[at - 1] != b'_'
                });
                if found {
                    routes.insert((method.to_uppercase(), path.to_owned()));
                }
            }
        }
    }
    routes
}

#[test]
fn the_openapi_file_and_the_router_name_the_same_operations() {
    let documented = documented();
    let served = served();
    assert!(
        served.len() >= 20,
        "the route scan found too little: {served:?}"
    );
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in openapi.yaml: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "in openapi.yaml but not served: {unserved:?}"
    );
}

#[tokio::test]
async fn the_live_hub_answers_every_documented_operation() {
    let hub = TestHub::start();
    let root = hub.root().await;
    for (method, path) in documented() {
        let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = hub.call(method.clone(), &concrete, Some(&root), None).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let fallback =
            status == StatusCode::NOT_FOUND && body["error"]["message"] == "route not found";
        assert!(!fallback, "{method} {path} is not routed");
        assert!(!status.is_server_error(), "{method} {path}: {status}");
    }
}

#[test]
fn the_openapi_file_names_every_error_code_the_hub_answers() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml"))
        .unwrap();
    let spec: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let documented: BTreeSet<&str> = spec["components"]["schemas"]["Error"]["properties"]["error"]
        ["properties"]["code"]["enum"]
        .as_sequence()
        .expect("the Error schema lists its codes")
        .iter()
        .filter_map(|code| code.as_str())
        .collect();
    // Codes of WebSocket `error` messages only, documented with `GET /ws`.
    let websocket_only = ["MALFORMED_MESSAGE", "BAD_STREAM", "TOO_MANY_STREAMS"];
    for code in websocket_only {
        assert!(text.contains(code), "{code} is not documented with GET /ws");
    }
    let answered: BTreeSet<&str> = boothhub_actors::domain::code::ErrorCode::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|code| !websocket_only.contains(code))
        .collect();
    let missing: Vec<_> = answered.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&answered).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "not in openapi.yaml: {missing:?}; in openapi.yaml but never answered: {unknown:?}"
    );
}
