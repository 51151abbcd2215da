//! Golden tests against the Redis traffic captured from Node (`tests/vectors/`, see its README).
//!
//! Every line of every vector file is classified. Each PUBLISH / SPUBLISH payload of the classic and sharded
//! captures (and the ephemeral PUBLISHes of the streams-adapter capture, which use the sharded envelope) is:
//! decoded with the typed API; compared with its `decoded:` line (or, for JSON, its own text); re-encoded and
//! compared byte-for-byte with what Node wrote; and its channel is checked against the channel our channel API
//! computes for it. Subscription commands are checked against our channel names. The lines that carry no
//! message of these protocols are listed as skipped, each kind with its reason. The streams capture's XADD
//! entries, session SET and restore commands are checked against the streams codec, and its restore is replayed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use adapter_redis::wire::streams::{
    DEFAULT_SESSION_PREFIX, DEFAULT_STREAM_NAME, EntryId, SessionRecord, StreamEntry, missed_event,
    stream_name,
};
use adapter_redis::wire::{
    BroadcastMessage, ClassicChannel, ClassicChannels, DEFAULT_KEY, Encoding, MessageType,
    RawResponse, Request, RequestType, Response, ShardedBody, ShardedChannel, ShardedChannels,
    ShardedMessage, ShardedSubscriptionMode, Value, timestamp_to_iso,
};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// One Redis command of a capture.
#[derive(Debug)]
struct Command {
    line_no: usize,
    section: String,
    name: String,
    args: Vec<String>,
    payload: Option<Payload>,
}

#[derive(Debug)]
struct Payload {
    encoding: Encoding,
    bytes: Vec<u8>,
    /// The `decoded:` line of a MessagePack payload; the text itself for JSON.
    decoded: String,
}

/// Splits `PUBLISH "a" "b\"c"  [msgpack, 3 bytes]` into the command, its quoted arguments and the annotation.
fn tokenize(line: &str) -> (String, Vec<String>, Option<String>) {
    let (name, mut rest) = line.split_once(' ').unwrap_or((line, ""));
    let mut args = Vec::new();
    let mut annotation = None;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(ann) = rest.strip_prefix('[') {
            annotation = Some(ann.trim_end_matches(']').to_owned());
            break;
        }
        let body = rest
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("unquoted argument in {line:?}"));
        let mut arg = String::new();
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => arg.push(chars.next().expect("dangling escape").1),
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => arg.push(c),
            }
        }
        args.push(arg);
        rest = &body[end.expect("unterminated argument")..];
    }
    (name.to_owned(), args, annotation)
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn parse_file(path: &Path) -> Vec<Command> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let mut commands = Vec::new();
    let mut section = String::from("(start)");
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let line_no = i + 1;
        i += 1;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(title) = line.strip_prefix("### ") {
            section = title.to_owned();
            continue;
        }
        assert!(
            !line.starts_with(' '),
            "{}:{line_no}: unexpected indented line {line:?}",
            path.display()
        );
        let (name, args, annotation) = tokenize(line);
        let payload = annotation.map(|ann| {
            let (kind, size) = ann.split_once(", ").unwrap();
            let size: usize = size.trim_end_matches(" bytes").parse().unwrap();
            let payload = match kind {
                "msgpack" => {
                    let bytes = hex(lines[i].trim().strip_prefix("hex:").unwrap().trim());
                    let decoded = lines[i + 1]
                        .trim()
                        .strip_prefix("decoded:")
                        .unwrap()
                        .trim()
                        .to_owned();
                    i += 2;
                    Payload {
                        encoding: Encoding::MessagePack,
                        bytes,
                        decoded,
                    }
                }
                "json" => {
                    let text = lines[i].trim().to_owned();
                    i += 1;
                    Payload {
                        encoding: Encoding::Json,
                        bytes: text.clone().into_bytes(),
                        decoded: text,
                    }
                }
                other => panic!("{}:{line_no}: unknown payload kind {other}", path.display()),
            };
            assert_eq!(
                payload.bytes.len(),
                size,
                "{}:{line_no}: size annotation",
                path.display()
            );
            payload
        });
        commands.push(Command {
            line_no,
            section: section.clone(),
            name,
            args,
            payload,
        });
    }
    commands
}

/// The value as the capture tool printed it: a Buffer as `{"<Buffer>": [...]}`, a Date as its ISO string.
fn display_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Nil => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(i) => i
            .as_u64()
            .map_or_else(|| J::from(i.as_i64().unwrap()), J::from),
        Value::F32(f) => J::from(f64::from(*f)),
        Value::F64(f) => J::from(*f),
        Value::String(s) => J::String(s.as_str().unwrap().to_owned()),
        Value::Binary(b) => serde_json::json!({ "<Buffer>": b }),
        Value::Array(items) => J::Array(items.iter().map(display_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), display_json(v)))
                .collect(),
        ),
        Value::Ext(..) => J::String(timestamp_to_iso(v).expect("only timestamps in the vectors")),
    }
}

#[derive(Default)]
struct Report {
    /// (file, what) -> count
    covered: BTreeMap<(String, String), usize>,
    skipped: BTreeMap<(String, String), usize>,
}

impl Report {
    fn covered(&mut self, file: &str, what: impl Into<String>) {
        *self
            .covered
            .entry((file.to_owned(), what.into()))
            .or_default() += 1;
    }
    fn skipped(&mut self, file: &str, why: &str) {
        *self
            .skipped
            .entry((file.to_owned(), why.to_owned()))
            .or_default() += 1;
    }
}

struct Ctx<'a> {
    file: &'a str,
    cmd: &'a Command,
}

impl Ctx<'_> {
    fn at(&self) -> String {
        format!("{}:{} ({})", self.file, self.cmd.line_no, self.cmd.section)
    }

    /// Checks the decoded value against the capture and the re-encoding against the exact bytes.
    fn check(&self, value: Value, reencoded: Vec<u8>) {
        let payload = self.cmd.payload.as_ref().unwrap();
        let expected: serde_json::Value = serde_json::from_str(&payload.decoded).unwrap();
        assert_eq!(
            display_json(&value),
            expected,
            "{}: decoded value",
            self.at()
        );
        if reencoded != payload.bytes {
            panic!(
                "{}: re-encoding differs\n  node: {}\n  ours: {}",
                self.at(),
                String::from_utf8_lossy(&payload.bytes),
                String::from_utf8_lossy(&reencoded)
            );
        }
    }
}

fn classic_channels_for(channel: &str) -> (ClassicChannels, ClassicChannel) {
    for nsp in ["/", "/custom"] {
        let channels = ClassicChannels::new(DEFAULT_KEY, nsp);
        if let Some(kind) = channels.parse(channel) {
            return (channels, kind);
        }
    }
    panic!("channel {channel:?} is not a classic channel of / or /custom");
}

fn check_classic_file(file: &str, commands: &[Command], report: &mut Report) {
    // requestId -> (type, requester uid)
    let mut pending: HashMap<String, (RequestType, String)> = HashMap::new();
    for cmd in commands {
        let ctx = Ctx { file, cmd };
        match cmd.name.as_str() {
            "PSUBSCRIBE" => {
                let pattern = &cmd.args[0];
                let nsp = pattern
                    .strip_prefix("socket.io#")
                    .unwrap()
                    .strip_suffix("#*")
                    .unwrap();
                assert_eq!(
                    &ClassicChannels::new(DEFAULT_KEY, nsp).broadcast_pattern(),
                    pattern,
                    "{}",
                    ctx.at()
                );
                report.covered(file, "PSUBSCRIBE pattern");
            }
            "SUBSCRIBE" => {
                let (channels, kind) = classic_channels_for(&cmd.args[0]);
                assert_eq!(kind, ClassicChannel::Request);
                assert_eq!(cmd.args[1], channels.response());
                let Some(ClassicChannel::SpecificResponse(uid)) = channels.parse(&cmd.args[2])
                else {
                    panic!(
                        "{}: third channel is not a specific response channel",
                        ctx.at()
                    )
                };
                assert_eq!(cmd.args[2], channels.specific_response(&uid));
                assert_eq!(cmd.args.len(), 3);
                report.covered(file, "SUBSCRIBE channels");
            }
            "PUBSUB" => {
                assert_eq!(cmd.args[0], "NUMSUB");
                assert_eq!(
                    classic_channels_for(&cmd.args[1]).1,
                    ClassicChannel::Request,
                    "{}",
                    ctx.at()
                );
                report.covered(file, "PUBSUB NUMSUB channel");
            }
            "PUBLISH" => {
                let payload = cmd.payload.as_ref().expect("PUBLISH without payload");
                let bytes = &payload.bytes;
                let channel = &cmd.args[0];
                let (channels, kind) = classic_channels_for(channel);
                match kind {
                    ClassicChannel::Broadcast | ClassicChannel::Room(_) => {
                        assert_eq!(payload.encoding, Encoding::MessagePack);
                        let msg = BroadcastMessage::decode(bytes)
                            .unwrap_or_else(|e| panic!("{}: {e}", ctx.at()));
                        assert_eq!(
                            &channels.broadcast_channel_for(&msg.opts.rooms),
                            channel,
                            "{}",
                            ctx.at()
                        );
                        assert_eq!(
                            ClassicChannels::new(DEFAULT_KEY, msg.packet.namespace()),
                            channels
                        );
                        ctx.check(msg.to_value(), msg.encode());
                        let what = if msg.is_from_emitter() {
                            "broadcast (emitter)"
                        } else {
                            "broadcast"
                        };
                        report.covered(file, what);
                    }
                    ClassicChannel::Request => {
                        let req =
                            Request::decode(bytes).unwrap_or_else(|e| panic!("{}: {e}", ctx.at()));
                        assert_eq!(req.encoding(), payload.encoding, "{}", ctx.at());
                        if let Some(id) = req.request_id() {
                            pending.insert(
                                id.to_owned(),
                                (req.request_type(), req.uid().unwrap().to_owned()),
                            );
                        }
                        ctx.check(req.to_value(), req.encode());
                        report.covered(file, format!("request {:?}", req.request_type()));
                    }
                    ClassicChannel::Response | ClassicChannel::SpecificResponse(_) => {
                        let raw = RawResponse::decode(bytes)
                            .unwrap_or_else(|e| panic!("{}: {e}", ctx.at()));
                        let (pending_type, requester) =
                            pending.get(raw.request_id()).cloned().unwrap_or_else(|| {
                                panic!("{}: response to an unknown request", ctx.at())
                            });
                        let resp = raw
                            .into_response(pending_type)
                            .unwrap_or_else(|e| panic!("{}: {e}", ctx.at()));
                        assert_eq!(resp, Response::decode(bytes, pending_type).unwrap());
                        assert_eq!(resp.encoding(), payload.encoding, "{}", ctx.at());
                        // SERVER_SIDE_EMIT answers always use the common channel; others the requester's own
                        // channel when the capture runs with publishOnSpecificResponseChannel.
                        if let ClassicChannel::SpecificResponse(uid) = &kind {
                            assert_eq!(uid, &requester, "{}", ctx.at());
                            assert!(
                                !matches!(resp, Response::ServerSideEmit { .. }),
                                "{}",
                                ctx.at()
                            );
                        }
                        let specific = file.contains("specific-response-channel")
                            && !matches!(resp, Response::ServerSideEmit { .. });
                        assert_eq!(
                            &channels.response_channel_for(&requester, specific),
                            channel,
                            "{}",
                            ctx.at()
                        );
                        let what = match &resp {
                            Response::Sockets { .. } => "response Sockets",
                            Response::AllRooms { .. } => "response AllRooms",
                            Response::Done { .. } => "response Done (legacy)",
                            Response::RemoteFetch { .. } => "response RemoteFetch",
                            Response::ServerSideEmit { .. } => "response ServerSideEmit",
                            Response::BroadcastClientCount { .. } => {
                                "response BroadcastClientCount"
                            }
                            Response::BroadcastAck { .. } => "response BroadcastAck",
                        };
                        ctx.check(resp.to_value(), resp.encode());
                        report.covered(file, what);
                    }
                }
            }
            other => panic!(
                "{}: unexpected command {other} in a classic capture",
                ctx.at()
            ),
        }
    }
}

fn check_sharded_file(
    file: &str,
    commands: &[Command],
    mode: ShardedSubscriptionMode,
    report: &mut Report,
) {
    let channels = ShardedChannels::new(DEFAULT_KEY, "/");
    // requestId -> requester uid
    let mut requesters: HashMap<String, String> = HashMap::new();
    for cmd in commands {
        let ctx = Ctx { file, cmd };
        match cmd.name.as_str() {
            "SSUBSCRIBE" | "SUNSUBSCRIBE" => {
                let channel = &cmd.args[0];
                match channels.parse(channel, "") {
                    Some(ShardedChannel::Main) => assert_eq!(channel, channels.main()),
                    Some(ShardedChannel::Room(name)) => {
                        assert_eq!(&channels.room(&name), channel);
                        assert_eq!(&channels.response(&name), channel);
                        assert_eq!(
                            channels.parse(channel, &name),
                            Some(ShardedChannel::OwnResponse)
                        );
                    }
                    other => panic!("{}: {other:?}", ctx.at()),
                }
                if mode == ShardedSubscriptionMode::Static {
                    // Static mode subscribes to the main and response channels only (4 lines for 2 nodes).
                    let name = channel
                        .strip_prefix(channels.main())
                        .unwrap()
                        .trim_end_matches('#');
                    assert!(
                        name.is_empty() || name.len() == 16,
                        "{}: room channel in static mode",
                        ctx.at()
                    );
                }
                report.covered(file, format!("{} channel", cmd.name));
            }
            "PUBSUB" => {
                assert_eq!(cmd.args[0], "SHARDNUMSUB");
                assert_eq!(cmd.args[1], channels.main());
                report.covered(file, "PUBSUB SHARDNUMSUB channel");
            }
            "SPUBLISH" => {
                let payload = cmd.payload.as_ref().expect("SPUBLISH without payload");
                let msg = ShardedMessage::decode(&payload.bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", ctx.at()));
                assert_eq!(msg.encoding(), payload.encoding, "{}", ctx.at());
                let channel = &cmd.args[0];
                if msg.message_type().is_response() {
                    let requester = &requesters[msg.body.request_id().unwrap()];
                    assert_eq!(channel, &channels.response(requester), "{}", ctx.at());
                    assert_eq!(
                        channels.parse(channel, requester),
                        Some(ShardedChannel::OwnResponse)
                    );
                } else {
                    if let Some(id) = msg.body.request_id() {
                        requesters.insert(id.to_owned(), msg.uid.clone());
                    }
                    assert_eq!(
                        channel,
                        &channels.publish_channel(&msg, mode),
                        "{}",
                        ctx.at()
                    );
                }
                ctx.check(msg.to_value(), msg.encode());
                report.covered(file, format!("sharded {:?}", msg.message_type()));
            }
            other => panic!(
                "{}: unexpected command {other} in a sharded capture",
                ctx.at()
            ),
        }
    }
}

fn check_streams_file(file: &str, commands: &[Command], report: &mut Report) {
    let channels = ShardedChannels::new(DEFAULT_KEY, "/");
    for cmd in commands {
        let ctx = Ctx { file, cmd };
        match cmd.name.as_str() {
            "PUBLISH" => {
                // Ephemeral messages of the streams adapter: the sharded envelope, always MessagePack.
                let payload = cmd.payload.as_ref().expect("PUBLISH without payload");
                let msg = ShardedMessage::decode(&payload.bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", ctx.at()));
                let channel = &cmd.args[0];
                match channels.parse(channel, "") {
                    Some(ShardedChannel::Main) => assert!(!msg.message_type().is_response()),
                    Some(ShardedChannel::Room(uid)) => {
                        assert!(msg.message_type().is_response(), "{}", ctx.at());
                        assert_eq!(&channels.response(&uid), channel);
                    }
                    other => panic!("{}: {other:?}", ctx.at()),
                }
                ctx.check(msg.to_value(), msg.encode_msgpack());
                report.covered(
                    file,
                    format!(
                        "streams PUBLISH (sharded envelope) {:?}",
                        msg.message_type()
                    ),
                );
            }
            "SUBSCRIBE" => {
                assert_eq!(cmd.args[0], channels.main());
                assert_eq!(
                    channels.parse(&cmd.args[1], ""),
                    Some(ShardedChannel::Room(cmd.args[1][12..28].to_owned()))
                );
                report.covered(file, "SUBSCRIBE channels");
            }
            "PUBSUB" => {
                assert_eq!(cmd.args, ["NUMSUB", channels.main()]);
                report.covered(file, "PUBSUB NUMSUB channel");
            }
            "XADD" => {
                let entry = check_xadd(&ctx);
                report.covered(
                    file,
                    format!("streams XADD entry {:?}", entry.body.message_type()),
                );
            }
            "SET" => {
                // SET <prefix><pid> <base64 msgpack session> PX <maxDisconnectionDuration>
                let session = SessionRecord::decode(cmd.args[1].as_bytes())
                    .unwrap_or_else(|e| panic!("{}: {e}", ctx.at()));
                assert_eq!(
                    cmd.args[0],
                    SessionRecord::key(DEFAULT_SESSION_PREFIX, &session.pid),
                    "{}",
                    ctx.at()
                );
                assert_eq!(
                    session.encode(),
                    cmd.args[1],
                    "{}: session re-encoding",
                    ctx.at()
                );
                assert_eq!(&cmd.args[2..], ["PX", "60000"], "{}", ctx.at());
                report.covered(file, "streams session SET");
            }
            "MULTI" | "EXEC" => {
                assert!(cmd.args.is_empty(), "{}", ctx.at());
                report.covered(file, "streams session MULTI/EXEC");
            }
            "GET" | "DEL" => {
                assert!(
                    cmd.args[0].starts_with(DEFAULT_SESSION_PREFIX),
                    "{}",
                    ctx.at()
                );
                report.covered(file, "streams session GET+DEL");
            }
            "XRANGE" => {
                assert_eq!(
                    cmd.args[0],
                    stream_name(DEFAULT_STREAM_NAME, 1, "/"),
                    "{}",
                    ctx.at()
                );
                assert!(
                    EntryId::parse(&cmd.args[1]).is_some()
                        && (cmd.args[2] == "+" || cmd.args[2] == cmd.args[1]),
                    "{}",
                    ctx.at()
                );
                report.covered(file, "streams restore XRANGE");
            }
            other => panic!(
                "{}: unexpected command {other} in the streams capture",
                ctx.at()
            ),
        }
    }
}

#[test]
fn every_captured_message_decodes_and_reencodes_byte_for_byte() {
    let dir = vectors_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        // The folder's README says how the captures were made; it is not one.
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    assert!(!files.is_empty());

    let mut report = Report::default();
    for path in &files {
        let file = path.file_name().unwrap().to_str().unwrap();
        match file {
            "redis-adapter-classic.txt" | "redis-adapter-classic-specific-response-channel.txt" => {
                check_classic_file(file, &parse_file(path), &mut report)
            }
            "redis-adapter-sharded-dynamic.txt" => check_sharded_file(
                file,
                &parse_file(path),
                ShardedSubscriptionMode::Dynamic,
                &mut report,
            ),
            "redis-adapter-sharded-static.txt" => check_sharded_file(
                file,
                &parse_file(path),
                ShardedSubscriptionMode::Static,
                &mut report,
            ),
            "redis-streams-adapter-csr.txt" => {
                check_streams_file(file, &parse_file(path), &mut report)
            }
            "redis-streams-adapter-csr.client-log.txt" => report.skipped(
                file,
                "whole file: a socket.io client log, not Redis traffic (read by `streams_restore_replays_what_node_replayed`)",
            ),
            other => panic!("vector file {other} is not classified: add it to this test"),
        }
    }

    println!("covered:");
    for ((file, what), n) in &report.covered {
        println!("  {file}: {what} x{n}");
    }
    println!("skipped:");
    for ((file, why), n) in &report.skipped {
        println!("  {file}: {why} x{n}");
    }
    let total: usize = report.covered.values().sum();
    assert!(total > 100, "only {total} checks ran");
}

#[test]
fn sharded_payloads_pick_the_encoding_node_picks() {
    // The binary broadcast of the dynamic capture is MessagePack; once the binary is gone it is JSON again.
    let path = vectors_dir().join("redis-adapter-sharded-dynamic.txt");
    let cmd = parse_file(&path)
        .into_iter()
        .find(|c| {
            c.payload
                .as_ref()
                .is_some_and(|p| p.encoding == Encoding::MessagePack)
        })
        .unwrap();
    let mut msg = ShardedMessage::decode(&cmd.payload.unwrap().bytes).unwrap();
    assert_eq!(msg.message_type(), MessageType::Broadcast);
    if let ShardedBody::Broadcast { packet, .. } = &mut msg.body {
        packet.data[1] = Value::from("no longer binary");
    }
    assert_eq!(msg.encoding(), Encoding::Json);
    assert_eq!(msg.encode()[0], b'{');
}

/// Checks one captured `XADD`: Node's stream, trimming and field order; the entry decodes; our fields are Node's,
/// byte for byte.
fn check_xadd(ctx: &Ctx<'_>) -> StreamEntry {
    let args = &ctx.cmd.args;
    assert_eq!(
        args[..5],
        [
            stream_name(DEFAULT_STREAM_NAME, 1, "/").as_str(),
            "MAXLEN",
            "~",
            "10000",
            "*"
        ],
        "{}",
        ctx.at()
    );
    let pairs: Vec<(&str, &str)> = args[5..]
        .chunks(2)
        .map(|p| (p[0].as_str(), p[1].as_str()))
        .collect();
    let entry = StreamEntry::from_fields(&pairs)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx.at()))
        .unwrap_or_else(|| panic!("{}: entry without nsp", ctx.at()));
    let ours: Vec<(&str, String)> = entry.fields();
    let node: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    assert_eq!(ours, node, "{}: XADD fields", ctx.at());
    entry
}

/// The string arguments of the `2[...]` event frames the client log shows, in order.
fn client_log_events(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("<= recv \""))
        .filter_map(|l| l.strip_suffix('"'))
        .map(|l| l.replace("\\\"", "\""))
        .filter_map(|frame| {
            frame
                .strip_prefix('2')
                .filter(|j| j.starts_with('['))
                .map(str::to_owned)
        })
        .map(|json| serde_json::from_str(&json).unwrap())
        .collect()
}

#[test]
fn streams_restore_replays_what_node_replayed() {
    // The capture's XADDs, with the ids the client saw as offsets; the socketsJoin entry's id is not in the
    // log (no event carries it) and sits between its neighbours.
    let dir = vectors_dir();
    let commands = parse_file(&dir.join("redis-streams-adapter-csr.txt"));
    let log =
        std::fs::read_to_string(dir.join("redis-streams-adapter-csr.client-log.txt")).unwrap();
    let events = client_log_events(&log);
    let offset_of = |event: &str, arg: &serde_json::Value| {
        events
            .iter()
            .find(|e| e[0] == event && e[1] == *arg && e.as_array().unwrap().len() == 3)
            .map(|e| e[2].as_str().unwrap().to_owned())
    };
    let mut stream = Vec::new();
    let mut previous = EntryId::parse("0-0").unwrap();
    for cmd in commands.iter().filter(|c| c.name == "XADD") {
        let ctx = Ctx { file: "csr", cmd };
        let entry = check_xadd(&ctx);
        let id = match &entry.body {
            ShardedBody::Broadcast { packet, .. } => {
                let arg = serde_json::to_value(display_json(&packet.data[1])).unwrap();
                offset_of(packet.data[0].as_str().unwrap(), &arg).unwrap()
            }
            _ => previous.next().to_string(),
        };
        previous = EntryId::parse(&id).unwrap();
        stream.push((id, entry));
    }
    assert_eq!(stream.len(), 5);

    // The session A persisted, and the offset the client presented (its last event before the cut).
    let set = commands.iter().find(|c| c.name == "SET").unwrap();
    let session = SessionRecord::decode(set.args[1].as_bytes()).unwrap();
    assert!(log.contains(&format!(
        "\\\"sid\\\":\\\"{}\\\",\\\"pid\\\":\\\"{}\\\"",
        session.sid, session.pid
    )));
    let restore: Vec<&Command> = commands.iter().filter(|c| c.name == "XRANGE").collect();
    let offset = &restore[0].args[1];
    assert_eq!(
        restore[1].args[1],
        EntryId::parse(offset).unwrap().next().to_string(),
        "Node's exclusive start"
    );

    let start = stream.iter().position(|(id, _)| id == offset).unwrap() + 1;
    let missed: Vec<serde_json::Value> = stream[start..]
        .iter()
        .filter_map(|(id, entry)| missed_event(id, entry, "/", &session.rooms))
        .map(|data| display_json(&Value::Array(data)))
        .collect();
    // What Node sent before the CONNECT answer of the recovered socket.
    let replayed: Vec<serde_json::Value> = events[events.len() - 2..].to_vec();
    assert_eq!(missed, replayed);
    assert_eq!(
        missed.len(),
        2,
        "the volatile event and the broadcast sent during the cut"
    );
}
