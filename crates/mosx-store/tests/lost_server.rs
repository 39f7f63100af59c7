#![allow(unused_macros)] // `common` defines `backend_tests!`, which this file does not use.
//! A PostgreSQL server that goes away while a store is open: the next accesses fail with a
//! connection error that names the store without its password, and say so promptly (the time
//! is printed, not asserted: tests never assert on timing). The server is reached through a
//! TCP relay on 127.0.0.1 that the test closes (its port then refuses connections), so the
//! shared test server itself is never stopped. Needs `MOSX_TEST_POSTGRES` (skipped without).

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::*;
use mosx_store::{DbErrorKind, StoreError};

/// A relay from a port of 127.0.0.1 to `target`; `close` shuts every relayed connection and
/// the listening port.
struct Relay {
    port: u16,
    closed: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let closed = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, s) = (closed.clone(), streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if c.load(Ordering::SeqCst) {
                    break; // dropping the listener closes the port
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut list = s.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Relay {
            port,
            closed,
            streams,
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// `postgres://user:pw@host:port/db?...` → (`host:port`, the URL through 127.0.0.1:`port`).
fn through(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, after) = rest.rsplit_once('@').unwrap();
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let hostport = &after[..end];
    let target = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:5432")
    };
    let target = target.replacen("localhost", "127.0.0.1", 1);
    (
        target,
        format!("{scheme}://{userinfo}@127.0.0.1:{port}{}", &after[end..]),
    )
}

#[test]
fn a_lost_server_is_a_prompt_connection_error_without_the_password() {
    let Some(fx) = Fixture::postgres() else {
        return;
    };
    let (target, _) = through(fx.location(), 0);
    let relay = Relay::start(target);
    let (_, url) = through(fx.location(), relay.port);
    let store = mosx_store::open(&url, Some(fx.objects())).unwrap();
    let run = store.begin_run(&run_info("s.yaml")).unwrap();
    relay.close();
    let password = url
        .split_once("://")
        .and_then(|(_, r)| r.rsplit_once('@'))
        .and_then(|(ui, _)| ui.split_once(':'))
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    for what in ["check", "acquire", "record_failure", "end_run"] {
        let t0 = Instant::now();
        let e = match what {
            "check" => store.check(&key(1)).map(|_| ()),
            "acquire" => store.acquire(&key(2), run).map(|_| ()),
            "record_failure" => store.record_failure(&key(2), "n", "k", run, "x"),
            _ => store.end_run(run, "failed", &serde_json::json!({})),
        }
        .expect_err("the server is gone");
        let took = t0.elapsed();
        eprintln!("{what}: failed after {took:?}: {e}");
        let text = e.to_string();
        assert!(
            matches!(&e, StoreError::Database { cause, .. } if cause.kind == DbErrorKind::Connection),
            "{what}: {text}"
        );
        assert!(
            password.is_empty() || !text.contains(&format!(":{password}@")),
            "{what}: {text}"
        );
    }
}
