//! Contact strings (`HOST:PORT`, `[v6]:PORT`) and socket addresses.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const names = @import("names.zig");

/// `[` + the longest IPv6 text + `]:65535`, with room to spare.
pub const address_text_bytes_max = 64;

/// A contact string's parts; host is a name or an IP literal without brackets.
pub const Contact = struct {
    host: [names.host_name_bytes_max]u8 = undefined,
    host_len: u8 = 0,
    port: u16 = 0,

    pub fn host_text(contact: *const Contact) []const u8 {
        return contact.host[0..contact.host_len];
    }

    /// Parses `HOST:PORT` or `[v6]:PORT`; port 1-65535. Null for anything else.
    pub fn parse(text: []const u8) ?Contact {
        const colon = std.mem.findScalarLast(u8, text, ':') orelse return null;
        var host = text[0..colon];
        const port = parse_port(text[colon + 1 ..]) orelse return null;
        if (host.len > 0 and host[0] == '[') {
            if (host[host.len - 1] != ']') return null;
            host = host[1 .. host.len - 1];
            if (std.mem.findScalar(u8, host, ':') == null) return null;
        } else if (std.mem.findScalar(u8, host, ':') != null) {
            return null; // A bare IPv6 address needs brackets.
        }
        if (host.len == 0 or host.len > names.host_name_bytes_max) return null;
        for (host) |char| {
            const bad = char <= ' ' or char >= 0x7f or char == '/';
            if (bad or char == '[' or char == ']') return null;
        }
        var contact: Contact = .{ .port = port, .host_len = @intCast(host.len) };
        @memcpy(contact.host[0..host.len], host);
        return contact;
    }
};

/// A decimal port 1-65535, no sign, no spaces.
pub fn parse_port(text: []const u8) ?u16 {
    if (text.len == 0 or text.len > 5) return null;
    for (text) |char| if (!std.ascii.isDigit(char)) return null;
    const value = std.fmt.parseUnsigned(u32, text, 10) catch return null;
    if (value == 0 or value > 65535) return null;
    return @intCast(value);
}

/// An IPv4 or IPv6 address and port, in host byte order for the port.
pub const Address = struct {
    family: c_int,
    /// IPv4 in the first 4 bytes; IPv6 in all 16.
    ip: [16]u8,
    port: u16,

    /// From a numeric host (no brackets); null for names and bad text.
    pub fn from_text(host: []const u8, port: u16) ?Address {
        var text: [address_text_bytes_max]u8 = undefined;
        if (host.len == 0 or host.len >= text.len) return null;
        @memcpy(text[0..host.len], host);
        text[host.len] = 0;
        var address: Address = .{ .family = sys.AF_INET, .ip = @splat(0), .port = port };
        if (sys.inet_pton(sys.AF_INET, @ptrCast(&text), &address.ip) == 1) return address;
        address.family = sys.AF_INET6;
        if (sys.inet_pton(sys.AF_INET6, @ptrCast(&text), &address.ip) == 1) return address;
        return null;
    }

    /// From a socket address the program passed; null for other families or short lengths.
    pub fn from_sockaddr(raw: *const anyopaque, len: sys.socklen_t) ?Address {
        if (len < @sizeOf(u16)) return null;
        const family: *align(1) const u16 = @ptrCast(raw);
        if (family.* == sys.AF_INET and len >= @sizeOf(sys.sockaddr_in)) {
            const in: *align(1) const sys.sockaddr_in = @ptrCast(raw);
            var address: Address = .{
                .family = sys.AF_INET,
                .ip = @splat(0),
                .port = std.mem.bigToNative(u16, in.port),
            };
            @memcpy(address.ip[0..4], &in.addr);
            return address;
        }
        if (family.* == sys.AF_INET6 and len >= @sizeOf(sys.sockaddr_in6)) {
            const in6: *align(1) const sys.sockaddr_in6 = @ptrCast(raw);
            return .{
                .family = sys.AF_INET6,
                .ip = in6.addr,
                .port = std.mem.bigToNative(u16, in6.port),
            };
        }
        return null;
    }

    /// The same address with an IPv4-mapped IPv6 address (::ffff:a.b.c.d) made IPv4.
    pub fn unmapped(address: Address) Address {
        if (address.family != sys.AF_INET6) return address;
        const mapped_prefix = [12]u8{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (!std.mem.eql(u8, address.ip[0..12], &mapped_prefix)) return address;
        var v4: Address = .{ .family = sys.AF_INET, .ip = @splat(0), .port = address.port };
        @memcpy(v4.ip[0..4], address.ip[12..16]);
        return v4;
    }

    pub fn same_ip(a: Address, b: Address) bool {
        const x = a.unmapped();
        const y = b.unmapped();
        if (x.family != y.family) return false;
        const len: usize = if (x.family == sys.AF_INET) 4 else 16;
        return std.mem.eql(u8, x.ip[0..len], y.ip[0..len]);
    }

    pub fn same_endpoint(a: Address, b: Address) bool {
        return a.port == b.port and a.same_ip(b);
    }

    /// Writes this address as a sockaddr of the given family (IPv4 into AF_INET6 as a
    /// mapped address). Null when an IPv6 address is asked for as AF_INET.
    pub fn to_sockaddr(address: Address, family: c_int, out: *sys.sockaddr_storage) ?sys.socklen_t {
        const plain = address.unmapped();
        out.* = std.mem.zeroes(sys.sockaddr_storage);
        if (family == sys.AF_INET) {
            if (plain.family != sys.AF_INET) return null;
            const in: *sys.sockaddr_in = @ptrCast(out);
            in.* = .{
                .family = sys.AF_INET,
                .port = std.mem.nativeToBig(u16, plain.port),
                .addr = plain.ip[0..4].*,
            };
            return @sizeOf(sys.sockaddr_in);
        }
        assert(family == sys.AF_INET6);
        const in6: *sys.sockaddr_in6 = @ptrCast(out);
        in6.* = .{
            .family = sys.AF_INET6,
            .port = std.mem.nativeToBig(u16, plain.port),
            .addr = @splat(0),
        };
        if (plain.family == sys.AF_INET) {
            in6.addr[10] = 0xff;
            in6.addr[11] = 0xff;
            @memcpy(in6.addr[12..16], plain.ip[0..4]);
        } else {
            in6.addr = plain.ip;
        }
        return @sizeOf(sys.sockaddr_in6);
    }

    pub fn is_loopback(address: Address) bool {
        const plain = address.unmapped();
        if (plain.family == sys.AF_INET) return plain.ip[0] == 127;
        const loopback = [16]u8{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
        return std.mem.eql(u8, &plain.ip, &loopback);
    }

    /// `1.2.3.4:80` or `[::1]:80`, for log lines.
    pub fn format(address: Address, buffer: *[address_text_bytes_max]u8) []const u8 {
        var ip_text: [48]u8 = @splat(0);
        const ip = sys.inet_ntop(
            address.family,
            &address.ip,
            &ip_text,
            ip_text.len,
        ) orelse return "?";
        const text = std.mem.span(ip);
        if (address.family == sys.AF_INET6) {
            return std.fmt.bufPrint(buffer, "[{s}]:{d}", .{ text, address.port }) catch "?";
        }
        return std.fmt.bufPrint(buffer, "{s}:{d}", .{ text, address.port }) catch "?";
    }
};

/// `<peer address> on port <port>` for a connection accepted on port, for log lines.
pub fn describe_peer(client: c_int, port: u16, buffer: []u8) []const u8 {
    var storage: sys.sockaddr_storage = undefined;
    var len: sys.socklen_t = @sizeOf(sys.sockaddr_storage);
    var text: [address_text_bytes_max]u8 = undefined;
    const peer_name = sys.getpeername(client, &storage, &len) == 0;
    const peer = if (peer_name) Address.from_sockaddr(&storage, len) else null;
    const shown: []const u8 = if (peer) |p| p.format(&text) else "?";
    return std.fmt.bufPrint(buffer, "{s} on port {d}", .{ shown, port }) catch "?";
}

const testing = std.testing;

test "contact strings parse for names, IPv4 and bracketed IPv6" {
    const v4 = Contact.parse("127.0.0.1:50123").?;
    try testing.expectEqualStrings("127.0.0.1", v4.host_text());
    try testing.expectEqual(@as(u16, 50123), v4.port);
    const v6 = Contact.parse("[::1]:443").?;
    try testing.expectEqualStrings("::1", v6.host_text());
    try testing.expectEqual(@as(u16, 443), v6.port);
    const name = Contact.parse("real.host:8888").?;
    try testing.expectEqualStrings("real.host", name.host_text());

    const bad = [_][]const u8{
        "",                "127.0.0.1",     "127.0.0.1:",    ":80",     "127.0.0.1:0",
        "127.0.0.1:65536", "127.0.0.1:+80", "127.0.0.1: 80", "::1:443", "[::1]443",
        "[::1:443",        "[]:443",        "[1.2.3.4]:80",  "a b:80",  "host:123456",
        "host:-1",
    };
    for (bad) |text| {
        if (Contact.parse(text) != null) {
            std.debug.print("accepted bad contact \"{s}\"\n", .{text});
            return error.TestUnexpectedContact;
        }
    }
}

test "addresses compare across IPv4-mapped IPv6" {
    const v4 = Address.from_text("127.0.0.1", 4001).?;
    const mapped = Address.from_text("::ffff:127.0.0.1", 4001).?;
    const v6 = Address.from_text("::1", 4001).?;
    try testing.expect(v4.same_endpoint(mapped));
    try testing.expect(!v4.same_endpoint(v6));
    try testing.expect(v4.is_loopback());
    try testing.expect(v6.is_loopback());
    try testing.expect(!Address.from_text("10.0.0.5", 1).?.is_loopback());
    try testing.expect(Address.from_text("real.host", 1) == null);
    try testing.expect(Address.from_text("", 1) == null);
    try testing.expect(!v4.same_endpoint(Address.from_text("127.0.0.1", 4002).?));
}

test "addresses round-trip through sockaddr in both families" {
    const v4 = Address.from_text("10.1.2.3", 8080).?;
    var storage: sys.sockaddr_storage = undefined;
    const len4 = v4.to_sockaddr(sys.AF_INET, &storage).?;
    try testing.expectEqual(@as(u32, 16), len4);
    try testing.expect(Address.from_sockaddr(&storage, len4).?.same_endpoint(v4));
    const len6 = v4.to_sockaddr(sys.AF_INET6, &storage).?;
    try testing.expectEqual(@as(u32, 28), len6);
    const back = Address.from_sockaddr(&storage, len6).?;
    try testing.expectEqual(sys.AF_INET6, back.family);
    try testing.expect(back.same_endpoint(v4));
    try testing.expect(Address.from_sockaddr(&storage, 10) == null);

    const v6 = Address.from_text("2001:db8::7", 443).?;
    try testing.expect(v6.to_sockaddr(sys.AF_INET, &storage) == null);
    var text: [address_text_bytes_max]u8 = undefined;
    try testing.expectEqualStrings("[2001:db8::7]:443", v6.format(&text));
    try testing.expectEqualStrings("10.1.2.3:8080", v4.format(&text));
}
