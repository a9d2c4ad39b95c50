//! Generates the tonic/prost code and the descriptor set used for server reflection.
//! protoc comes from `protoc-bin-vendored`, so no system protoc is needed.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY of intent: build scripts are single-threaded; prost-build reads PROTOC.
    unsafe_set_protoc(&protoc);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("revis_descriptor.bin"))
        .type_attribute(".revis.v1", "#[derive(serde::Serialize)]")
        // `revis show --json` keeps the summary's fields at the top level of a session.
        .field_attribute(".revis.v1.SessionDetail.summary", "#[serde(flatten)]");
    // Enum fields are i32 in prost; the CLI's JSON writes them as their words ("running").
    for (field, with) in ENUM_FIELDS {
        config = config.field_attribute(field, format!("#[serde(serialize_with = \"crate::words::{with}\")]"));
    }
    config.compile_protos(&["revis/v1/revis.proto"], &["."])?;
    println!("cargo:rerun-if-changed=revis/v1/revis.proto");
    Ok(())
}

/// Every enum field of the protocol and the serializer that writes it as its word.
const ENUM_FIELDS: &[(&str, &str)] = &[
    (".revis.v1.SessionSummary.state", "session_state"),
    (".revis.v1.SessionSummary.stop_reason", "stop_reason"),
    (".revis.v1.SessionSummary.phase", "phase"),
    (".revis.v1.SessionSummary.advisor", "advisor"),
    (".revis.v1.Iteration.state", "iteration_state"),
    (".revis.v1.Iteration.outcome", "outcome"),
    (".revis.v1.Iteration.phase", "phase"),
    (".revis.v1.Event.final_state", "opt_session_state"),
    (".revis.v1.SlotTrial.phase", "phase_value"),
];

#[allow(unsafe_code)]
fn unsafe_set_protoc(path: &std::path::Path) {
    // Edition 2024 marks set_var unsafe; the build script has no other threads.
    unsafe { std::env::set_var("PROTOC", path) };
}
