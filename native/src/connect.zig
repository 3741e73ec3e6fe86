//! The initiating side's hooks: connect(), and sendto()/sendmsg() with MSG_FASTOPEN
//! (TCP Fast Open, which connects and sends in one call).
//!
//! A TCP connection goes into a tunnel when its destination is
//!   - an address of the pool (pool.zig), on any port: what getaddrinfo() handed out for
//!     globus.<id>, a GLOBUS_STREAMS_HOSTS name or the listener contact's host name. A
//!     pool address this process never handed out fails (EHOSTUNREACH): it never
//!     passes through;
//!   - with GLOBUS_STREAMS_TUNNEL, that tunnel's listener contact (curl https://real.host);
//!   - with GLOBUS_STREAMS_ALL, anything but the access point itself.
//! "Into the tunnel" means: connect to the access point's real contact instead and, when
//! the tunnel has a LAN secret, run GSA1 as responder before connect() returns.
//!
//! Blocking and non-blocking sockets are treated alike: the socket is made non-blocking,
//! connected and handshaken with poll() waits bounded by GLOBUS_STREAMS_HANDSHAKE_TIMEOUT,
//! its flags restored, and connect() returns 0 (or -1 with ECONNREFUSED, ETIMEDOUT, or
//! the connect error). A non-blocking caller therefore never sees EINPROGRESS for a
//! tunnelled connection; curl, libuv, Python and Java all take an immediate 0.
//! When the socket's family cannot reach the access point (AF_INET socket, IPv6 access
//! point; or IPV6_V6ONLY with an IPv4 one) a fresh socket of the right family is put in
//! its place with dup2(); options set on the old one are lost.
//! UDP and AF_UNIX pass through: the tunnel carries TCP only.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const real = @import("real.zig");
const init = @import("init.zig");
const log = @import("log.zig");
const names = @import("names.zig");
const contact = @import("contact.zig");
const answer = @import("answer.zig");
const handshake = @import("handshake.zig");
const conf = @import("environment.zig");
const route = @import("route.zig");
const pool = @import("pool.zig");

const Reason = route.Reason;

export fn connect(fd: c_int, addr: ?*const sys.sockaddr, len: sys.socklen_t) callconv(.c) c_int {
    init.ensure();
    const real_connect = real.functions.connect orelse {
        sys.set_errno(sys.ENOSYS);
        return -1;
    };
    const raw = addr orelse return real_connect(fd, addr, len);
    const destination = contact.Address.from_sockaddr(raw, len) orelse {
        if (conf.global.tunnel != null and raw.family == sys.AF_UNIX) {
            log.line(
                .connect,
                "fd {d}: AF_UNIX passes through (only TCP goes into a tunnel)",
                .{fd},
            );
        }
        return real_connect(fd, addr, len);
    };
    switch (decide(fd, destination)) {
        .pass => return real_connect(fd, addr, len),
        .fail => |code| return fail(code),
        .tunnel => |tunnel| return into_tunnel(
            real_connect,
            fd,
            destination,
            &tunnel.id,
            tunnel.reason,
        ),
    }
}

export fn sendto(
    fd: c_int,
    buffer: ?*const anyopaque,
    len: usize,
    flags: c_int,
    addr: ?*const sys.sockaddr,
    addr_len: sys.socklen_t,
) callconv(.c) isize {
    init.ensure();
    const real_sendto = real.functions.sendto orelse return fail_size(sys.ENOSYS);
    // Everything but a Fast Open connect is a plain send: one test, nothing more.
    if (flags & sys.MSG_FASTOPEN == 0 or addr == null) {
        return real_sendto(fd, buffer, len, flags, addr, addr_len);
    }
    switch (fast_open(fd, addr.?, addr_len)) {
        .pass => return real_sendto(fd, buffer, len, flags, addr, addr_len),
        .failed => return -1,
        .connected => return real_sendto(fd, buffer, len, flags & ~sys.MSG_FASTOPEN, null, 0),
    }
}

export fn sendmsg(fd: c_int, message: ?*const sys.msghdr, flags: c_int) callconv(.c) isize {
    init.ensure();
    const real_sendmsg = real.functions.sendmsg orelse return fail_size(sys.ENOSYS);
    const header = message orelse return real_sendmsg(fd, message, flags);
    if (flags & sys.MSG_FASTOPEN == 0 or header.name == null) {
        return real_sendmsg(fd, message, flags);
    }
    const name: *const sys.sockaddr = @ptrCast(@alignCast(header.name.?));
    switch (fast_open(fd, name, header.namelen)) {
        .pass => return real_sendmsg(fd, message, flags),
        .failed => return -1,
        .connected => {
            var connected = header.*;
            connected.name = null;
            connected.namelen = 0;
            return real_sendmsg(fd, &connected, flags & ~sys.MSG_FASTOPEN);
        },
    }
}

const FastOpen = enum { pass, failed, connected };

/// A Fast Open send to addr: routed as connect() is. When it goes into the tunnel the
/// socket is connected (GSA1 included) and the data is then sent as a plain send.
fn fast_open(fd: c_int, addr: *const sys.sockaddr, len: sys.socklen_t) FastOpen {
    const real_connect = real.functions.connect orelse {
        sys.set_errno(sys.ENOSYS);
        return .failed;
    };
    const destination = contact.Address.from_sockaddr(addr, len) orelse return .pass;
    switch (decide(fd, destination)) {
        .pass => return .pass,
        .fail => |code| {
            sys.set_errno(code);
            return .failed;
        },
        .tunnel => |tunnel| {
            const rc = into_tunnel(real_connect, fd, destination, &tunnel.id, tunnel.reason);
            return if (rc == 0) .connected else .failed;
        },
    }
}

fn fail(code: c_int) c_int {
    sys.set_errno(code);
    return -1;
}

fn fail_size(code: c_int) isize {
    sys.set_errno(code);
    return -1;
}

fn is_connected(fd: c_int) bool {
    var storage: sys.sockaddr_storage = undefined;
    var len: sys.socklen_t = @sizeOf(sys.sockaddr_storage);
    return sys.getpeername(fd, &storage, &len) == 0;
}

fn decide(fd: c_int, destination: contact.Address) route.Route {
    const in_pool = pool.contains(destination);
    if (!in_pool and conf.global.tunnel == null) return .pass;
    // Checked before any lookup: UDP (a resolver's connect, say) never needs one.
    var kind: c_int = 0;
    var kind_len: sys.socklen_t = @sizeOf(c_int);
    const rc = sys.getsockopt(fd, sys.SOL_SOCKET, sys.SO_TYPE, &kind, &kind_len);
    if (rc == 0 and kind != sys.SOCK_STREAM) {
        var text: [contact.address_text_bytes_max]u8 = undefined;
        log.line(
            .connect,
            "fd {d} to {s}: not TCP, passes through (only TCP goes into a tunnel)",
            .{ fd, destination.format(&text) },
        );
        return .pass;
    }
    const decided = route.route_destination(destination);
    if (decided == .tunnel and is_connected(fd)) {
        // A second connect() on a socket already in the tunnel: libc's answer (EISCONN),
        // never a second handshake over the program's stream.
        return .pass;
    }
    if (decided == .fail and in_pool) {
        var text: [contact.address_text_bytes_max]u8 = undefined;
        log.line(.connect, "fd {d} to {s}: no tunnel has that address in this process", .{
            fd, destination.format(&text),
        });
    }
    return decided;
}

fn into_tunnel(
    real_connect: real.Connect,
    fd: c_int,
    destination: contact.Address,
    id: *const names.TunnelId,
    reason: Reason,
) c_int {
    var found: answer.Answer = undefined;
    var from: [contact.address_text_bytes_max + 64]u8 = undefined;
    const origin = describe(&from, destination, id, reason);
    if (route.fetch(id, &found, .connect, origin)) |problem| {
        sys.set_errno(if (problem.kind == .timeout) sys.ETIMEDOUT else sys.ECONNREFUSED);
        return -1;
    }
    const deadline_ms = sys.now_ms() + conf.global.handshake_timeout_ms;
    const access_point = found.connector;
    const family = fit_socket(fd, destination.family, access_point) orelse {
        log.line(.connect, "{s}: cannot make a socket for the access point", .{origin});
        sys.set_errno(sys.EAFNOSUPPORT);
        return -1;
    };
    const flags = sys.fcntl(fd, sys.F_GETFL);
    if (flags < 0) return -1;
    if (flags & sys.O_NONBLOCK == 0) _ = sys.fcntl(fd, sys.F_SETFL, flags | sys.O_NONBLOCK);
    const failure = connect_and_prove(real_connect, fd, family, &found, id, deadline_ms);
    if (flags & sys.O_NONBLOCK == 0) _ = sys.fcntl(fd, sys.F_SETFL, flags);
    var to: [contact.address_text_bytes_max]u8 = undefined;
    const target = access_point.format(&to);
    if (failure) |why| {
        log.line(.connect, "{s} -> {s} (tunnel {s}): {s}", .{ origin, target, &id.text, why.text });
        sys.set_errno(why.errno);
        return -1;
    }
    const proof = if (found.secret() == null) "no LAN secret, plain TCP" else "gsa1 ok";
    log.line(.connect, "{s} -> {s} (tunnel {s}, {s})", .{ origin, target, &id.text, proof });
    return 0;
}

const Failure = struct { errno: c_int, text: []const u8 };

/// Connects fd (non-blocking) to the access point and runs GSA1 when there is a secret.
fn connect_and_prove(
    real_connect: real.Connect,
    fd: c_int,
    family: c_int,
    found: *const answer.Answer,
    id: *const names.TunnelId,
    deadline_ms: u64,
) ?Failure {
    var storage: sys.sockaddr_storage = undefined;
    const len = found.connector.to_sockaddr(family, &storage) orelse unreachable;
    const rc = real_connect(fd, @ptrCast(&storage), len);
    if (rc != 0) {
        const err = sys.errno();
        const cannot_reach = "cannot reach the access point";
        const pending = err == sys.EINPROGRESS or err == sys.EINTR;
        if (!pending) return .{ .errno = err, .text = cannot_reach };
        if (handshake.wait(fd, sys.POLLOUT, deadline_ms)) |outcome| {
            const timed_out = outcome == .timeout;
            const text = if (timed_out) "timed out reaching the access point" else cannot_reach;
            return .{ .errno = outcome.errno(), .text = text };
        }
        var so_error: c_int = 0;
        var so_len: sys.socklen_t = @sizeOf(c_int);
        const level = sys.SOL_SOCKET;
        const got = sys.getsockopt(fd, level, sys.SO_ERROR, &so_error, &so_len);
        if (got != 0) so_error = sys.ECONNREFUSED;
        if (so_error != 0) return .{ .errno = so_error, .text = cannot_reach };
    }
    const secret = found.secret() orelse return null;
    const result = handshake.respond(fd, secret, &id.bytes, &found.lankey_id, deadline_ms);
    if (result.outcome == .ok) return null;
    _ = sys.shutdown(fd, sys.SHUT_RDWR);
    return .{ .errno = result.outcome.errno(), .text = result.text() };
}

/// The family to connect fd with, replacing the socket when its family cannot reach the
/// access point. Null when no socket could be made.
fn fit_socket(fd: c_int, destination_family: c_int, access_point: contact.Address) ?c_int {
    const family = socket_family(fd) orelse destination_family;
    if (family != sys.AF_INET and family != sys.AF_INET6) return null;
    const ap_family = access_point.unmapped().family;
    if (family == ap_family) return family;
    if (family == sys.AF_INET6 and ap_family == sys.AF_INET and !v6_only(fd)) return family;
    if (!replace_socket(fd, ap_family)) return null;
    return ap_family;
}

fn socket_family(fd: c_int) ?c_int {
    var storage: sys.sockaddr_storage = undefined;
    var len: sys.socklen_t = @sizeOf(sys.sockaddr_storage);
    if (sys.getsockname(fd, &storage, &len) != 0) return null;
    return storage.family;
}

fn v6_only(fd: c_int) bool {
    var value: c_int = 0;
    var len: sys.socklen_t = @sizeOf(c_int);
    if (sys.getsockopt(fd, sys.IPPROTO_IPV6, sys.IPV6_V6ONLY, &value, &len) != 0) return false;
    return value != 0;
}

/// Puts a new TCP socket of family at fd, keeping close-on-exec and the status flags.
fn replace_socket(fd: c_int, family: c_int) bool {
    const fd_flags = sys.fcntl(fd, sys.F_GETFD);
    const status_flags = sys.fcntl(fd, sys.F_GETFL);
    if (fd_flags < 0 or status_flags < 0) return false;
    const fresh = sys.socket(family, sys.SOCK_STREAM | sys.SOCK_CLOEXEC, 0);
    if (fresh < 0) return false;
    defer _ = sys.close(fresh);
    if (sys.dup2(fresh, fd) != fd) return false;
    _ = sys.fcntl(fd, sys.F_SETFD, fd_flags);
    _ = sys.fcntl(fd, sys.F_SETFL, status_flags);
    log.line(.connect, "fd {d}: replaced by a new socket of the access point's family", .{fd});
    return true;
}

fn describe(
    buffer: []u8,
    destination: contact.Address,
    id: *const names.TunnelId,
    reason: Reason,
) []const u8 {
    var text: [contact.address_text_bytes_max]u8 = undefined;
    return switch (reason) {
        .name => std.fmt.bufPrint(
            buffer,
            "globus.{s}:{d}",
            .{ id.text[0..8], destination.port },
        ) catch "?",
        .listener, .all => std.fmt.bufPrint(buffer, "{s}", .{destination.format(&text)}) catch "?",
    };
}
