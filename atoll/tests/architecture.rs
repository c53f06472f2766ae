//! Keeps the crate dependency direction of STYLE.md: a frontend never
//! imports blockd or another frontend, the resource layer knows only db,
//! and db depends on no atoll crate.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The allowed edges between workspace crates (normal and dev dependencies).
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let frontends = ["archipelago", "identity", "db"];
    BTreeMap::from([
        (
            "atoll",
            BTreeSet::from([
                "swift-api",
                "glance-api",
                "cinder-api",
                "blockd",
                "identity",
                "archipelago",
                "db",
            ]),
        ),
        ("swift-api", BTreeSet::from(frontends)),
        ("glance-api", BTreeSet::from(frontends)),
        ("cinder-api", BTreeSet::from(frontends)),
        ("blockd", BTreeSet::from(["archipelago", "db"])),
        ("identity", BTreeSet::from(["db"])),
        ("archipelago", BTreeSet::from(["db"])),
        ("db", BTreeSet::new()),
    ])
}

#[test]
fn crate_edges_follow_the_house_direction() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: BTreeSet<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let allowed = allowed();
    let mut violations = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let Some(ok) = allowed.get(name) else {
            violations.push(format!("{name} is not a crate of the design"));
            continue;
        };
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap();
            if members.contains(dep) && !ok.contains(dep) {
                violations.push(format!("{name} -> {dep}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "edges outside STYLE.md's picture: {violations:?}"
    );
}
