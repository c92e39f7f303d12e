//! include/toolcall.h is what cbindgen generates from src/ffi/ (set TOOLCALL_UPDATE_HEADER=1
//! to rewrite it after changing the C ABI).

use std::path::PathBuf;

#[test]
fn header_is_up_to_date() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen runs")
        .write(&mut generated);
    let header = crate_dir.join("include/toolcall.h");
    if std::env::var_os("TOOLCALL_UPDATE_HEADER").is_some() {
        std::fs::write(&header, &generated).unwrap();
    }
    let committed = std::fs::read(&header).unwrap_or_default();
    assert!(
        committed == generated,
        "include/toolcall.h is stale: run TOOLCALL_UPDATE_HEADER=1 cargo test --workspace --test c_header"
    );
}
