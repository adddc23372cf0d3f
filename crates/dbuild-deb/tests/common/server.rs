//! A tiny HTTP/1.1 server on 127.0.0.1 for tests: serves a map of paths to canned responses
//! and counts requests. Each response closes the connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub enum Reply {
    Ok(Vec<u8>),
    /// Advertise the full length but send only `sent` bytes, then close.
    Truncated {
        body: Vec<u8>,
        sent: usize,
    },
    Status(u16),
}

#[derive(Clone, Default)]
pub struct Server {
    pub routes: Arc<Mutex<HashMap<String, Reply>>>,
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
    pub base: String,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = Server { base, ..Default::default() };
        let s = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    *s.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let reply = s.routes.lock().unwrap().get(&path).cloned().unwrap_or(Reply::Status(404));
                    let (status, body, sent) = match reply {
                        Reply::Ok(b) => {
                            let n = b.len();
                            (200, b, n)
                        }
                        Reply::Truncated { body, sent } => (200, body, sent),
                        Reply::Status(c) => (c, b"no".to_vec(), 2),
                    };
                    let head =
                        format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&body[..sent.min(body.len())]);
                    let _ = stream.flush();
                });
            }
        });
        server
    }

    pub fn put(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_string(), reply);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}
