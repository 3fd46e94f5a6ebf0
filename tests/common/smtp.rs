//! A minimal SMTP server for tests: accepts every message and keeps what it received. It speaks
//! the plain-text subset of RFC 5321 that a client without TLS uses (EHLO, MAIL, RCPT, DATA,
//! RSET, NOOP, QUIT).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One received message.
#[derive(Clone, Debug, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// The running server.
pub struct SmtpSink {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    /// Starts on a random loopback port.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("smtp addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(socket, store).await;
                });
            }
        });
        SmtpSink { port, received }
    }

    /// What arrived so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.received.lock().expect("smtp store").clone()
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut mail = Mail::default();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if let Some(from) = upper.strip_prefix("MAIL FROM:") {
            mail = Mail {
                from: line[line.len() - from.len()..].trim().to_owned(),
                ..Mail::default()
            };
            b"250 ok\r\n"
        } else if let Some(to) = upper.strip_prefix("RCPT TO:") {
            mail.to
                .push(line[line.len() - to.len()..].trim().to_owned());
            b"250 ok\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            while let Some(l) = lines.next_line().await? {
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                data.push('\n');
            }
            mail.data = data;
            store
                .lock()
                .expect("smtp store")
                .push(std::mem::take(&mut mail));
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 ok\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}
