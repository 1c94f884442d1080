//! Command-line flags (`--key value`, or a bare `--flag`), the fatal-error exit, and the
//! loopback-only check of the target address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

pub(crate) struct Args(pub(crate) HashMap<String, String>);

impl Args {
    pub(crate) fn parse() -> Self {
        let mut m = HashMap::new();
        let mut it = std::env::args().skip(1).peekable();
        while let Some(a) = it.next() {
            let Some(k) = a.strip_prefix("--") else {
                die(&format!("unexpected argument {a}"));
            };
            let v = match it.peek() {
                Some(n) if !n.starts_with("--") => it.next().unwrap_or_default(),
                _ => "true".to_owned(),
            };
            m.insert(k.to_owned(), v);
        }
        Self(m)
    }
    pub(crate) fn str(&self, k: &str, d: &str) -> String {
        self.0.get(k).cloned().unwrap_or_else(|| d.to_owned())
    }
    pub(crate) fn num<T: std::str::FromStr>(&self, k: &str, d: T) -> T {
        match self.0.get(k) {
            Some(v) => v.parse().unwrap_or_else(|_| die(&format!("--{k}: not a number: {v}"))),
            None => d,
        }
    }
    pub(crate) fn flag(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

pub(crate) fn die(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(2)
}

pub(crate) fn loopback(addr: &str) -> SocketAddr {
    let a: SocketAddr = addr.parse().unwrap_or_else(|_| die(&format!("--addr {addr}: want 127.0.0.x:port")));
    match a.ip() {
        IpAddr::V4(v4) if v4.octets()[..3] == [127, 0, 0] => a,
        _ => die("only 127.0.0.x targets are allowed"),
    }
}
