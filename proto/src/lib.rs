//! The one contract between the `revis` CLI and the `revisd` daemon.

/// Protocol number checked by the `Hello` handshake. Bump on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

pub mod v1 {
    #![allow(clippy::all)]
    tonic::include_proto!("revis.v1");

    /// Encoded descriptor set for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("revis_descriptor");
}
