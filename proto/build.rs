//! Generates the tonic/prost code and the descriptor set used for server reflection.
//! protoc comes from `protoc-bin-vendored`, so no system protoc is needed.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY of intent: build scripts are single-threaded; prost-build reads PROTOC.
    unsafe_set_protoc(&protoc);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("revis_descriptor.bin"))
        .type_attribute(".revis.v1", "#[derive(serde::Serialize)]")
        .compile_protos(&["revis/v1/revis.proto"], &["."])?;
    println!("cargo:rerun-if-changed=revis/v1/revis.proto");
    Ok(())
}

#[allow(unsafe_code)]
fn unsafe_set_protoc(path: &std::path::Path) {
    // Edition 2024 marks set_var unsafe; the build script has no other threads.
    unsafe { std::env::set_var("PROTOC", path) };
}
