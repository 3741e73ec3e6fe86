//! The answer of `globus-streams environment contact-lookup --format preload <tunnel>`:
//! one `key=value` per line, unknown keys ignored.
//!
//!   tunnel_id=<uuid>                  optional; when present it must be the tunnel asked for
//!   connector_contact_string=IP:PORT  required; the initiating access point's LAN contact
//!   fake_port=N                       required; the port globus.<id> is dialled on
//!   lankey=<secret>                   when the gateway requires LAN secrets
//!   lankey_id=<uuid>                  the secret's id, when known
//!   listener_contact_string=HOST:PORT when known
//!   ttl_seconds=N                     how long the answer stays fresh (default 10)

const std = @import("std");
const assert = std.debug.assert;
const names = @import("names.zig");
const contact = @import("contact.zig");

pub const answer_bytes_max = 8192;
pub const line_bytes_max = 2048;
pub const lankey_bytes_max = 1024;
pub const ttl_default_seconds = 10;
pub const ttl_max_seconds = 24 * 60 * 60;

comptime {
    assert(line_bytes_max <= answer_bytes_max);
    assert(lankey_bytes_max < line_bytes_max);
}

pub const Answer = struct {
    connector: contact.Address,
    fake_port: u16,
    lankey: [lankey_bytes_max]u8,
    lankey_len: u16,
    /// All zero when the secret's id is unknown, as GSA1 wants it.
    lankey_id: [16]u8,
    listener: ?contact.Contact,
    /// The listener contact as an address, when its host is an IP literal.
    listener_address: ?contact.Address,
    ttl_seconds: u32,

    pub fn secret(answer: *const Answer) ?[]const u8 {
        if (answer.lankey_len == 0) return null;
        return answer.lankey[0..answer.lankey_len];
    }
};

pub const Error = error{
    LineTooLong,
    AnswerTooLong,
    NotKeyValue,
    WrongTunnel,
    BadConnector,
    MissingConnector,
    BadFakePort,
    MissingFakePort,
    SecretTooLong,
    BadSecretId,
    BadListener,
    BadTtl,
};

/// Parses the binary's output for tunnel `want`.
pub fn parse(text: []const u8, want: *const names.TunnelId) Error!Answer {
    if (text.len > answer_bytes_max) return error.AnswerTooLong;
    var answer: Answer = .{
        .connector = undefined,
        .fake_port = 0,
        .lankey = undefined,
        .lankey_len = 0,
        .lankey_id = @splat(0),
        .listener = null,
        .listener_address = null,
        .ttl_seconds = ttl_default_seconds,
    };
    var have_connector = false;
    var lines = std.mem.splitScalar(u8, text, '\n');
    while (lines.next()) |raw| {
        const line = std.mem.trimEnd(u8, raw, "\r");
        if (line.len > line_bytes_max) return error.LineTooLong;
        if (line.len == 0) continue;
        const equals = std.mem.findScalar(u8, line, '=') orelse return error.NotKeyValue;
        if (equals == 0) return error.NotKeyValue;
        const key = line[0..equals];
        const value = line[equals + 1 ..];
        if (std.mem.eql(u8, key, "connector_contact_string")) have_connector = true;
        try apply(&answer, key, value, want);
    }
    if (!have_connector) return error.MissingConnector;
    if (answer.fake_port == 0) return error.MissingFakePort;
    return answer;
}

fn apply(
    answer: *Answer,
    key: []const u8,
    value: []const u8,
    want: *const names.TunnelId,
) Error!void {
    if (std.mem.eql(u8, key, "tunnel_id")) {
        const got = names.TunnelId.parse(value) orelse return error.WrongTunnel;
        if (!got.eql(want)) return error.WrongTunnel;
    } else if (std.mem.eql(u8, key, "connector_contact_string")) {
        const parsed = contact.Contact.parse(value) orelse return error.BadConnector;
        answer.connector = contact.Address.from_text(parsed.host_text(), parsed.port) orelse
            return error.BadConnector;
    } else if (std.mem.eql(u8, key, "fake_port")) {
        answer.fake_port = contact.parse_port(value) orelse return error.BadFakePort;
    } else if (std.mem.eql(u8, key, "lankey")) {
        if (value.len > lankey_bytes_max) return error.SecretTooLong;
        @memcpy(answer.lankey[0..value.len], value);
        answer.lankey_len = @intCast(value.len);
    } else if (std.mem.eql(u8, key, "lankey_id")) {
        answer.lankey_id = if (value.len == 0) @splat(0) else names.parse_uuid(value) orelse
            return error.BadSecretId;
    } else if (std.mem.eql(u8, key, "listener_contact_string")) {
        if (value.len == 0) return;
        const parsed = contact.Contact.parse(value) orelse return error.BadListener;
        answer.listener = parsed;
        answer.listener_address = contact.Address.from_text(parsed.host_text(), parsed.port);
    } else if (std.mem.eql(u8, key, "ttl_seconds")) {
        if (value.len == 0 or value.len > 10) return error.BadTtl;
        for (value) |char| if (!std.ascii.isDigit(char)) return error.BadTtl;
        const ttl = std.fmt.parseUnsigned(u64, value, 10) catch return error.BadTtl;
        answer.ttl_seconds = @intCast(@min(ttl, ttl_max_seconds));
    }
}

const testing = std.testing;
const tunnel = names.TunnelId.parse("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f").?;

test "a full answer parses" {
    const text =
        "tunnel_id=5F2C8E4A-1b3d-4c5e-9f60-7a8b9c0d1e2f\n" ++
        "connector_contact_string=127.0.0.1:50123\r\n" ++
        "fake_port=4001\n" ++
        "lankey=s3cret=with=equals\n" ++
        "lankey_id=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n" ++
        "listener_contact_string=10.0.0.5:8888\n" ++
        "ttl_seconds=30\n" ++
        "some_future_key=whatever\n\n";
    const answer = try parse(text, &tunnel);
    try testing.expectEqual(@as(u16, 50123), answer.connector.port);
    try testing.expect(answer.connector.same_ip(contact.Address.from_text("127.0.0.1", 1).?));
    try testing.expectEqual(@as(u16, 4001), answer.fake_port);
    try testing.expectEqualStrings("s3cret=with=equals", answer.secret().?);
    try testing.expectEqual(@as(u8, 0x0a), answer.lankey_id[0]);
    try testing.expectEqualStrings("10.0.0.5", answer.listener.?.host_text());
    try testing.expectEqual(@as(u16, 8888), answer.listener_address.?.port);
    try testing.expectEqual(@as(u32, 30), answer.ttl_seconds);
}

test "a minimal answer has no secret, no listener and the default ttl" {
    const answer = try parse("connector_contact_string=[::1]:7000\nfake_port=1234", &tunnel);
    try testing.expect(answer.secret() == null);
    try testing.expect(answer.listener == null);
    try testing.expectEqual(@as(u32, ttl_default_seconds), answer.ttl_seconds);
    try testing.expectEqual(@as(c_int, 10), answer.connector.family);
    try testing.expect(std.mem.allEqual(u8, &answer.lankey_id, 0));
    const named = try parse("connector_contact_string=1.2.3.4:7\nfake_port=9\n" ++
        "listener_contact_string=real.host:443\nlankey=\n", &tunnel);
    try testing.expectEqualStrings("real.host", named.listener.?.host_text());
    try testing.expect(named.listener_address == null);
    try testing.expect(named.secret() == null);
    const capped = try parse(
        "connector_contact_string=1.2.3.4:7\nfake_port=9\nttl_seconds=9999999999",
        &tunnel,
    );
    try testing.expectEqual(@as(u32, ttl_max_seconds), capped.ttl_seconds);
}

test "answers with missing keys, garbage or overlong lines are refused" {
    const cases = [_]struct { text: []const u8, err: Error }{
        .{ .text = "", .err = error.MissingConnector },
        .{ .text = "fake_port=4001\n", .err = error.MissingConnector },
        .{ .text = "connector_contact_string=127.0.0.1:1\n", .err = error.MissingFakePort },
        .{
            .text = "connector_contact_string=ap.example:1\nfake_port=2",
            .err = error.BadConnector,
        },
        .{ .text = "connector_contact_string=127.0.0.1\nfake_port=2", .err = error.BadConnector },
        .{ .text = "connector_contact_string=127.0.0.1:1\nfake_port=0", .err = error.BadFakePort },
        .{ .text = "connector_contact_string=127.0.0.1:1\nfake_port=x", .err = error.BadFakePort },
        .{ .text = "Your contact string is: globus.x:1\n", .err = error.NotKeyValue },
        .{ .text = "=value\n", .err = error.NotKeyValue },
        .{ .text = "\x00\xff\xfe garbage", .err = error.NotKeyValue },
        .{ .text = "tunnel_id=00112233-4455-4677-8899-aabbccddeeff\n", .err = error.WrongTunnel },
        .{ .text = "tunnel_id=nope\n", .err = error.WrongTunnel },
        .{ .text = "lankey_id=not-a-uuid\n", .err = error.BadSecretId },
        .{ .text = "listener_contact_string=no-port\n", .err = error.BadListener },
        .{ .text = "ttl_seconds=-1\n", .err = error.BadTtl },
        .{ .text = "ttl_seconds=\n", .err = error.BadTtl },
    };
    for (cases) |case| try testing.expectError(case.err, parse(case.text, &tunnel));

    const long_line = "x=" ++ @as([line_bytes_max]u8, @splat('y'));
    try testing.expectError(error.LineTooLong, parse(long_line, &tunnel));
    const long_secret = "lankey=" ++ @as([lankey_bytes_max + 1]u8, @splat('k'));
    try testing.expectError(error.SecretTooLong, parse(long_secret, &tunnel));
    const huge = @as([answer_bytes_max + 1]u8, @splat('\n'));
    try testing.expectError(error.AnswerTooLong, parse(&huge, &tunnel));
}
