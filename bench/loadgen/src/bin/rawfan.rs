//! `rawfan`: the minimal raw WebSocket fan-out server the generator is calibrated against.
//!
//! It speaks just enough Engine.IO/socket.io for the generator's fan-out workload (open packet,
//! namespace connect, `join` and `message` with acks) and does the least work a fan-out can:
//! one single-threaded runtime, each outgoing message encoded and framed once and shared by every
//! recipient, and every frame waiting for a connection written with one `write()`. Whatever rate
//! the generator cannot measure against this server, it cannot measure against any server.
//!
//! Prints `{"ready":true,"port":P}` once it listens.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use loadgen::eio::{Packet, classify};
use loadgen::ws::{self, Ws, opcode};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::LocalSet;

#[derive(Parser)]
#[command(about = "Minimal raw WebSocket fan-out server (calibration)")]
struct Cli {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Listen port (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

type Frame = Rc<Vec<u8>>;

#[derive(Default)]
struct Hub {
    conns: HashMap<u64, mpsc::UnboundedSender<Frame>>,
    rooms: HashMap<String, Vec<u64>>,
    next_msg: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rawfan: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = LocalSet::new();
    match local.block_on(&rt, serve(SocketAddr::new(cli.host, cli.port))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rawfan: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let port = listener.local_addr()?.port();
    loadgen::common::emit(&serde_json::json!({"ready": true, "port": port}));
    let hub = Rc::new(RefCell::new(Hub::default()));
    let mut next_id = 0u64;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rawfan: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        let hub = hub.clone();
        tokio::task::spawn_local(async move {
            let _ = conn(stream, id, &hub).await;
            let mut h = hub.borrow_mut();
            h.conns.remove(&id);
            for members in h.rooms.values_mut() {
                members.retain(|m| *m != id);
            }
        });
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn conn(mut stream: TcpStream, id: u64, hub: &Rc<RefCell<Hub>>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (_, left) = ws::server_handshake(&mut stream).await?;
    let mut w = Ws::new(stream, left, false, 4096);
    let sid = format!("raw{id:017}");
    let open = format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}}"
    );
    w.send_text(open.as_bytes()).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
    hub.borrow_mut().conns.insert(id, tx);
    loop {
        tokio::select! {
            biased;
            filled = w.fill() => {
                if !filled? {
                    return Ok(());
                }
                while let Some(f) = w.next_buffered()? {
                    if f.op == opcode::CLOSE {
                        return Ok(());
                    }
                    if f.op != opcode::TEXT {
                        continue;
                    }
                    let p = w.payload(&f).to_vec();
                    handle(&p, id, &sid, hub, &mut w);
                }
            }
            out = rx.recv() => {
                let Some(out) = out else { return Ok(()) };
                w.queue_raw(&out);
                while let Ok(more) = rx.try_recv() {
                    w.queue_raw(&more);
                }
            }
        }
        w.flush().await?;
    }
}

fn handle(p: &[u8], id: u64, sid: &str, hub: &Rc<RefCell<Hub>>, w: &mut Ws) {
    match classify(p) {
        Packet::Connect(_) => {
            w.queue(opcode::TEXT, format!("40{{\"sid\":\"{sid}\"}}").as_bytes());
        }
        Packet::Event(ack, body) => {
            let Ok(Value::Array(args)) = serde_json::from_slice::<Value>(body) else {
                return;
            };
            let event = args.first().and_then(Value::as_str).unwrap_or_default();
            let reply = match event {
                "join" => {
                    let room = args.get(1).and_then(Value::as_str).unwrap_or_default();
                    let mut h = hub.borrow_mut();
                    let members = h.rooms.entry(room.to_owned()).or_default();
                    if !members.contains(&id) {
                        members.push(id);
                    }
                    serde_json::json!({"ok": true, "room": room})
                }
                "message" => {
                    let payload = args.get(1).cloned().unwrap_or(Value::Null);
                    let room = payload
                        .get("room")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    let data = payload.get("data").cloned().unwrap_or(Value::Null);
                    let ts = now_ms();
                    let mut h = hub.borrow_mut();
                    h.next_msg += 1;
                    let msg_id = format!("{:036}", h.next_msg);
                    let body = serde_json::json!(["message", {
                        "id": msg_id, "room": room, "from": {"id": sid, "name": null},
                        "data": data, "ts": ts,
                    }]);
                    let mut text = b"42".to_vec();
                    text.extend_from_slice(body.to_string().as_bytes());
                    let mut frame = Vec::with_capacity(text.len() + 10);
                    ws::encode_frame(&mut frame, opcode::TEXT, &text, None);
                    let frame = Rc::new(frame);
                    if let Some(members) = h.rooms.get(&room) {
                        for m in members {
                            if *m != id
                                && let Some(tx) = h.conns.get(m)
                            {
                                let _ = tx.send(frame.clone());
                            }
                        }
                    }
                    serde_json::json!({"ok": true, "id": msg_id, "ts": ts})
                }
                _ => {
                    serde_json::json!({"ok": false, "error": "bad_request", "message": "unknown event"})
                }
            };
            if let Some(a) = ack {
                w.queue(opcode::TEXT, format!("43{a}[{reply}]").as_bytes());
            }
        }
        Packet::Ping => w.queue(opcode::TEXT, b"3"),
        _ => {}
    }
}
