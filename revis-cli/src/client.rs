//! THE way to reach the daemon: every command gets its `RevisClient` from `connect` (or, for
//! `daemon status|stop`, `connect_existing`), so none can skip the version handshake.
//! It starts revisd when nothing answers and replaces an idle daemon that speaks another
//! protocol. It does not interpret any other RPC.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use revis_proto::v1::revis_client::RevisClient;
use revis_proto::v1::{HelloReply, HelloRequest, ShutdownRequest};
use revis_proto::{PROTOCOL_VERSION, build_info};
use tokio::net::UnixStream;
use tokio::time::{Instant, sleep, timeout};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::CliError;
use crate::home::Home;
use crate::launch;

pub type Client = RevisClient<Channel>;

/// How long a running daemon may take to answer `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-attempt Hello timeout while a freshly started daemon comes up.
const STARTUP_HELLO_TIMEOUT: Duration = Duration::from_secs(1);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const START_DEADLINE: Duration = Duration::from_secs(10);
const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// After our revisd exits early, another client's daemon may be the one coming up: wait this
/// long for it before reporting the failure.
const LOST_RACE_GRACE: Duration = Duration::from_secs(2);

pub struct Connection {
    pub client: Client,
    pub hello: HelloReply,
    /// True when this call started the daemon.
    pub started: bool,
}

#[expect(clippy::large_enum_variant, reason = "one short-lived value per probe")]
enum Probe {
    /// No socket, or a stale one (connection refused).
    Absent,
    /// Something accepted the connection but did not answer Hello in time.
    Silent,
    Ready(Client, HelloReply),
}

/// Connects to the daemon of `home`, starting it when nothing answers. Guarantees the daemon
/// speaks our protocol.
pub async fn connect(home: &Home) -> Result<Connection, CliError> {
    let socket = home.socket();
    match probe(&socket, HELLO_TIMEOUT).await? {
        Probe::Ready(mut client, hello) => match meeting(&hello, launch::sibling_revisd().is_some()) {
            Meeting::Same => return Ok(Connection { client, hello, started: false }),
            // Another build that speaks our protocol and is busy (or, with no revisd beside this
            // revis, the one there is) keeps running; the user learns which binary answers (two
            // installs of revis share one state home).
            Meeting::OtherBuild => {
                eprintln!("{}", other_build_note(&hello));
                return Ok(Connection { client, hello, started: false });
            }
            Meeting::OtherProtocolBusy => {
                return Err(CliError::Runtime(format!(
                    "revisd {} (protocol {}) is running with active sessions; stop them or run `revis daemon stop`",
                    hello.version, hello.protocol
                )));
            }
            // An idle daemon of another build is replaced by the revisd beside this revis: its
            // state is on disk and its training runs in tmux, so nothing is lost.
            Meeting::ReplaceIdle => {
                eprintln!(
                    "note: replacing the idle revisd {}{} with this revis's {}",
                    build_info::describe(&hello.version, &hello.commit, &hello.commit_date),
                    from(&hello),
                    build_info::long_version()
                );
                request_shutdown(&mut client).await?;
                wait_until_gone(home, Some(hello.pid)).await?;
            }
        },
        Probe::Silent => return Err(silent(home)),
        Probe::Absent => {}
    }
    start(home).await
}

/// What a running daemon's Hello means for this revis.
#[derive(Debug, PartialEq, Eq)]
enum Meeting {
    /// The same build: used as is.
    Same,
    /// Another build speaking our protocol, with sessions running or no revisd of ours to put
    /// in its place: used, with a note.
    OtherBuild,
    /// Another protocol, with sessions running: refused.
    OtherProtocolBusy,
    /// Another build or protocol, idle: stopped, and ours started.
    ReplaceIdle,
}

/// `ours`: a revisd lies beside this revis. Without one, the revisd that would be started is
/// whatever PATH finds, likely the very build that runs: replacing it would restart the daemon
/// on every command.
fn meeting(hello: &HelloReply, ours: bool) -> Meeting {
    let busy = hello.active_sessions > 0;
    match (hello.protocol == PROTOCOL_VERSION, same_build(hello), busy) {
        (true, true, _) => Meeting::Same,
        (true, false, true) => Meeting::OtherBuild,
        (true, false, false) if !ours => Meeting::OtherBuild,
        (false, _, true) => Meeting::OtherProtocolBusy,
        (_, _, false) => Meeting::ReplaceIdle,
    }
}

/// The daemon is the build this revis is: same version, same commit.
pub fn same_build(hello: &HelloReply) -> bool {
    hello.version == build_info::VERSION && hello.commit == build_info::COMMIT
}

/// What a user is told when this revis talks to a revisd of another build.
pub fn other_build_note(hello: &HelloReply) -> String {
    format!(
        "note: revisd {}{} answers, and this revis is {}; it keeps running while it has \
         sessions or this revis has no revisd beside it (`revis daemon stop` lets the next \
         command start another)",
        build_info::describe(&hello.version, &hello.commit, &hello.commit_date),
        from(hello),
        build_info::long_version()
    )
}

fn from(hello: &HelloReply) -> String {
    if hello.executable.is_empty() { String::new() } else { format!(" ({})", hello.executable) }
}

/// Connects without starting anything and without the protocol check (so `daemon status` and
/// `daemon stop` also work on an older daemon). `None` when nothing answers.
pub async fn connect_existing(home: &Home) -> Result<Option<Connection>, CliError> {
    match probe(&home.socket(), HELLO_TIMEOUT).await? {
        Probe::Ready(client, hello) => Ok(Some(Connection { client, hello, started: false })),
        Probe::Silent => Err(silent(home)),
        Probe::Absent => Ok(None),
    }
}

/// Asks the daemon to exit. A connection that drops while it does so is success.
pub async fn request_shutdown(client: &mut Client) -> Result<(), CliError> {
    match client.shutdown(ShutdownRequest {}).await {
        Ok(_) => Ok(()),
        Err(status) if is_disconnect(&status) => Ok(()),
        Err(status) => Err(status.into()),
    }
}

/// Waits until the socket stops accepting connections and, when its pid is known, the daemon
/// process has exited: it removes its socket before it lets go of its pid lock, and a daemon
/// started in between would find the lock still held.
pub async fn wait_until_gone(home: &Home, pid: Option<u32>) -> Result<(), CliError> {
    let socket = home.socket();
    let deadline = Instant::now() + STOP_DEADLINE;
    loop {
        match UnixStream::connect(&socket).await {
            Err(e) if is_absent(&e) && !pid.is_some_and(process_alive) => return Ok(()),
            Err(e) if is_absent(&e) && Instant::now() < deadline => sleep(POLL_INTERVAL).await,
            Err(e) if is_absent(&e) => {
                return Err(CliError::Runtime(format!(
                    "revisd (pid {}) has closed its socket but is still running {} s after it was asked to stop",
                    pid.unwrap_or_default(),
                    STOP_DEADLINE.as_secs()
                )));
            }
            Err(source) => return Err(CliError::Connect { socket, source }),
            Ok(_) if Instant::now() >= deadline => {
                return Err(CliError::Runtime(format!(
                    "revisd is still answering on {} {} s after it was asked to stop",
                    socket.display(),
                    STOP_DEADLINE.as_secs()
                )));
            }
            Ok(_) => sleep(POLL_INTERVAL).await,
        }
    }
}

/// Stream errors that mean "the daemon went away" rather than "the daemon said no".
pub fn is_disconnect(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted)
}

/// Whether process `pid` still exists (its `/proc` entry; a zombie counts as gone).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command's closing parenthesis: `Z` is a zombie.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn is_absent(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused)
}

fn silent(home: &Home) -> CliError {
    CliError::DaemonStart {
        message: format!(
            "revisd at {} accepted the connection but did not answer within {} s",
            home.socket().display(),
            HELLO_TIMEOUT.as_secs()
        ),
        log: home.log_file(),
    }
}

async fn start(home: &Home) -> Result<Connection, CliError> {
    let socket = home.socket();
    let mut child = launch::spawn_daemon(home)?;
    let mut deadline = Instant::now() + START_DEADLINE;
    let mut exited: Option<ExitStatus> = None;
    loop {
        if let Probe::Ready(client, hello) = probe(&socket, STARTUP_HELLO_TIMEOUT).await? {
            reap_in_background(child);
            if hello.protocol != PROTOCOL_VERSION {
                return Err(CliError::Runtime(format!(
                    "revisd {} at {} speaks protocol {}, this revis needs {}",
                    hello.version,
                    socket.display(),
                    hello.protocol,
                    PROTOCOL_VERSION
                )));
            }
            if !same_build(&hello) {
                // The revisd that was found is not this revis's build (none beside it, another
                // first on PATH).
                eprintln!(
                    "note: started revisd {}{}, and this revis is {}",
                    build_info::describe(&hello.version, &hello.commit, &hello.commit_date),
                    from(&hello),
                    build_info::long_version()
                );
            }
            return Ok(Connection { client, hello, started: exited.is_none() });
        }
        if exited.is_none() {
            exited = child.try_wait().map_err(|e| CliError::io("cannot watch revisd", e))?;
            if exited.is_some() {
                deadline = deadline.min(Instant::now() + LOST_RACE_GRACE);
            }
        }
        if Instant::now() >= deadline {
            let message = match exited {
                Some(status) => format!("revisd exited during startup ({status})"),
                None => {
                    // Ours never answered: do not leave it holding the pid lock.
                    let _ = child.kill();
                    reap_in_background(child);
                    format!("revisd did not answer within {} s", START_DEADLINE.as_secs())
                }
            };
            return Err(CliError::DaemonStart { message, log: home.log_file() });
        }
        sleep(POLL_INTERVAL).await;
    }
}

/// The daemon outlives us; a waiting thread keeps it from lingering as a zombie while a
/// long-running command (`watch`) is still alive.
fn reap_in_background(mut child: Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

async fn probe(socket: &Path, hello_timeout: Duration) -> Result<Probe, CliError> {
    // A plain connect first tells "nobody home" apart from real errors (permissions, ...).
    match UnixStream::connect(socket).await {
        Ok(_) => {}
        // A daemon that is starting or going away may reset a connection it never accepted:
        // nobody answers yet, so the caller waits (or starts one) as for an absent daemon.
        Err(e) if is_absent(&e) || e.kind() == ErrorKind::ConnectionReset => return Ok(Probe::Absent),
        Err(source) => {
            return Err(CliError::Connect { socket: socket.to_path_buf(), source });
        }
    }
    let Ok(channel) = channel(socket.to_path_buf()).await else {
        return Ok(Probe::Absent); // it went away between the two connects
    };
    let mut client = RevisClient::new(channel);
    let request = HelloRequest { client_version: build_info::VERSION.to_string(), protocol: PROTOCOL_VERSION };
    match timeout(hello_timeout, client.hello(request)).await {
        Err(_elapsed) => Ok(Probe::Silent),
        Ok(Ok(reply)) => Ok(Probe::Ready(client, reply.into_inner())),
        Ok(Err(status)) if is_disconnect(&status) => Ok(Probe::Absent),
        Ok(Err(status)) => Err(status.into()),
    }
}

async fn channel(socket: PathBuf) -> Result<Channel, tonic::transport::Error> {
    // The URI is required by the API but unused: the connector always dials the socket.
    Endpoint::try_from("http://[::]:50051")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
}

#[cfg(test)]
mod tests;
