//! The control-socket client: connect, say hello, send requests, read responses. Errors are sorted
//! into the three cases a user can act on differently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use schemas::control::{ControlErrorKind, Hello, HelloReply, PROTOCOL_VERSION, Request, Response};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// How long the daemon may take to answer the hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error(
        "nightjard is not running: nothing answers on {}.\nStart it with `nightjard`, or point nightjarctl at the right directory with --runtime-dir.",
        socket.display()
    )]
    NotRunning { socket: PathBuf },
    #[error(
        "incompatible version: {message}\nThis nightjarctl {} speaks control protocol {PROTOCOL_VERSION}; use the nightjarctl that came with the running nightjard, or restart the daemon from this release.",
        env!("CARGO_PKG_VERSION")
    )]
    IncompatibleVersion { message: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CtlError {
    /// Exit code: 3 not running, 4 incompatible version, 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::NotRunning { .. } => 3,
            CtlError::IncompatibleVersion { .. } => 4,
            CtlError::Other(_) => 1,
        }
    }
}

/// A connection that has passed the handshake.
#[derive(Debug)]
pub struct Client {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Client {
    pub async fn connect(socket: &Path) -> Result<Client, CtlError> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    CtlError::NotRunning {
                        socket: socket.to_owned(),
                    }
                }
                _ => CtlError::Other(anyhow::anyhow!(
                    "cannot connect to {}: {e}",
                    socket.display()
                )),
            })?;
        let (read, write) = stream.into_split();
        let mut client = Client {
            lines: BufReader::new(read).lines(),
            write,
        };
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            client: format!("nightjarctl {}", env!("CARGO_PKG_VERSION")),
        };
        // A daemon that refuses the peer (another uid) drops the connection: reset, broken pipe
        // or EOF, depending on timing.
        let refused = || {
            CtlError::Other(anyhow::anyhow!(
                "nightjard closed the connection without answering; it serves only its own user, so check that {} belongs to you",
                socket.display()
            ))
        };
        client.send_json(&hello).await.map_err(|_| refused())?;
        let line = tokio::time::timeout(HELLO_TIMEOUT, client.lines.next_line())
            .await
            .map_err(|_| {
                CtlError::Other(anyhow::anyhow!(
                    "nightjard did not answer the hello within {HELLO_TIMEOUT:?}"
                ))
            })?
            .map_err(|_| refused())?;
        let Some(line) = line else {
            return Err(refused());
        };
        match serde_json::from_str::<HelloReply>(&line) {
            Ok(HelloReply::Welcome(_)) => Ok(client),
            Ok(HelloReply::Error(e)) if e.kind == ControlErrorKind::IncompatibleVersion => {
                Err(CtlError::IncompatibleVersion { message: e.message })
            }
            Ok(HelloReply::Error(e)) => Err(CtlError::Other(anyhow::anyhow!("{}", e.message))),
            Err(_) => Err(CtlError::IncompatibleVersion {
                message: format!("unexpected hello reply: {line}"),
            }),
        }
    }

    pub async fn send(&mut self, request: &Request) -> Result<(), CtlError> {
        self.send_json(request).await
    }

    async fn send_json<T: serde::Serialize>(&mut self, value: &T) -> Result<(), CtlError> {
        let mut bytes = serde_json::to_vec(value).map_err(|e| CtlError::Other(e.into()))?;
        bytes.push(b'\n');
        self.write
            .write_all(&bytes)
            .await
            .map_err(|e| CtlError::Other(e.into()))
    }

    /// The next response, or `None` when the daemon closed the connection.
    pub async fn next(&mut self) -> Result<Option<Response>, CtlError> {
        match self
            .lines
            .next_line()
            .await
            .map_err(|e| CtlError::Other(e.into()))?
        {
            None => Ok(None),
            Some(line) => serde_json::from_str(&line).map(Some).map_err(|e| {
                CtlError::Other(anyhow::anyhow!(
                    "unreadable response from nightjard ({e}): {line}"
                ))
            }),
        }
    }

    /// Send one request and read its single response; daemon errors become `Other`.
    pub async fn call(&mut self, request: &Request) -> Result<Response, CtlError> {
        self.send(request).await?;
        match self.next().await? {
            Some(Response::Error(e)) => {
                Err(CtlError::Other(anyhow::anyhow!("nightjard: {}", e.message)))
            }
            Some(response) => Ok(response),
            None => Err(CtlError::Other(anyhow::anyhow!(
                "nightjard closed the connection"
            ))),
        }
    }
}
