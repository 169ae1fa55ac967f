//! `rust-version` states the true minimum: the highest `rust-version` among the locked
//! dependencies, which no toolchain older than it can build.

use std::process::Command;

fn version(text: &str) -> (u64, u64) {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().expect("numeric version"));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn the_declared_rust_version_is_the_locked_dependencies_minimum() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let resolved: std::collections::HashSet<&str> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let mut needed = (0, 0);
    let mut by = String::new();
    for p in meta["packages"].as_array().expect("packages") {
        let id = p["id"].as_str().unwrap_or_default();
        if members.contains(&id) || !resolved.contains(id) {
            continue;
        }
        if let Some(rv) = p["rust_version"].as_str() {
            if version(rv) > needed {
                needed = version(rv);
                by = format!("{} {}", p["name"], p["version"]);
            }
        }
    }
    for p in meta["packages"].as_array().expect("packages") {
        if !members.contains(&p["id"].as_str().unwrap_or_default()) {
            continue;
        }
        let declared = p["rust_version"]
            .as_str()
            .unwrap_or_else(|| panic!("{} declares no rust-version", p["name"]));
        assert_eq!(
            version(declared),
            needed,
            "{} declares rust-version {declared}, but {by} needs {}.{}",
            p["name"],
            needed.0,
            needed.1
        );
    }
}
