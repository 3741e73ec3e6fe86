//! Name resolution hooks: getaddrinfo, gethostbyname, gethostbyname2, gethostbyname_r.
//!
//! `globus.<tunnel id>`, the names of GLOBUS_STREAMS_HOSTS, and the host of the tunnel's
//! listener contact when it is a name, resolve to the tunnel's pool address (pool.zig)
//! with the port the program asked for; connect() to that address, on any port, goes
//! into the tunnel. Every other name goes to libc untouched. Only TCP results are given
//! (SOCK_STREAM). Results are laid out as glibc lays out its own (one malloc for the node
//! and its address, one for the canonical name), so glibc's freeaddrinfo frees them, on
//! their own or chained with libc's results: freeaddrinfo is not hooked.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const real = @import("real.zig");
const init = @import("init.zig");
const log = @import("log.zig");
const names = @import("names.zig");
const contact = @import("contact.zig");
const answer = @import("answer.zig");
const pool = @import("pool.zig");
const route = @import("route.zig");

const Decision = union(enum) {
    pass,
    tunnel: names.TunnelId,
};

/// Pass the name to libc, or answer it from a tunnel. Numeric hosts always pass.
fn decide(name: []const u8) Decision {
    const id = route.tunnel_of_name(name) orelse return .pass;
    return .{ .tunnel = id };
}

/// The tunnel's pool address, once its lookup has answered (a tunnel without a conf file
/// gives no address); null otherwise, with again set when trying later may help.
fn tunnel_address(
    name: []const u8,
    id: *const names.TunnelId,
    hook: log.Hook,
    again: *bool,
) ?contact.Address {
    var found: answer.Answer = undefined;
    if (route.fetch(id, &found, hook, name)) |problem| {
        again.* = problem.kind == .timeout or problem.kind == .busy;
        return null;
    }
    const address = pool.address_for(id) orelse {
        log.line(hook, "{s}: more than {d} tunnels named in this process", .{
            name, pool.slots_max,
        });
        again.* = true;
        return null;
    };
    var text: [contact.address_text_bytes_max]u8 = undefined;
    var access_point: [contact.address_text_bytes_max]u8 = undefined;
    log.line(hook, "{s} -> {s} (tunnel {s}, access point {s})", .{
        name,
        address.format(&text),
        &id.text,
        found.connector.format(&access_point),
    });
    return address;
}

export fn getaddrinfo(
    node: ?[*:0]const u8,
    service: ?[*:0]const u8,
    hints: ?*const sys.addrinfo,
    result: ?*?*sys.addrinfo,
) callconv(.c) c_int {
    init.ensure();
    const real_getaddrinfo = real.functions.getaddrinfo orelse {
        sys.set_errno(sys.ENOSYS);
        return sys.EAI_SYSTEM;
    };
    const name_z = node orelse return real_getaddrinfo(node, service, hints, result);
    const out = result orelse return real_getaddrinfo(node, service, hints, result);
    const flags = if (hints) |h| h.flags else 0;
    if (flags & sys.AI_NUMERICHOST != 0) return real_getaddrinfo(node, service, hints, out);
    const name = std.mem.span(name_z);
    switch (decide(name)) {
        .pass => return real_getaddrinfo(node, service, hints, out),
        .tunnel => |id| return tunnel_getaddrinfo(name, &id, service, hints, out),
    }
}

const Wanted = struct { family: c_int, flags: c_int, port: u16 };

fn tunnel_getaddrinfo(
    name: []const u8,
    id: *const names.TunnelId,
    service: ?[*:0]const u8,
    hints: ?*const sys.addrinfo,
    out: *?*sys.addrinfo,
) c_int {
    var wanted: Wanted = .{ .family = sys.AF_UNSPEC, .flags = 0, .port = 0 };
    const hints_code = check_hints(hints, service, &wanted);
    if (hints_code != 0) return hints_code;
    var again = false;
    const synthetic = tunnel_address(name, id, .getaddrinfo, &again) orelse
        return if (again) sys.EAI_AGAIN else sys.EAI_NONAME;
    // An IPv6 caller gets the v4-mapped form: connect() recognises both.
    const family = if (wanted.family == sys.AF_INET6) sys.AF_INET6 else sys.AF_INET;
    const address: contact.Address = .{
        .family = synthetic.family,
        .ip = synthetic.ip,
        .port = wanted.port,
    };
    out.* = allocate(name, family, address, wanted.flags) orelse return sys.EAI_MEMORY;
    return 0;
}

/// Checks the hints and reads the service into wanted; 0, or an EAI_* code when they
/// cannot be served.
fn check_hints(hints: ?*const sys.addrinfo, service: ?[*:0]const u8, wanted: *Wanted) c_int {
    if (hints) |h| {
        wanted.family = h.family;
        wanted.flags = h.flags;
        const inet = h.family == sys.AF_INET or h.family == sys.AF_INET6;
        const family_ok = inet or h.family == sys.AF_UNSPEC;
        if (!family_ok) return sys.EAI_FAMILY;
        if (h.socktype != 0 and h.socktype != sys.SOCK_STREAM) return sys.EAI_SOCKTYPE;
        if (h.protocol != 0 and h.protocol != sys.IPPROTO_TCP) return sys.EAI_SOCKTYPE;
    }
    const text = std.mem.span(service orelse return 0);
    if (text.len == 0) return 0;
    if (std.ascii.isDigit(text[0])) {
        wanted.port = std.fmt.parseUnsigned(u16, text, 10) catch return sys.EAI_SERVICE;
        return 0;
    }
    if (wanted.flags & sys.AI_NUMERICSERV != 0) return sys.EAI_NONAME;
    var entry: sys.servent = undefined;
    var found: ?*sys.servent = null;
    var buffer: [1024]u8 = undefined;
    const rc = sys.getservbyname_r(service.?, "tcp", &entry, &buffer, buffer.len, &found);
    const service_entry = found orelse return sys.EAI_SERVICE;
    if (rc != 0) return sys.EAI_SERVICE;
    wanted.port = std.mem.bigToNative(u16, @truncate(@as(c_uint, @bitCast(service_entry.port))));
    return 0;
}

/// One result node as glibc makes it: the addrinfo and its address in one malloc, the
/// canonical name in another, so that glibc's freeaddrinfo frees it.
fn allocate(name: []const u8, family: c_int, address: contact.Address, flags: c_int) ?*sys.addrinfo {
    var storage: sys.sockaddr_storage = undefined;
    const len = address.to_sockaddr(family, &storage) orelse unreachable;
    const memory = sys.malloc(@sizeOf(sys.addrinfo) + len) orelse return null;
    const info: *sys.addrinfo = @ptrCast(@alignCast(memory));
    const address_bytes: [*]u8 = @as([*]u8, @ptrCast(memory)) + @sizeOf(sys.addrinfo);
    @memcpy(address_bytes[0..len], std.mem.asBytes(&storage)[0..len]);
    info.* = .{
        .flags = flags,
        .family = family,
        .socktype = sys.SOCK_STREAM,
        .protocol = sys.IPPROTO_TCP,
        .addrlen = len,
        .addr = @ptrCast(@alignCast(address_bytes)),
        .canonname = null,
        .next = null,
    };
    if (flags & sys.AI_CANONNAME == 0) return info;
    const trimmed = names.trim_name(name) orelse name;
    const canonical = sys.malloc(trimmed.len + 1) orelse {
        sys.free(memory);
        return null;
    };
    const bytes: [*]u8 = @ptrCast(canonical);
    @memcpy(bytes[0..trimmed.len], trimmed);
    bytes[trimmed.len] = 0;
    info.canonname = @ptrCast(bytes);
    return info;
}

// gethostbyname(3) and gethostbyname2(3) answer in static storage, as libc's do (not
// thread-safe by their contract); gethostbyname_r(3) in the caller's buffer.
const host_buffer_bytes = 512;
var static_host: sys.hostent = undefined;
var static_buffer: [host_buffer_bytes]u8 align(8) = undefined;

export fn gethostbyname(node: ?[*:0]const u8) callconv(.c) ?*sys.hostent {
    init.ensure();
    const real_gethostbyname = real.functions.gethostbyname orelse return no_host(sys.NO_RECOVERY);
    const name_z = node orelse return real_gethostbyname(node);
    const name = std.mem.span(name_z);
    switch (decide(name)) {
        .pass => return real_gethostbyname(node),
        .tunnel => |id| return static_answer(name, &id, sys.AF_INET),
    }
}

export fn gethostbyname2(node: ?[*:0]const u8, family: c_int) callconv(.c) ?*sys.hostent {
    init.ensure();
    const real_gethostbyname2 = real.functions.gethostbyname2 orelse
        return no_host(sys.NO_RECOVERY);
    const name_z = node orelse return real_gethostbyname2(node, family);
    const name = std.mem.span(name_z);
    switch (decide(name)) {
        .pass => return real_gethostbyname2(node, family),
        .tunnel => |id| return static_answer(name, &id, family),
    }
}

fn no_host(code: c_int) ?*sys.hostent {
    sys.__h_errno_location().* = code;
    return null;
}

fn static_answer(name: []const u8, id: *const names.TunnelId, family: c_int) ?*sys.hostent {
    var code: c_int = 0;
    if (host_answer(name, id, family, &static_host, &static_buffer, &code)) return &static_host;
    return no_host(code);
}

export fn gethostbyname_r(
    node: ?[*:0]const u8,
    entry: ?*sys.hostent,
    buffer: ?[*]u8,
    buffer_len: usize,
    result: ?*?*sys.hostent,
    h_errno: ?*c_int,
) callconv(.c) c_int {
    init.ensure();
    const real_gethostbyname_r = real.functions.gethostbyname_r orelse return sys.ENOSYS;
    const no_output = entry == null or buffer == null or result == null or h_errno == null;
    const pass = node == null or no_output;
    if (pass) return real_gethostbyname_r(node, entry, buffer, buffer_len, result, h_errno);
    const name = std.mem.span(node.?);
    switch (decide(name)) {
        .pass => return real_gethostbyname_r(node, entry, buffer, buffer_len, result, h_errno),
        .tunnel => |id| {
            result.?.* = null;
            var code: c_int = 0;
            if (host_answer(name, &id, sys.AF_INET, entry.?, buffer.?[0..buffer_len], &code)) {
                result.?.* = entry.?;
                return 0;
            }
            h_errno.?.* = code;
            if (code == sys.NETDB_INTERNAL) return sys.ERANGE;
            if (code == sys.TRY_AGAIN) return sys.EAGAIN;
            return 0; // Not found: glibc returns 0 with a null result.
        },
    }
}

/// Fills a hostent for a tunnel name into buffer; false with an h_errno code otherwise.
fn host_answer(
    name: []const u8,
    id: *const names.TunnelId,
    family: c_int,
    entry: *sys.hostent,
    buffer: []u8,
    code: *c_int,
) bool {
    var again = false;
    const synthetic = tunnel_address(name, id, .gethostbyname, &again) orelse {
        code.* = if (again) sys.TRY_AGAIN else sys.HOST_NOT_FOUND;
        return false;
    };
    // gethostbyname2(AF_INET6) gets the v4-mapped form, as getaddrinfo gives it.
    var address = synthetic;
    if (family == sys.AF_INET6) {
        var storage: sys.sockaddr_storage = undefined;
        const len = synthetic.to_sockaddr(sys.AF_INET6, &storage) orelse unreachable;
        address = contact.Address.from_sockaddr(&storage, len) orelse unreachable;
    } else if (family != sys.AF_INET) {
        code.* = sys.NO_DATA;
        return false;
    }
    const trimmed = names.trim_name(name) orelse name;
    if (!fill_hostent(entry, buffer, trimmed, address)) {
        code.* = sys.NETDB_INTERNAL;
        sys.set_errno(sys.ERANGE);
        return false;
    }
    return true;
}

/// Lays out [address list (2 pointers), aliases (1 pointer), address, name] in buffer.
fn fill_hostent(
    entry: *sys.hostent,
    buffer: []u8,
    name: []const u8,
    address: contact.Address,
) bool {
    const pointer_size = @sizeOf(usize);
    const start = std.mem.alignForward(
        usize,
        @intFromPtr(buffer.ptr),
        pointer_size,
    ) - @intFromPtr(buffer.ptr);
    const address_len: usize = if (address.family == sys.AF_INET) 4 else 16;
    const needed = start + 3 * pointer_size + address_len + name.len + 1;
    if (buffer.len < needed) return false;
    const lists: [*]?*anyopaque = @ptrCast(@alignCast(buffer.ptr + start));
    const address_bytes = buffer[start + 3 * pointer_size ..][0..address_len];
    const name_bytes = buffer[start + 3 * pointer_size + address_len ..][0 .. name.len + 1];
    @memcpy(address_bytes, address.ip[0..address_len]);
    @memcpy(name_bytes[0..name.len], name);
    name_bytes[name.len] = 0;
    lists[0] = address_bytes.ptr;
    lists[1] = null;
    lists[2] = null;
    entry.* = .{
        .name = @ptrCast(name_bytes.ptr),
        .aliases = @ptrCast(lists + 2),
        .addrtype = address.family,
        .length = @intCast(address_len),
        .addr_list = @ptrCast(lists),
    };
    return true;
}
