//! The environment this library reads, once, at the first hook call.
//!
//!   GLOBUS_STREAMS_TUNNEL=<id>                  initiating side: the tunnel of this program
//!   GLOBUS_STREAMS_ALL=1                        every outbound TCP connect goes into it
//!   GLOBUS_STREAMS_HOSTS=name1,name2            these names resolve into the tunnel
//!   GLOBUS_STREAMS_LISTENER_CONTACT=host:port   the tunnel's listener contact as the
//!                                               launcher found it (empty: none known),
//!                                               used until the first lookup answers
//!   GLOBUS_STREAMS_INTERCEPT_PORT_<port>=<id>   listening side: accept() on that port runs GSA1
//!   GLOBUS_STREAMS_BIN                          the binary (else globus-streams on PATH)
//!   GLOBUS_STREAMS_LOOKUP_TIMEOUT               ms for one contact lookup (default 15000)
//!   GLOBUS_STREAMS_HANDSHAKE_TIMEOUT            s for connect + GSA1 (default 10)
//!   GLOBUS_STREAMS_DEBUG                        see log.zig

const std = @import("std");
const assert = std.debug.assert;
const names = @import("names.zig");
const contact = @import("contact.zig");

pub const intercepts_max = 32;
pub const path_bytes_max = 4096;
pub const lookup_timeout_default_ms = 15_000;
pub const lookup_timeout_max_ms = 600_000;
pub const handshake_timeout_default_ms = 10_000;
pub const handshake_timeout_max_seconds = 3600;

const intercept_prefix = "GLOBUS_STREAMS_INTERCEPT_PORT_";

pub const Intercept = struct {
    port: u16,
    /// Null when the variable's value is not a tunnel id: such a port still runs the
    /// challenger side and refuses every peer, rather than falling open.
    tunnel: ?names.TunnelId,
};

pub const Conf = struct {
    tunnel: ?names.TunnelId = null,
    all: bool = false,
    hosts: names.HostList = .{},
    /// GLOBUS_STREAMS_LISTENER_CONTACT was set (even empty): no cold-start wait.
    listener_hint_set: bool = false,
    listener_hint: ?contact.Contact = null,
    intercepts: [intercepts_max]Intercept = undefined,
    intercepts_count: u8 = 0,
    /// Intercept variables that could not be used (bad port, table full).
    intercepts_dropped: u8 = 0,
    bin: [path_bytes_max]u8 = undefined,
    bin_len: u16 = 0,
    lookup_timeout_ms: u32 = lookup_timeout_default_ms,
    handshake_timeout_ms: u32 = handshake_timeout_default_ms,

    comptime {
        assert(intercepts_max <= std.math.maxInt(u8));
        assert(path_bytes_max <= std.math.maxInt(u16));
    }

    /// Applies one `NAME=VALUE` environment entry; others are ignored.
    pub fn apply(conf: *Conf, entry: []const u8) void {
        if (!std.mem.startsWith(u8, entry, "GLOBUS_STREAMS_")) return;
        const equals = std.mem.findScalar(u8, entry, '=') orelse return;
        const name = entry[0..equals];
        const value = entry[equals + 1 ..];
        if (std.mem.startsWith(u8, name, intercept_prefix)) {
            conf.add_intercept(name[intercept_prefix.len..], value);
        } else if (std.mem.eql(u8, name, "GLOBUS_STREAMS_TUNNEL")) {
            conf.tunnel = names.TunnelId.parse(value);
        } else if (std.mem.eql(u8, name, "GLOBUS_STREAMS_ALL")) {
            conf.all = truthy(value);
        } else if (std.mem.eql(u8, name, "GLOBUS_STREAMS_LISTENER_CONTACT")) {
            conf.listener_hint_set = true;
            conf.listener_hint = contact.Contact.parse(value);
        } else if (std.mem.eql(u8, name, "GLOBUS_STREAMS_HOSTS")) {
            _ = conf.hosts.parse(value);
        } else if (std.mem.eql(u8, name, "GLOBUS_STREAMS_BIN")) {
            if (value.len < path_bytes_max) {
                @memcpy(conf.bin[0..value.len], value);
                conf.bin_len = @intCast(value.len);
            }
        } else if (std.mem.eql(u8, name, "GLOBUS_STREAMS_LOOKUP_TIMEOUT")) {
            conf.lookup_timeout_ms = bounded(
                value,
                1,
                lookup_timeout_max_ms,
            ) orelse lookup_timeout_default_ms;
        } else if (std.mem.eql(u8, name, "GLOBUS_STREAMS_HANDSHAKE_TIMEOUT")) {
            const seconds = bounded(value, 1, handshake_timeout_max_seconds);
            conf.handshake_timeout_ms = if (seconds) |s| s * 1000 else handshake_timeout_default_ms;
        }
    }

    fn add_intercept(conf: *Conf, port_text: []const u8, value: []const u8) void {
        const port = contact.parse_port(port_text) orelse {
            conf.intercepts_dropped +|= 1;
            return;
        };
        if (conf.intercept_for(port) != null) return; // The first one wins.
        if (conf.intercepts_count == intercepts_max) {
            conf.intercepts_dropped +|= 1;
            return;
        }
        conf.intercepts[conf.intercepts_count] = .{
            .port = port,
            .tunnel = names.TunnelId.parse(value),
        };
        conf.intercepts_count += 1;
    }

    /// The index of the intercept for a local port, if any.
    pub fn intercept_for(conf: *const Conf, port: u16) ?u8 {
        assert(conf.intercepts_count <= intercepts_max);
        for (conf.intercepts[0..conf.intercepts_count], 0..) |intercept, index| {
            if (intercept.port == port) return @intCast(index);
        }
        return null;
    }

    pub fn bin_path(conf: *const Conf) ?[]const u8 {
        if (conf.bin_len == 0) return null;
        return conf.bin[0..conf.bin_len];
    }
};

fn truthy(value: []const u8) bool {
    const yes = [_][]const u8{ "1", "true", "yes", "on" };
    for (yes) |word| if (std.ascii.eqlIgnoreCase(value, word)) return true;
    return false;
}

fn bounded(value: []const u8, min: u32, max: u32) ?u32 {
    assert(min <= max);
    if (value.len == 0 or value.len > 10) return null;
    const number = std.fmt.parseUnsigned(u64, value, 10) catch return null;
    if (number < min or number > max) return null;
    return @intCast(number);
}

/// The process's configuration, filled by init.zig before any hook uses it.
pub var global: Conf = .{};

const testing = std.testing;

test "the environment fills the configuration and ignores what it cannot use" {
    var conf: Conf = .{};
    const entries = [_][]const u8{
        "PATH=/usr/bin",
        "GLOBUS_STREAMS_TUNNEL=5F2C8E4A-1b3d-4c5e-9f60-7a8b9c0d1e2f",
        "GLOBUS_STREAMS_ALL=1",
        "GLOBUS_STREAMS_HOSTS=real.host,other.host",
        "GLOBUS_STREAMS_INTERCEPT_PORT_8888=00112233-4455-4677-8899-aabbccddeeff",
        "GLOBUS_STREAMS_INTERCEPT_PORT_8888=5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f",
        "GLOBUS_STREAMS_INTERCEPT_PORT_9999=not-a-tunnel",
        "GLOBUS_STREAMS_INTERCEPT_PORT_0=5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f",
        "GLOBUS_STREAMS_INTERCEPT_PORT_x=5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f",
        "GLOBUS_STREAMS_BIN=/opt/gs/bin/globus-streams",
        "GLOBUS_STREAMS_LOOKUP_TIMEOUT=2500",
        "GLOBUS_STREAMS_HANDSHAKE_TIMEOUT=3",
        "GLOBUS_STREAMS_UNKNOWN=1",
        "GLOBUS_STREAMS_NO_EQUALS",
    };
    for (entries) |entry| conf.apply(entry);
    try testing.expectEqualStrings("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f", &conf.tunnel.?.text);
    try testing.expect(conf.all);
    try testing.expect(conf.hosts.contains("other.host"));
    try testing.expectEqual(@as(u8, 2), conf.intercepts_count);
    try testing.expectEqual(@as(u8, 2), conf.intercepts_dropped);
    const first = conf.intercepts[conf.intercept_for(8888).?];
    try testing.expectEqualStrings("00112233-4455-4677-8899-aabbccddeeff", &first.tunnel.?.text);
    try testing.expect(conf.intercepts[conf.intercept_for(9999).?].tunnel == null);
    try testing.expect(conf.intercept_for(1234) == null);
    try testing.expectEqualStrings("/opt/gs/bin/globus-streams", conf.bin_path().?);
    try testing.expectEqual(@as(u32, 2500), conf.lookup_timeout_ms);
    try testing.expectEqual(@as(u32, 3000), conf.handshake_timeout_ms);
}

test "bad timeouts and flags fall back to the defaults" {
    var conf: Conf = .{};
    conf.apply("GLOBUS_STREAMS_HANDSHAKE_TIMEOUT=0");
    conf.apply("GLOBUS_STREAMS_LOOKUP_TIMEOUT=-5");
    conf.apply("GLOBUS_STREAMS_ALL=0");
    conf.apply("GLOBUS_STREAMS_TUNNEL=nope");
    try testing.expectEqual(@as(u32, handshake_timeout_default_ms), conf.handshake_timeout_ms);
    try testing.expectEqual(@as(u32, lookup_timeout_default_ms), conf.lookup_timeout_ms);
    try testing.expect(!conf.all);
    try testing.expect(conf.tunnel == null);
    conf.apply("GLOBUS_STREAMS_HANDSHAKE_TIMEOUT=99999999999");
    try testing.expectEqual(@as(u32, handshake_timeout_default_ms), conf.handshake_timeout_ms);
}

test "intercepts beyond the table are counted as dropped" {
    var conf: Conf = .{};
    var buffer: [128]u8 = undefined;
    for (0..intercepts_max + 3) |index| {
        const entry = try std.fmt.bufPrint(
            &buffer,
            "GLOBUS_STREAMS_INTERCEPT_PORT_{d}=5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f",
            .{index + 1000},
        );
        conf.apply(entry);
    }
    try testing.expectEqual(@as(u8, intercepts_max), conf.intercepts_count);
    try testing.expectEqual(@as(u8, 3), conf.intercepts_dropped);
    try testing.expect(conf.intercept_for(1000) != null);
    try testing.expect(conf.intercept_for(1000 + intercepts_max) == null);
}
