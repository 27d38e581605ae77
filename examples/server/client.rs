//! A minimal blocking HTTP/1.1 client with keep-alive, for the server's tests
//! and the load generator (no TLS, no redirects; `Content-Length` and chunked
//! responses).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive connection to a server.
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    /// Bearer token sent with every request.
    pub token: Option<String>,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl Client {
    /// A client of `addr` (connects lazily).
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            conn: None,
            token: None,
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> io::Result<Reply> {
        self.request("GET", path, &[], &[])
    }

    /// `POST path` with a body of `content_type`.
    pub fn post(&mut self, path: &str, content_type: &str, body: &[u8]) -> io::Result<Reply> {
        self.request("POST", path, &[("Content-Type", content_type)], body)
    }

    /// Sends a request, reconnecting once if a kept-alive connection was closed.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Reply> {
        match self.try_request(method, path, headers, body) {
            Ok(r) => Ok(r),
            Err(_) if self.conn.is_none() => self.try_request(method, path, headers, body),
            Err(e) => Err(e),
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Reply> {
        let reused = self.conn.is_some();
        let conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let s = TcpStream::connect(self.addr)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(60)))?;
                BufReader::new(s)
            }
        };
        let result = Self::exchange(
            conn,
            &self.addr,
            self.token.as_deref(),
            method,
            path,
            headers,
            body,
        );
        match result {
            Ok((reply, conn, keep)) => {
                if keep {
                    self.conn = Some(conn);
                }
                Ok(reply)
            }
            // A reused connection may have been closed by the server: retry on a new one.
            Err(e) if reused => {
                self.conn = None;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn exchange(
        mut conn: BufReader<TcpStream>,
        addr: &SocketAddr,
        token: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<(Reply, BufReader<TcpStream>, bool)> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        {
            let s = conn.get_mut();
            s.write_all(head.as_bytes())?;
            s.write_all(body)?;
            s.flush()?;
        }
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                let n =
                    usize::from_str_radix(line.trim(), 16).map_err(|_| bad("bad chunk size"))?;
                if n == 0 {
                    line.clear();
                    conn.read_line(&mut line)?;
                    break;
                }
                let start = body.len();
                body.resize(start + n, 0);
                conn.read_exact(body.get_mut(start..).ok_or_else(|| bad("chunk"))?)?;
                line.clear();
                conn.read_line(&mut line)?;
            }
        } else if let Some(n) = get("content-length") {
            let n: usize = n.parse().map_err(|_| bad("bad content-length"))?;
            body.resize(n, 0);
            conn.read_exact(&mut body)?;
        }
        let keep = !get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        Ok((
            Reply {
                status,
                headers,
                body,
            },
            conn,
            keep,
        ))
    }
}
