"""Drives revisd from Python's grpcio, the way a user's script would (see docs/api.md).

Run by tests/tests/grpc_python.rs with the private daemon's socket. Prints JSON lines on stdout
for the Rust side to check: one `{"event": ...}` per watched event as it arrives (so the test can
see the stream is attached), then one `{"result": ...}`. Stubs are generated from proto/revis/v1/revis.proto at run
time with grpcio-tools, except for Hello, whose descriptors come from server reflection only.

usage: grpc_client.py SOCKET PROTO_ROOT PROJECT_DIR SESSION
"""

import json
import sys
import tempfile

PIP = (
    "python3 -m pip install grpcio==1.85.4 grpcio-tools==1.85.4 "
    "grpcio-reflection==1.85.1 protobuf==7.36.2"
)

try:
    import grpc
    from google.protobuf.descriptor_pool import DescriptorPool
    from google.protobuf.message_factory import GetMessageClass
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )
    from grpc_tools import protoc
except ImportError as e:
    sys.exit(f"missing Python package ({e}); install with: {PIP}")

# h2 (under tonic) resets any stream whose :authority is not a host name, and grpcio sends the
# %-encoded socket path by default; no server option changes that, so clients name `localhost`.
OPTIONS = [("grpc.default_authority", "localhost")]
DEADLINE = 30  # seconds, per unary call
WATCH_DEADLINE = 90  # seconds, for the whole stream


def stubs(proto_root, out_dir):
    """Compiles revis.proto into out_dir and imports the messages and the service stub."""
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        "revis/v1/revis.proto",
    ]
    if protoc.main(args) != 0:
        sys.exit(f"grpc_tools.protoc failed on {proto_root}/revis/v1/revis.proto")
    sys.path.insert(0, out_dir)
    from revis.v1 import revis_pb2, revis_pb2_grpc

    return revis_pb2, revis_pb2_grpc


def default_options_outcome(target):
    """What a channel with grpcio's defaults gets: docs/api.md says it is refused."""
    with grpc.insecure_channel(target) as channel:
        try:
            channel.unary_unary("/revis.v1.Revis/Hello")(b"", timeout=DEADLINE)
            return {"ok": True}
        except grpc.RpcError as e:
            return {"ok": False, "code": e.code().name, "details": e.details()}


def hello_by_reflection(channel):
    """Calls Hello knowing nothing of revis.proto: service, method and message types all come
    from the daemon's reflection service."""
    database = ProtoReflectionDescriptorDatabase(channel)
    services = list(database.get_services())
    pool = DescriptorPool(database)
    method = pool.FindServiceByName("revis.v1.Revis").methods_by_name["Hello"]
    request_type = GetMessageClass(method.input_type)
    reply_type = GetMessageClass(method.output_type)
    call = channel.unary_unary(
        f"/revis.v1.Revis/{method.name}",
        request_serializer=request_type.SerializeToString,
        response_deserializer=reply_type.FromString,
    )
    reply = call(request_type(client_version="grpc_client.py", protocol=1), timeout=DEADLINE)
    return {
        "services": services,
        "input_type": method.input_type.full_name,
        "version": reply.version,
        "protocol": reply.protocol,
        "pid": reply.pid,
        "home": reply.home,
    }


def word(enum, value, prefix):
    """A protocol enum value as its word: SESSION_STATE_COMPLETED -> "completed"."""
    return enum.Name(value).removeprefix(prefix).lower()


def main():
    socket, proto_root, project_dir, session = sys.argv[1:5]
    target = f"unix:{socket}"
    with tempfile.TemporaryDirectory(prefix="revis-py-") as out_dir:
        pb, pb_grpc = stubs(proto_root, out_dir)
        result = {"grpcio": grpc.__version__, "default_options": default_options_outcome(target)}
        with grpc.insecure_channel(target, options=OPTIONS) as channel:
            result["hello"] = hello_by_reflection(channel)
            revis = pb_grpc.RevisStub(channel)

            listed = revis.ListSessions(pb.ListSessionsRequest(), timeout=DEADLINE)
            result["list"] = [
                {"name": s.name, "state": word(pb.SessionState, s.state, "SESSION_STATE_")}
                for s in listed.sessions
            ]

            detail = revis.GetSession(
                pb.GetSessionRequest(name=session, project_dir=project_dir), timeout=DEADLINE
            )
            result["show"] = {
                "name": detail.summary.name,
                "project": detail.summary.project,
                "primary_metric": detail.summary.primary_metric,
                "iterations": [i.number for i in detail.iterations],
            }

            # Replays from the first event and follows live until the session ends.
            stream = revis.Watch(
                pb.WatchRequest(name=session, project_dir=project_dir, after_seq=0),
                timeout=WATCH_DEADLINE,
            )
            for e in stream:
                event = {"seq": e.seq, "kind": e.kind}
                if e.HasField("final_state"):
                    event["final_state"] = word(pb.SessionState, e.final_state, "SESSION_STATE_")
                if e.HasField("iteration"):
                    event["iteration"] = e.iteration
                print(json.dumps({"event": event}), flush=True)
    print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    main()
