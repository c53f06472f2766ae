//! The committed OpenAPI documents under `openapi/` must equal a fresh
//! dump: regenerate them with `atoll openapi --out openapi`.

use std::process::Command;

#[test]
fn committed_openapi_documents_are_current() {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(["openapi", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let committed = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi");
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let fresh = std::fs::read_to_string(e.path()).unwrap();
        let old = std::fs::read_to_string(format!("{committed}/{name}")).unwrap_or_else(|_| {
            panic!("openapi/{name} is missing: run `atoll openapi --out openapi`")
        });
        assert!(
            fresh == old,
            "openapi/{name} is stale: run `atoll openapi --out openapi` and commit"
        );
        names.push(name);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "identity.json",
            "image.json",
            "object-store.json",
            "volume.json"
        ]
    );
}
