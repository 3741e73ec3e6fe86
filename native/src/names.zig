//! Tunnel ids and the host names this library answers for.
//!
//! A tunnel id is a UUID (`5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f`, any case). The name
//! `globus.<tunnel id>` (any case, optional trailing dot) resolves through that tunnel;
//! `globus.org` and other names that merely start with `globus.` are left to DNS.

const std = @import("std");
const assert = std.debug.assert;

pub const tunnel_id_text_len = 36;
pub const host_name_bytes_max = 253;
pub const hosts_max = 16;

pub const TunnelId = struct {
    /// The UUID's 16 bytes, as GSA1 puts them on the wire.
    bytes: [16]u8,
    /// Canonical lowercase text, as the binary is given it.
    text: [tunnel_id_text_len]u8,

    pub fn parse(text: []const u8) ?TunnelId {
        if (text.len != tunnel_id_text_len) return null;
        var id: TunnelId = undefined;
        var nibble_index: usize = 0;
        for (text, 0..) |char, index| {
            const dash = index == 8 or index == 13 or index == 18 or index == 23;
            if (dash) {
                if (char != '-') return null;
                id.text[index] = '-';
                continue;
            }
            const value = std.fmt.charToDigit(char, 16) catch return null;
            id.text[index] = std.ascii.toLower(char);
            const byte = nibble_index / 2;
            if (nibble_index % 2 == 0) {
                id.bytes[byte] = @as(u8, value) << 4;
            } else {
                id.bytes[byte] |= value;
            }
            nibble_index += 1;
        }
        assert(nibble_index == 32);
        return id;
    }

    pub fn eql(a: *const TunnelId, b: *const TunnelId) bool {
        return std.mem.eql(u8, &a.bytes, &b.bytes);
    }
};

/// A parsed UUID that is not a tunnel: the LAN secret's id.
pub fn parse_uuid(text: []const u8) ?[16]u8 {
    const id = TunnelId.parse(text) orelse return null;
    return id.bytes;
}

/// The name without one trailing dot, or null when it is empty, too long, or still ends
/// in a dot (an empty last label, as in ".." or "host..", is no name).
pub fn trim_name(name: []const u8) ?[]const u8 {
    const dotted = name.len > 0 and name[name.len - 1] == '.';
    const trimmed = if (dotted) name[0 .. name.len - 1] else name;
    if (trimmed.len == 0) return null;
    if (trimmed.len > host_name_bytes_max) return null;
    if (trimmed[trimmed.len - 1] == '.') return null;
    return trimmed;
}

/// The tunnel named by `globus.<tunnel id>`, or null for any other name.
pub fn globus_name(name: []const u8) ?TunnelId {
    const prefix = "globus.";
    const trimmed = trim_name(name) orelse return null;
    if (!std.ascii.startsWithIgnoreCase(trimmed, prefix)) return null;
    return TunnelId.parse(trimmed[prefix.len..]);
}

/// True when name is host, ignoring case and one trailing dot on either.
pub fn same_host(name: []const u8, host: []const u8) bool {
    const a = trim_name(name) orelse return false;
    const b = trim_name(host) orelse return false;
    return std.ascii.eqlIgnoreCase(a, b);
}

/// The comma-separated names of GLOBUS_STREAMS_HOSTS, kept in fixed storage.
pub const HostList = struct {
    names: [hosts_max][host_name_bytes_max]u8 = undefined,
    lens: [hosts_max]u8 = @splat(0),
    count: u8 = 0,

    comptime {
        assert(host_name_bytes_max <= std.math.maxInt(u8));
        assert(hosts_max <= std.math.maxInt(u8));
    }

    /// Adds each name in a comma-separated list; returns how many were dropped (too
    /// long, empty, or beyond hosts_max).
    pub fn parse(list: *HostList, text: []const u8) u32 {
        var dropped: u32 = 0;
        var parts = std.mem.splitScalar(u8, text, ',');
        while (parts.next()) |part| {
            const name = trim_name(std.mem.trim(u8, part, " \t")) orelse {
                if (std.mem.trim(u8, part, " \t").len > 0) dropped += 1;
                continue;
            };
            if (list.count == hosts_max) {
                dropped += 1;
                continue;
            }
            @memcpy(list.names[list.count][0..name.len], name);
            list.lens[list.count] = @intCast(name.len);
            list.count += 1;
        }
        return dropped;
    }

    pub fn contains(list: *const HostList, name: []const u8) bool {
        assert(list.count <= hosts_max);
        for (0..list.count) |index| {
            if (same_host(name, list.names[index][0..list.lens[index]])) return true;
        }
        return false;
    }
};

const testing = std.testing;

test "tunnel ids parse in any case and keep their bytes" {
    const id = TunnelId.parse("5F2C8E4A-1b3d-4c5e-9f60-7a8b9c0d1e2f").?;
    try testing.expectEqualStrings("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f", &id.text);
    try testing.expectEqual(@as(u8, 0x5f), id.bytes[0]);
    try testing.expectEqual(@as(u8, 0x2f), id.bytes[15]);
    try testing.expect(TunnelId.parse("5f2c8e4a1b3d4c5e9f607a8b9c0d1e2f") == null);
    try testing.expect(TunnelId.parse("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2") == null);
    try testing.expect(TunnelId.parse("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2g") == null);
    try testing.expect(TunnelId.parse("5f2c8e4a_1b3d-4c5e-9f60-7a8b9c0d1e2f") == null);
    try testing.expect(TunnelId.parse("") == null);
}

test "globus.<tunnel id> names match in any case with an optional trailing dot" {
    const want = TunnelId.parse("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f").?;
    const names = [_][]const u8{
        "globus.5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f",
        "GLOBUS.5F2C8E4A-1B3D-4C5E-9F60-7A8B9C0D1E2F",
        "globus.5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f.",
    };
    for (names) |name| {
        const got = globus_name(name) orelse return error.TestExpectedMatch;
        try testing.expect(got.eql(&want));
    }
    const others = [_][]const u8{
        "globus.org",                                          "www.globus.org",
        "globus.5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f..",       "globus.",
        "xglobus.5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f",        "",
        "globus.5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f.example", ".",
    };
    for (others) |name| try testing.expect(globus_name(name) == null);
}

test "the host list matches names and drops what it cannot hold" {
    var list: HostList = .{};
    try testing.expectEqual(@as(u32, 0), list.parse("real.host, Other.Example.org.,"));
    try testing.expect(list.contains("REAL.host"));
    try testing.expect(list.contains("other.example.org"));
    try testing.expect(list.contains("other.example.org."));
    try testing.expect(!list.contains("real.host.example"));
    try testing.expect(!list.contains(""));

    var full: HostList = .{};
    const many = "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r";
    try testing.expectEqual(@as(u32, 2), full.parse(many));
    try testing.expectEqual(@as(u8, hosts_max), full.count);
    try testing.expect(full.contains("p"));
    try testing.expect(!full.contains("q"));

    var dots: HostList = .{};
    try testing.expectEqual(@as(u32, 3), dots.parse("..,host..,.,ok.,"));
    try testing.expectEqual(@as(u8, 1), dots.count);
    try testing.expect(dots.contains("ok"));
    try testing.expect(!dots.contains("."));
    try testing.expect(trim_name("..") == null);
    try testing.expect(trim_name("host..") == null);

    var long: HostList = .{};
    const too_long = @as([host_name_bytes_max + 1]u8, @splat('x'));
    try testing.expectEqual(@as(u32, 1), long.parse(&too_long));
    try testing.expectEqual(@as(u8, 0), long.count);
}
