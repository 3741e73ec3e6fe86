//! Name resolution hooks: getaddrinfo, freeaddrinfo, gethostbyname, gethostbyname2,
//! gethostbyname_r.
//!
//! `globus.<tunnel id>`, the names of GLOBUS_STREAMS_HOSTS, and the host of the tunnel's
//! listener contact when it is a name, resolve to the tunnel's access point (the address
//! of connector_contact_string) with the port the program asked for. connect() then
//! recognises that address and port (cache.match_fake) and takes it into the tunnel.
//! Every other name goes to libc untouched. Only TCP results are given (SOCK_STREAM).

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const real = @import("real.zig");
const init = @import("init.zig");
const log = @import("log.zig");
const conf = @import("conf.zig");
const names = @import("names.zig");
const contact = @import("contact.zig");
const answer = @import("answer.zig");
const cache = @import("cache.zig");
const allocations = @import("allocations.zig");

/// One getaddrinfo() result: the list node, its address and its canonical name.
const Block = extern struct {
    info: sys.addrinfo,
    address: sys.sockaddr_storage,
    canonical: [names.host_name_bytes_max + 1]u8,
};

const Decision = union(enum) {
    pass,
    tunnel: names.TunnelId,
};

/// Pass the name to libc, or answer it from a tunnel. Numeric hosts always pass.
fn decide(name: []const u8, hook: log.Hook) Decision {
    if (contact.Address.from_text(name, 0) != null) return .pass;
    if (names.globus_name(name)) |id| return .{ .tunnel = id };
    const id = conf.global.tunnel orelse return .pass;
    if (conf.global.hosts.contains(name)) return .{ .tunnel = id };
    if (names.trim_name(name) == null) return .pass;
    // The listener contact may name a host the initiating side cannot resolve.
    var found: answer.Answer = undefined;
    if (fetch(&id, &found, hook, name)) |_| return .pass;
    const listener = found.listener orelse return .pass;
    if (found.listener_address != null) return .pass;
    if (names.same_host(name, listener.host_text())) return .{ .tunnel = id };
    return .pass;
}

/// The tunnel's answer, logging one line when there is none.
pub fn fetch(
    id: *const names.TunnelId,
    out: *answer.Answer,
    hook: log.Hook,
    what: []const u8,
) ?cache.Problem {
    const wait_ms = conf.global.lookup_timeout_ms + 2000;
    const problem = cache.get(id, out, wait_ms) orelse return null;
    var buffer: [256]u8 = undefined;
    log.line(
        hook,
        "{s}: no answer for tunnel {s}: {s}",
        .{ what, &id.text, problem.describe(&buffer) },
    );
    return problem;
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
    switch (decide(name, .getaddrinfo)) {
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
    var found: answer.Answer = undefined;
    if (fetch(id, &found, .getaddrinfo, name)) |problem| {
        const again = problem.kind == .timeout or problem.kind == .busy;
        return if (again) sys.EAI_AGAIN else sys.EAI_NONAME;
    }
    const access_point = found.connector.unmapped();
    var family = access_point.family;
    if (wanted.family != sys.AF_UNSPEC and wanted.family != family) {
        const mapped = wanted.family == sys.AF_INET6 and wanted.flags & sys.AI_V4MAPPED != 0;
        if (!mapped) {
            log.line(
                .getaddrinfo,
                "{s}: the access point of tunnel {s} has no address of the family asked for",
                .{ name, &id.text },
            );
            return sys.EAI_ADDRFAMILY;
        }
        family = sys.AF_INET6;
    }
    cache.record_port(id, wanted.port);
    const block = allocate(
        name,
        family,
        .{ .family = access_point.family, .ip = access_point.ip, .port = wanted.port },
        wanted.flags,
    ) orelse {
        log.line(
            .getaddrinfo,
            "{s}: out of result slots ({d} lists not freed)",
            .{ name, allocations.allocations_max },
        );
        return sys.EAI_MEMORY;
    };
    out.* = &block.info;
    var text: [contact.address_text_bytes_max]u8 = undefined;
    log.line(
        .getaddrinfo,
        "{s} -> {s} (tunnel {s}, fake port {d})",
        .{ name, access_point.format(&text), &id.text, found.fake_port },
    );
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

fn allocate(name: []const u8, family: c_int, address: contact.Address, flags: c_int) ?*Block {
    const memory = sys.malloc(@sizeOf(Block)) orelse return null;
    const block: *Block = @ptrCast(@alignCast(memory));
    block.* = std.mem.zeroes(Block);
    const len = address.to_sockaddr(family, &block.address) orelse unreachable;
    block.info = .{
        .flags = flags,
        .family = family,
        .socktype = sys.SOCK_STREAM,
        .protocol = sys.IPPROTO_TCP,
        .addrlen = len,
        .addr = @ptrCast(&block.address),
        .canonname = null,
        .next = null,
    };
    if (flags & sys.AI_CANONNAME != 0) {
        const trimmed = names.trim_name(name) orelse name;
        assert(trimmed.len < block.canonical.len);
        @memcpy(block.canonical[0..trimmed.len], trimmed);
        block.canonical[trimmed.len] = 0;
        block.info.canonname = @ptrCast(&block.canonical);
    }
    allocations.lock.lock();
    defer allocations.lock.unlock();
    allocations.global.add(block) catch {
        sys.free(block);
        return null;
    };
    return block;
}

export fn freeaddrinfo(list: ?*sys.addrinfo) callconv(.c) void {
    init.ensure();
    // Our results are single nodes, but a program may have chained lists together: free
    // our nodes at the head and hand the first foreign one, with the rest, to libc.
    var node = list;
    var freed: u32 = 0;
    while (node) |head| : (freed += 1) {
        if (freed > allocations.allocations_max) break;
        allocations.lock.lock();
        const ours = allocations.global.remove(head);
        allocations.lock.unlock();
        if (!ours) break;
        node = head.next;
        sys.free(head);
    }
    const rest = node orelse return;
    const real_freeaddrinfo = real.functions.freeaddrinfo orelse return;
    real_freeaddrinfo(rest);
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
    switch (decide(name, .gethostbyname)) {
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
    switch (decide(name, .gethostbyname)) {
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
    switch (decide(name, .gethostbyname)) {
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
    var found: answer.Answer = undefined;
    if (fetch(id, &found, .gethostbyname, name)) |problem| {
        const again = problem.kind == .timeout or problem.kind == .busy;
        code.* = if (again) sys.TRY_AGAIN else sys.HOST_NOT_FOUND;
        return false;
    }
    const access_point = found.connector.unmapped();
    if (access_point.family != family) {
        code.* = sys.NO_DATA;
        return false;
    }
    const trimmed = names.trim_name(name) orelse name;
    if (!fill_hostent(entry, buffer, trimmed, access_point)) {
        code.* = sys.NETDB_INTERNAL;
        sys.set_errno(sys.ERANGE);
        return false;
    }
    var text: [contact.address_text_bytes_max]u8 = undefined;
    log.line(
        .gethostbyname,
        "{s} -> {s} (tunnel {s})",
        .{ name, access_point.format(&text), &id.text },
    );
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
