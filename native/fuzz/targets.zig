//! What the fuzzers check (fuzz.zig drives them): every parser of bytes that come from
//! outside the program, each with properties beyond "does not crash".
//!
//!   gsa1         HELLO/PROOF/VERDICT decoding and judging: decoded messages re-encode
//!                to the same bytes, statuses and tags stay consistent
//!   gsa1_stream  both roles of handshake.zig against a peer that sent these bytes and
//!                closed: never accepted, never a timeout (nothing is left to wait for)
//!   answer       the lookup answer: what parses satisfies its invariants and survives a
//!                write-out and a second parse unchanged
//!   contact      contact strings, ports and addresses: round trips through text and
//!                sockaddr, parse_port against a reference
//!   names        tunnel ids, globus.<id> names, the host list
//!   environment  the GLOBUS_STREAMS_* variables (environment.zig) and GLOBUS_STREAMS_DEBUG
//!
//! Each check returns an outcome signature (which branch of the parser the input took),
//! so the loop can tell an input that reaches something new.

const std = @import("std");
const assert = std.debug.assert;
const streams = @import("streams");
const gsa1 = streams.gsa1;
const handshake = streams.handshake;
const answer = streams.answer;
const contact = streams.contact;
const names = streams.names;
const conf = streams.environment;
const log = streams.log;
const sys = streams.sys;

pub const Error = error{PropertyViolated} || std.mem.Allocator.Error;

pub const Target = struct {
    name: []const u8,
    check: *const fn (input: []const u8) Error!u64,
    /// Tokens the mutator inserts whole.
    dictionary: []const []const u8,
    /// Used when the corpus folder has nothing for this target.
    seeds: []const []const u8,
    /// Iterations are this many times fewer (for targets that make system calls).
    cost: u32 = 1,
};

const tunnel_text = "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f";
const tunnel = names.TunnelId.parse(tunnel_text).?;
const secret = "fuzz-lan-secret";
const secret_id: gsa1.Id = @splat(0x5a);

fn violated(comptime format: []const u8, args: anytype) Error {
    std.debug.print("property violated: " ++ format ++ "\n", args);
    return error.PropertyViolated;
}

/// Mixes a value into an outcome signature.
fn mix(signature: u64, value: u64) u64 {
    return std.hash.Wyhash.hash(signature, std.mem.asBytes(&value));
}

fn error_code(err: anyerror) u64 {
    return @intFromError(err);
}

// --- gsa1 ---------------------------------------------------------------------------

fn check_gsa1(input: []const u8) Error!u64 {
    var signature: u64 = 1;
    if (gsa1.hello_decode(input)) |nc| {
        if (input.len != gsa1.hello_size) return violated("hello of {d} bytes", .{input.len});
        const again = gsa1.hello_encode(&nc);
        if (!std.mem.eql(u8, &again, input)) return violated("hello does not re-encode", .{});
        signature = mix(signature, 100);
    } else |err| signature = mix(signature, error_code(err));

    if (gsa1.proof_decode(input)) |proof| {
        if (input.len != gsa1.proof_size) return violated("proof of {d} bytes", .{input.len});
        var again: [gsa1.proof_size]u8 = undefined;
        @memcpy(again[0..4], gsa1.magic);
        @memcpy(again[4..20], &proof.tunnel);
        @memcpy(again[20..36], &proof.secret_id);
        @memcpy(again[36..68], &proof.nr);
        @memcpy(again[68..100], &proof.tag);
        if (!std.mem.eql(u8, &again, input)) return violated("proof fields do not re-encode", .{});
        const nc: gsa1.Nonce = @splat(0x11);
        const status = gsa1.proof_judge(secret, &tunnel.bytes, &proof, &nc);
        const tag = gsa1.responder_tag(secret, &tunnel.bytes, &proof.secret_id, &nc, &proof.nr);
        const tunnel_ok = std.mem.eql(u8, &proof.tunnel, &tunnel.bytes);
        const tag_ok = std.mem.eql(u8, &tag, &proof.tag);
        const want: gsa1.Status = if (!tunnel_ok) .unknown_tunnel else if (!tag_ok) .bad_proof else .accepted;
        if (status != want) return violated("proof judged {t}, want {t}", .{ status, want });
        const verdict_bytes = gsa1.verdict_encode(status, secret, &proof, &nc);
        const verdict = gsa1.verdict_decode(&verdict_bytes) catch
            return violated("an encoded verdict does not decode", .{});
        if (verdict.status != status) return violated("verdict status changed", .{});
        if (status != .accepted and !std.mem.allEqual(u8, &verdict.tag, 0)) {
            return violated("a refusal carries a tag", .{});
        }
        signature = mix(signature, 200 + @as(u64, @backingInt(status)));
    } else |err| signature = mix(signature, error_code(err));

    if (gsa1.verdict_decode(input)) |verdict| {
        if (input.len != gsa1.verdict_size) return violated("verdict of {d} bytes", .{input.len});
        if (@backingInt(verdict.status) != input[0]) return violated("status byte changed", .{});
        if (!std.mem.eql(u8, &verdict.tag, input[1..])) return violated("verdict tag changed", .{});
        const nr: gsa1.Nonce = @splat(0x22);
        const nc: gsa1.Nonce = @splat(0x33);
        const judged = gsa1.verdict_judge(secret, &tunnel.bytes, &secret_id, &nr, &nc, &verdict);
        const tc = gsa1.challenger_tag(secret, &tunnel.bytes, &secret_id, &nr, &nc);
        const want: gsa1.VerdictJudgement = if (verdict.status != .accepted)
            .refused
        else if (std.mem.eql(u8, &tc, &verdict.tag)) .accepted else .bad_tag;
        if (judged != want) return violated("verdict judged {t}, want {t}", .{ judged, want });
        signature = mix(signature, 300 + @as(u64, @backingInt(judged)));
    } else |err| signature = mix(signature, error_code(err));
    return signature;
}

// --- gsa1_stream ---------------------------------------------------------------------

fn socket_pair() Error![2]c_int {
    var fds: [2]c_int = undefined;
    const linux = std.os.linux;
    const rc = linux.socketpair(linux.AF.UNIX, linux.SOCK.STREAM | linux.SOCK.CLOEXEC, 0, &fds);
    if (linux.errno(rc) != .SUCCESS) return violated("socketpair failed", .{});
    return fds;
}

/// Runs one role against a peer that sent input and closed its sending side.
fn run_role(input: []const u8, comptime role: enum { responder, challenger }) Error!handshake.Outcome {
    const fds = try socket_pair();
    defer _ = sys.close(fds[0]);
    defer _ = sys.close(fds[1]);
    var done: usize = 0;
    while (done < input.len) {
        const rc = sys.send(fds[1], input[done..].ptr, input.len - done, sys.MSG_NOSIGNAL);
        if (rc <= 0) return violated("cannot feed the socket", .{});
        done += @intCast(rc);
    }
    _ = sys.shutdown(fds[1], 1); // SHUT_WR: the peer has said all it will say.
    const started_ms = sys.now_ms();
    const deadline_ms = started_ms + 2000;
    const result = switch (role) {
        .responder => handshake.respond(fds[0], secret, &tunnel.bytes, &secret_id, deadline_ms),
        .challenger => handshake.challenge(fds[0], secret, &tunnel.bytes, deadline_ms),
    };
    if (result.outcome == .ok) return violated("{t} accepted a peer without the secret", .{role});
    if (result.outcome == .timeout) return violated("{t} waited on a closed peer", .{role});
    if (sys.now_ms() - started_ms > 1000) return violated("{t} took over a second", .{role});
    return result.outcome;
}

fn check_gsa1_stream(input: []const u8) Error!u64 {
    const responded = try run_role(input, .responder);
    const challenged = try run_role(input, .challenger);
    return mix(@backingInt(responded), @backingInt(challenged));
}

// --- answer --------------------------------------------------------------------------

/// Writes a parsed answer back out as the binary would print it.
fn write_answer(parsed: *const answer.Answer, out: []u8) Error![]const u8 {
    var writer: std.Io.Writer = .fixed(out);
    var text: [contact.address_text_bytes_max]u8 = undefined;
    write_answer_lines(parsed, &writer, &text) catch return violated("answer write-out overflow", .{});
    return writer.buffered();
}

fn write_answer_lines(
    parsed: *const answer.Answer,
    writer: *std.Io.Writer,
    text: *[contact.address_text_bytes_max]u8,
) !void {
    try writer.print("tunnel_id={s}\n", .{tunnel_text});
    try writer.print("connector_contact_string={s}\n", .{parsed.connector.format(text)});
    try writer.print("fake_port={d}\n", .{parsed.fake_port});
    if (parsed.secret()) |key| try writer.print("lankey={s}\n", .{key});
    if (!std.mem.allEqual(u8, &parsed.lankey_id, 0)) {
        const hex = std.fmt.bytesToHex(parsed.lankey_id, .lower);
        try writer.print("lankey_id={s}-{s}-{s}-{s}-{s}\n", .{
            hex[0..8], hex[8..12], hex[12..16], hex[16..20], hex[20..32],
        });
    }
    if (parsed.listener) |listener| {
        const host = listener.host_text();
        const bracket = std.mem.findScalar(u8, host, ':') != null;
        if (bracket) {
            try writer.print("listener_contact_string=[{s}]:{d}\n", .{ host, listener.port });
        } else {
            try writer.print("listener_contact_string={s}:{d}\n", .{ host, listener.port });
        }
    }
    try writer.print("ttl_seconds={d}\n", .{parsed.ttl_seconds});
}

fn same_answer(a: *const answer.Answer, b: *const answer.Answer) bool {
    if (!a.connector.same_endpoint(b.connector) or a.connector.family != b.connector.family) {
        return false;
    }
    if (a.fake_port != b.fake_port or a.ttl_seconds != b.ttl_seconds) return false;
    if (!std.mem.eql(u8, a.secret() orelse "", b.secret() orelse "")) return false;
    if (!std.mem.eql(u8, &a.lankey_id, &b.lankey_id)) return false;
    if ((a.listener == null) != (b.listener == null)) return false;
    if (a.listener) |listener| {
        if (!std.mem.eql(u8, listener.host_text(), b.listener.?.host_text())) return false;
        if (listener.port != b.listener.?.port) return false;
    }
    return (a.listener_address == null) == (b.listener_address == null);
}

fn check_answer(input: []const u8) Error!u64 {
    const parsed = answer.parse(input, &tunnel) catch |err| return mix(2, error_code(err));
    if (input.len > answer.answer_bytes_max) return violated("an overlong answer parsed", .{});
    if (parsed.fake_port == 0) return violated("fake_port 0", .{});
    if (parsed.connector.port == 0) return violated("connector port 0", .{});
    if (parsed.lankey_len > answer.lankey_bytes_max) return violated("lankey too long", .{});
    if (parsed.ttl_seconds > answer.ttl_max_seconds) return violated("ttl above the cap", .{});
    if (parsed.listener_address != null and parsed.listener == null) {
        return violated("a listener address without a listener", .{});
    }
    if (parsed.listener) |listener| {
        if (listener.port == 0 or listener.host_len == 0) return violated("empty listener", .{});
    }
    var out: [answer.answer_bytes_max]u8 = undefined;
    const text = try write_answer(&parsed, &out);
    const again = answer.parse(text, &tunnel) catch |err|
        return violated("the written-out answer does not parse: {t}\n{s}", .{ err, text });
    if (!same_answer(&parsed, &again)) return violated("the answer changed on a round trip", .{});
    var signature: u64 = 3;
    signature = mix(signature, @intCast(parsed.connector.family));
    signature = mix(signature, @intFromBool(parsed.secret() != null));
    signature = mix(signature, @intFromBool(parsed.listener != null));
    signature = mix(signature, @intFromBool(parsed.listener_address != null));
    return mix(signature, @intFromBool(parsed.ttl_seconds == answer.ttl_max_seconds));
}

// --- contact -------------------------------------------------------------------------

fn reference_port(text: []const u8) ?u16 {
    if (text.len == 0 or text.len > 5) return null;
    var value: u32 = 0;
    for (text) |char| {
        if (char < '0' or char > '9') return null;
        value = value * 10 + (char - '0');
    }
    if (value == 0 or value > 65535) return null;
    return @intCast(value);
}

fn check_address(address: contact.Address) Error!void {
    var storage: sys.sockaddr_storage = undefined;
    const families = [_]c_int{ sys.AF_INET, sys.AF_INET6 };
    for (families) |family| {
        const len = address.to_sockaddr(family, &storage) orelse {
            if (family == sys.AF_INET6 or address.unmapped().family == sys.AF_INET) {
                return violated("to_sockaddr refused a family it can hold", .{});
            }
            continue;
        };
        const back = contact.Address.from_sockaddr(&storage, len) orelse
            return violated("a sockaddr it wrote does not read back", .{});
        if (!back.same_endpoint(address)) return violated("sockaddr round trip changed", .{});
    }
    // Port 0 is a valid sockaddr but not a contact string.
    if (address.port == 0) return;
    var text: [contact.address_text_bytes_max]u8 = undefined;
    const formatted = address.format(&text);
    const reparsed = contact.Contact.parse(formatted) orelse
        return violated("formatted address \"{s}\" does not parse", .{formatted});
    const again = contact.Address.from_text(reparsed.host_text(), reparsed.port) orelse
        return violated("formatted address \"{s}\" is not numeric", .{formatted});
    if (!again.same_endpoint(address)) return violated("address text round trip changed", .{});
}

fn check_contact(input: []const u8) Error!u64 {
    const port = contact.parse_port(input);
    const want_port = reference_port(input);
    const ports_agree = if (port) |got| (want_port != null and want_port.? == got) else want_port == null;
    if (!ports_agree) return violated("parse_port disagrees with the reference", .{});
    // The raw bytes as a sockaddr a program might pass to connect().
    if (input.len >= 2) {
        var raw: [@sizeOf(sys.sockaddr_storage)]u8 align(8) = @splat(0);
        const len = @min(input.len, raw.len);
        @memcpy(raw[0..len], input[0..len]);
        if (contact.Address.from_sockaddr(&raw, @intCast(len))) |address| try check_address(address);
    }
    const parsed = contact.Contact.parse(input) orelse return mix(4, @intFromBool(port != null));
    const host = parsed.host_text();
    if (host.len == 0 or host.len > names.host_name_bytes_max) return violated("host length", .{});
    if (parsed.port == 0) return violated("port 0", .{});
    for (host) |char| {
        if (char <= ' ' or char >= 0x7f or char == '/' or char == '[' or char == ']') {
            return violated("host byte 0x{x}", .{char});
        }
    }
    var buffer: [names.host_name_bytes_max + 16]u8 = undefined;
    const bracket = std.mem.findScalar(u8, host, ':') != null;
    const text = (if (bracket)
        std.fmt.bufPrint(&buffer, "[{s}]:{d}", .{ host, parsed.port })
    else
        std.fmt.bufPrint(&buffer, "{s}:{d}", .{ host, parsed.port })) catch
        return violated("contact write-out overflow", .{});
    const again = contact.Contact.parse(text) orelse return violated("\"{s}\" does not reparse", .{text});
    if (!std.mem.eql(u8, again.host_text(), host) or again.port != parsed.port) {
        return violated("contact round trip changed", .{});
    }
    var signature = mix(5, @intFromBool(bracket));
    if (contact.Address.from_text(host, parsed.port)) |address| {
        try check_address(address);
        signature = mix(signature, @intCast(address.family));
        signature = mix(signature, @intFromBool(address.is_loopback()));
    }
    return signature;
}

// --- names ---------------------------------------------------------------------------

fn check_names(input: []const u8) Error!u64 {
    var signature: u64 = 6;
    if (names.TunnelId.parse(input)) |id| {
        if (input.len != names.tunnel_id_text_len) return violated("tunnel id length", .{});
        for (input, id.text) |char, lower| {
            if (std.ascii.toLower(char) != lower) return violated("tunnel id text changed", .{});
        }
        var hex: [32]u8 = undefined;
        var at: usize = 0;
        for (id.text) |char| {
            if (char == '-') continue;
            hex[at] = char;
            at += 1;
        }
        var bytes: [16]u8 = undefined;
        _ = std.fmt.hexToBytes(&bytes, &hex) catch return violated("tunnel id not hex", .{});
        if (!std.mem.eql(u8, &bytes, &id.bytes)) return violated("tunnel id bytes", .{});
        const again = names.TunnelId.parse(&id.text) orelse return violated("id reparse", .{});
        if (!again.eql(&id)) return violated("tunnel id round trip changed", .{});
        signature = mix(signature, 1);
    }
    if (names.globus_name(input)) |id| {
        const trimmed = names.trim_name(input) orelse return violated("a name without trim", .{});
        if (!std.ascii.startsWithIgnoreCase(trimmed, "globus.")) return violated("prefix", .{});
        const rest = names.TunnelId.parse(trimmed["globus.".len..]) orelse
            return violated("globus name without an id", .{});
        if (!rest.eql(&id)) return violated("globus name id changed", .{});
        signature = mix(signature, 2);
    }
    if (names.same_host(input, input) != (names.trim_name(input) != null)) {
        return violated("same_host is not reflexive", .{});
    }
    var list: names.HostList = .{};
    const dropped = list.parse(input);
    if (list.count > names.hosts_max) return violated("host list overflow", .{});
    for (0..list.count) |index| {
        const name = list.names[index][0..list.lens[index]];
        if (!list.contains(name)) return violated("host list lost \"{s}\"", .{name});
    }
    signature = mix(signature, list.count);
    return mix(signature, @min(dropped, 3));
}

// --- environment ---------------------------------------------------------------------

fn check_environment(input: []const u8) Error!u64 {
    var settings: conf.Conf = .{};
    var entries = std.mem.splitScalar(u8, input, '\n');
    var debug_seen: u64 = 0;
    while (entries.next()) |entry| {
        settings.apply(entry);
        const debug = log.parse(entry);
        if (debug.path_len >= log.path_bytes_max) return violated("debug path length", .{});
        if (!debug.enabled and debug.path_len != 0) return violated("a path while off", .{});
        if (debug.enabled) debug_seen |= 1;
        if (debug.path_len > 0) debug_seen |= 2;
        if (debug.truncate) debug_seen |= 4;
    }
    var signature = mix(7, debug_seen);
    if (settings.intercepts_count > conf.intercepts_max) return violated("intercepts", .{});
    for (settings.intercepts[0..settings.intercepts_count], 0..) |intercept, index| {
        if (intercept.port == 0) return violated("intercept port 0", .{});
        const first = settings.intercept_for(intercept.port) orelse
            return violated("intercept for port {d} not found", .{intercept.port});
        if (first != index) {
            return violated("two intercepts for port {d}", .{intercept.port});
        }
    }
    if (settings.bin_len >= conf.path_bytes_max) return violated("bin length", .{});
    const lookup_ms = settings.lookup_timeout_ms;
    if (lookup_ms == 0 or lookup_ms > conf.lookup_timeout_max_ms) return violated("lookup ms", .{});
    const handshake_ms = settings.handshake_timeout_ms;
    if (handshake_ms < 1000 or handshake_ms > conf.handshake_timeout_max_seconds * 1000) {
        return violated("handshake ms {d}", .{handshake_ms});
    }
    if (settings.hosts.count > names.hosts_max) return violated("hosts", .{});
    signature = mix(signature, settings.intercepts_count);
    signature = mix(signature, @intFromBool(settings.tunnel != null));
    signature = mix(signature, @intFromBool(settings.all));
    return mix(signature, settings.hosts.count);
}

// --- the table -----------------------------------------------------------------------

const numbers = [_][]const u8{ "0", "1", "65535", "65536", "99999", "4294967295", "4294967296", "9999999999", "-1", "+1", "0x10" };

pub const targets = [_]Target{
    .{
        .name = "gsa1",
        .check = check_gsa1,
        .dictionary = &.{ "GSA1", "\x00", "\x01", "\x02", "\x03", "\x04", "\x05", &@as([16]u8, @splat(0)) },
        .seeds = &.{ &("GSA1\x00".* ++ @as([32]u8, @splat(1))), &("\x00".* ++ @as([32]u8, @splat(0))) },
    },
    .{
        .name = "gsa1_stream",
        .check = check_gsa1_stream,
        .dictionary = &.{ "GSA1", "\x00", "\x04", &@as([16]u8, @splat(0)) },
        .seeds = &.{ &("GSA1\x00".* ++ @as([32]u8, @splat(1))), &("GSA1".* ++ @as([96]u8, @splat(7))) },
        .cost = 10,
    },
    .{
        .name = "answer",
        .check = check_answer,
        .dictionary = &([_][]const u8{
            "tunnel_id=",          "connector_contact_string=", "fake_port=",
            "lankey=",             "lankey_id=",                "listener_contact_string=",
            "ttl_seconds=",        "\n",                        "\r\n",
            "=",                   "127.0.0.1:",                "[::1]:",
            "[::ffff:127.0.0.1]:", tunnel_text,                 "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "real.host:443",
        } ++ numbers),
        .seeds = &.{
            "tunnel_id=" ++ tunnel_text ++ "\nconnector_contact_string=127.0.0.1:50123\n" ++
                "fake_port=4001\nlankey=s3cret\nlankey_id=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n" ++
                "listener_contact_string=10.0.0.5:8888\nttl_seconds=30\n",
            "connector_contact_string=[::1]:7000\nfake_port=1234",
        },
    },
    .{
        .name = "contact",
        .check = check_contact,
        .dictionary = &([_][]const u8{ "[", "]", ":", "::", "::ffff:", "127.0.0.1", "%eth0", ".", "\x02\x00", "\x0a\x00" } ++ numbers),
        .seeds = &.{ "127.0.0.1:50123", "[::1]:443", "real.host:8888", "[::ffff:10.1.2.3]:80", "\x02\x00\x1f\x90\x7f\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00" },
    },
    .{
        .name = "names",
        .check = check_names,
        .dictionary = &.{ "globus.", "GLOBUS.", "-", ".", ",", " ", tunnel_text, "5F2C8E4A" },
        .seeds = &.{ "globus." ++ tunnel_text, "GLOBUS." ++ tunnel_text ++ ".", tunnel_text, "real.host, Other.Example.org.," },
    },
    .{
        .name = "environment",
        .check = check_environment,
        .dictionary = &([_][]const u8{
            "GLOBUS_STREAMS_INTERCEPT_PORT_", "GLOBUS_STREAMS_TUNNEL=",            "GLOBUS_STREAMS_ALL=",
            "GLOBUS_STREAMS_HOSTS=",          "GLOBUS_STREAMS_BIN=",               "GLOBUS_STREAMS_LOOKUP_TIMEOUT=",
            "GLOBUS_STREAMS_DEBUG=",          "GLOBUS_STREAMS_HANDSHAKE_TIMEOUT=", "\n",
            "=",                              ",",                                 "#",
            tunnel_text,
        } ++ numbers),
        .seeds = &.{
            "GLOBUS_STREAMS_INTERCEPT_PORT_8888=" ++ tunnel_text ++ "\nGLOBUS_STREAMS_LOOKUP_TIMEOUT=500\n" ++
                "GLOBUS_STREAMS_HANDSHAKE_TIMEOUT=3\nGLOBUS_STREAMS_HOSTS=a,b\nGLOBUS_STREAMS_ALL=yes",
            "2,#/tmp/log,flags",
        },
    },
};

comptime {
    assert(targets.len == 6);
}
